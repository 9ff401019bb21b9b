// Step 4 of marketingEnrichment: the run's customers with their messages, as XLSX and CSV, in every
// destination asked for. File names come from the run's start time, so a retried export rewrites the same files.
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { EnrichmentOptions } from '../../lib/contracts/marketing-enrichment';
import { zonedTime } from '../../lib/workflow/zoned-time';
import { writeCsv, writeXlsx, type MessageRow, type QuarantinedRow, type RunSummary } from './marketing-files';
import { publishToFolder, publishToS3, publishToSftp } from '../shared/publish-file';
import type { MarketingDeps, RunRef } from './stage-customers';
import { reportProgress } from '../../lib/activity/heartbeat';
import { folderUnderRoot } from '../../lib/io/export-root';

export interface ExportRequest extends RunRef {
  campaign: string;
  promptVersion: string;
  /** The workflow's start time (ISO); names the files. */
  startedAt: string;
  outputs: EnrichmentOptions['outputs'];
  summary: RunSummary[];
}

export interface ExportedFiles {
  files: string[];
  rows: number;
}

export async function exportResults(deps: MarketingDeps, request: ExportRequest): Promise<ExportedFiles> {
  const { settings } = deps;
  const rows = await messageRows(deps, request);
  const quarantined = await quarantinedRows(deps, request);
  // Checked before anything is written: a link inside the root pointing out fails the run here.
  const folder = folderUnderRoot(settings.exportDir, request.outputs.folder ?? 'marketing', 'input.outputs.folder');
  const base = `marketing_${request.campaign}_${localStamp(request.startedAt, settings.timezone)}`;
  const workDir = path.join(settings.dataDir, 'tmp', `${base}-${request.runId.slice(0, 8)}`);
  mkdirSync(workDir, { recursive: true });
  try {
    const xlsx = path.join(workDir, `${base}.xlsx`);
    const csv = path.join(workDir, `${base}.csv`);
    await writeXlsx(xlsx, rows, quarantined, request.summary);
    await writeCsv(csv, rows);
    reportProgress({ written: [xlsx, csv] });
    const files: string[] = [];
    for (const file of [xlsx, csv]) files.push(publishToFolder(file, folder));
    if (request.outputs.s3Prefix) for (const file of [xlsx, csv]) files.push(await publishToS3(settings.s3, file, request.outputs.s3Prefix));
    if (request.outputs.sftpFolder) for (const file of [xlsx, csv]) files.push(await publishToSftp(settings.sftp, file, request.outputs.sftpFolder));
    return { files, rows: rows.length };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** `2026-11-22_14-05-09` in the pipelines' time zone. */
function localStamp(iso: string, timeZone: string): string {
  const t = zonedTime(new Date(iso), timeZone);
  return `${t.year}-${t.month}-${t.day}_${t.hour}-${t.minute}-${t.second}`;
}

async function messageRows(deps: MarketingDeps, request: ExportRequest): Promise<MessageRow[]> {
  const { rows } = await deps.target.query<MessageRow>(
    `SELECT c.customer_id, c.name, c.email, c.city, c.state, c.interest, c.signup_date::text AS signup_date,
            m.status, m.message, m.word_count, m.failure_reason, m.provider, m.model,
            to_char(m.created_at AT TIME ZONE $4, 'YYYY-MM-DD"T"HH24:MI:SS') AS created_local
       FROM marketing_run_customers rc
       JOIN marketing_customers c USING (customer_id)
       LEFT JOIN marketing_messages m ON m.customer_id = rc.customer_id AND m.campaign = $2 AND m.prompt_version = $3
      WHERE rc.workflow_id = $1
      ORDER BY rc.line`,
    [request.workflowId, request.campaign, request.promptVersion, deps.settings.timezone]);
  return rows;
}

async function quarantinedRows(deps: MarketingDeps, request: ExportRequest): Promise<QuarantinedRow[]> {
  const { rows } = await deps.target.query<QuarantinedRow>(
    `SELECT reason, row_data FROM etl_quarantine
      WHERE pipeline = 'marketingEnrichment' AND workflow_id = $1 AND run_id = $2 ORDER BY id`,
    [request.workflowId, request.runId]);
  return rows;
}
