// `etl health` as a monitoring probe runs it: per pipeline, the workers polling its task queues and their backlog, its
// schedule (paused, last action failed), its last success, its failures in the last 24 h from Temporal and etl_control,
// and incrementalSync's tables; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. In a namespace of this file's own.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Client } from '@temporalio/client';
import { tableChecks } from '../../cli/commands/health';
import { loadConfig } from '../../lib/config/env';
import { findPipeline } from '../../lib/pipelines';
import { registerMissingSearchAttributes } from '../../lib/stack/temporal';
import { startWorkers, type RunningWorkers } from '../../workers';
import { etl } from '../helpers/cli';
import { newNamespace, openTestContext, settings, uniqueId, workflowBundle, type TestContext } from '../helpers/env';

interface HealthReport {
  healthy: boolean;
  status: string;
  checks: { name: string; ok: boolean; detail: string; required: boolean; pipeline?: string }[];
  pipelines: {
    pipeline: string;
    status: string;
    lastSuccess?: { workflowId: string };
    failedLast24h: { temporal: number; etlControl: number };
    schedule?: { state: string; note?: string; lastAction?: { status: string } };
    queues: { taskQueue: string; workflowPollers: number; activityPollers: number; backlog: number }[];
    tables?: { sourceTable: string; lastSuccessAt: string | null; failedLast24h: number; watermark: string | null }[];
  }[];
}

describe('etl health', () => {
  let ctx: TestContext;
  let client: Client;
  let env: NodeJS.ProcessEnv;
  let dataDir: string;
  let namespace: string;
  let workers: RunningWorkers | undefined;
  const table = `public.${uniqueId('health').replace('-', '_')}`;

  beforeAll(async () => {
    ctx = await openTestContext('health', { worker: false });
    namespace = await newNamespace(ctx.client, 'health');
    await registerMissingSearchAttributes(settings.temporal.address, namespace);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'etl-health-'));
    env = { TEMPORAL_NAMESPACE: namespace, ETL_DATA_DIR: dataDir };
    client = new Client({ connection: ctx.client.connection, namespace, dataConverter: ctx.client.options.dataConverter });
  });
  afterAll(async () => {
    await workers?.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
    await ctx.target.query('DELETE FROM etl_control WHERE source_table = $1', [table]);
    await ctx?.close();
  });

  const health = async () => {
    const result = await etl(['health', '--json'], env);
    return { ...result, report: result.json as HealthReport };
  };
  const pipelineOf = (report: HealthReport, name: string) => report.pipelines.find((p) => p.pipeline === name)!;
  const checkOf = (report: HealthReport, name: string) => report.checks.find((c) => c.name === name)!;

  it('no worker polling is CRITICAL (exit 2), and a run waiting for one shows as backlog; schedules not applied are warnings', async () => {
    await client.workflow.start('incrementalSync', { taskQueue: 'etl-incremental-sync', workflowId: 'health-waiting', args: [{ sourceTable: table }] });
    const { code, report } = await health();
    assert.equal(code, 2);
    assert.equal(report.status, 'critical');
    const worker = checkOf(report, 'worker etl-incremental-sync');
    assert.deepEqual([worker.ok, worker.required], [false, true]);
    assert.match(worker.detail, /no worker is polling task queue etl-incremental-sync: start one with `npx etl worker`/);
    const sync = pipelineOf(report, 'incremental-sync');
    assert.equal(sync.status, 'critical');
    assert.deepEqual(sync.queues.map((q) => [q.taskQueue, q.workflowPollers, q.backlog]), [['etl-incremental-sync', 0, 1]]);
    assert.deepEqual(pipelineOf(report, 'marketing-enrichment').queues.map((q) => q.taskQueue),
      ['etl-marketing-enrichment', 'etl-marketing-enrichment-gemini'], 'the throttled Gemini queue too');
    const schedule = checkOf(report, 'schedule incremental-sync-daily');
    assert.deepEqual([schedule.ok, schedule.required, schedule.detail], [false, false, 'not on the server: run `npx etl schedules apply`']);
  });

  it('with workers: each paused schedule is a WARNING saying why (exit 1); the failed run is counted; the last success is named', async () => {
    workers = await startWorkers({ ...settings, temporal: { ...settings.temporal, namespace } }, { workflowBundle, tuning: { shutdownGraceTime: '1s' } });
    // The waiting run now runs: its table does not exist on the source, so it fails.
    await assert.rejects(client.workflow.getHandle('health-waiting').result());
    assert.equal((await etl(['schedules', 'apply'], env)).code, 0);
    const { code, report } = await health();
    assert.equal(code, 1, JSON.stringify(report.checks.filter((c) => !c.ok)));
    assert.equal(report.status, 'warning');
    assert.equal(report.healthy, true);
    const sync = pipelineOf(report, 'incremental-sync');
    assert.ok(sync.queues[0].workflowPollers > 0);
    assert.equal(sync.schedule?.state, 'paused');
    assert.match(checkOf(report, 'schedule crm-features-daily').detail, /^paused: input not configured: set sourceTable and lakePrefix/);
    assert.equal(sync.failedLast24h.temporal, 1);
    assert.ok(sync.failedLast24h.etlControl >= 1, 'the failed run is counted in etl_control too (other files add theirs)');
    assert.match(checkOf(report, 'failures incrementalSync').detail, /^1 failed run\(s\) in 24 h; etl_control: \d+ failed$/);
    assert.equal(checkOf(report, 'last success incrementalSync').detail, 'no successful run yet');
  });

  it('a scheduled run that failed is CRITICAL, naming the run (exit 2)', async () => {
    const schedule = client.schedule.getHandle('incremental-sync-daily');
    await schedule.update((live) => ({ ...live, action: { ...live.action, args: [{ sourceTable: table }] } }));
    await schedule.trigger();
    let workflowId: string | undefined;
    for (let i = 0; i < 100 && !workflowId; i++) {
      const action = (await schedule.describe()).info.recentActions.at(-1)?.action;
      if (action?.type === 'startWorkflow') workflowId = action.workflow.workflowId;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await client.workflow.getHandle(workflowId!).result().catch(() => undefined);
    const { code, report } = await health();
    assert.equal(code, 2);
    const check = checkOf(report, 'schedule incremental-sync-daily');
    assert.deepEqual([check.ok, check.required], [false, true]);
    assert.match(check.detail, new RegExp(`^last scheduled run ${workflowId} failed`));
    assert.equal(pipelineOf(report, 'incremental-sync').schedule?.lastAction?.status, 'failed');
  });

  it('incrementalSync\'s tables from etl_control: last success and its age, the watermark, failures in 24 h', async () => {
    // A success of this table from before its source went away (the two runs above failed on it, each in etl_control).
    await ctx.target.query(
      `INSERT INTO etl_control (pipeline, workflow_id, run_id, source_table, target_table, mode, status, started_at, finished_at, watermark)
       VALUES ('incrementalSync', $2, 'r1', $1, $1, 'incremental', 'success', now() - interval '30 hours', now() - interval '30 hours', '2026-11-01T10:00:00Z')`,
      [table, uniqueId('ok')]);
    const { report } = await health();
    const row = pipelineOf(report, 'incremental-sync').tables?.find((t) => t.sourceTable === table);
    assert.equal(row?.failedLast24h, 2);
    assert.equal(row?.watermark, '2026-11-01T10:00:00.000Z');
    const check = checkOf(report, `table ${table} -> ${table}`);
    assert.equal(check.ok, false);
    // Who started the two failed runs: the client above, which sets no memo as the Web UI does, then the schedule.
    const { rows: starters } = await ctx.target.query(
      `SELECT triggered_by FROM etl_control WHERE source_table = $1 AND status = 'failed' ORDER BY started_at`, [table]);
    assert.deepEqual(starters.map((r) => r.triggered_by), ['ui', 'schedule:incremental-sync-daily']);
    assert.match(check.detail, /^last success 30 h ago, watermark 2026-11-01T10:00:00.000Z, 2 failed in 24 h$/);
  });

  it('the scheduled table with no success since the run its schedule was due for: the watermark is older than the schedule allows (CRITICAL)', async () => {
    // The schedule above syncs this table (its last success 30 h ago). A schedule made minutes ago owes no run yet, so
    // the check is handed the same schedule as if active for a week.
    const live = await client.schedule.getHandle('incremental-sync-daily').describe();
    const weekOld = { ...live, state: { ...live.state, paused: false }, info: { ...live.info, createdAt: new Date(Date.now() - 7 * 86400_000) } };
    const checks = await tableChecks(ctx.target, findPipeline('incremental-sync'), { pipeline: 'incremental-sync' } as Parameters<typeof tableChecks>[2],
      weekOld, loadConfig({}), new Date());
    const check = checks.find((c) => c.name === `table ${table} -> ${table}`)!;
    assert.deepEqual([check.ok, check.required], [false, true]);
    assert.match(check.detail, /^last success 30 h ago, .*: the watermark is older than the schedule allows \(no success since the run due at \S+\)$/);
  });

  it('a configuration it cannot read is UNKNOWN (exit 3), in one line', async () => {
    const result = await etl(['health'], { DATABASE_URL: 'localhost:5432/etl' });
    assert.equal(result.code, 3);
    assert.match(result.stderr, /^etl: invalid configuration: DATABASE_URL="localhost:5432\/etl"/);
  });
});
