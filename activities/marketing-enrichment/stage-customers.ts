// Step 1 of marketingEnrichment: read the customers file, quarantine the rows that cannot be used, and
// record in Postgres which customers this run covers. Rows move into Postgres, never through the workflow.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { withTransaction } from '../../lib/io/postgres';
import type { EnrichmentOptions, Provider } from '../../lib/contracts/marketing-enrichment';
import { createS3Client, parseS3Location } from '../../lib/io/s3';
import { DEMO_CUSTOMER_COUNT, demoCustomersFile, generateCustomers, writeCustomersCsv } from '../../lib/sample-data/marketing-enrichment';
import type { Settings } from '../../lib/config/settings';
import { checkCustomerRow, mapColumns, type ColumnMap, type Customer } from './customer-rows';
import { FileFormatError, readSheetRows } from '../../lib/io/spreadsheet-rows';
import type { RunRef } from '../../lib/contracts/run';
import { reportProgress } from '../../lib/activity/heartbeat';
import { ErrorType } from '../../lib/workflow/errors';
export type { RunRef };

export interface MarketingDeps {
  target: pg.Pool;
  settings: Settings;
}


export interface StagedCustomers {
  file: string;
  read: number;
  valid: number;
  quarantined: number;
  provider: Provider;
  promptVersion: string;
}

const PIPELINE = 'marketingEnrichment';
const CHUNK = 5000;

/** Prompt text, word limit and tone identify a prompt version; messages are kept per version. */
export const promptVersionOf = (prompt: EnrichmentOptions['prompt']): string =>
  createHash('sha256').update(JSON.stringify([prompt.template, prompt.maxWords, prompt.tone])).digest('hex').slice(0, 12);

export async function stageCustomers(deps: MarketingDeps, options: EnrichmentOptions, run: RunRef): Promise<StagedCustomers> {
  const location = options.customers ?? demoCustomers(deps.settings.dataDir);
  const local = await localCopy(deps.settings, location, run.workflowId);
  try {
    const counts = await withTransaction(deps.target, async (client) => {
      await client.query('DELETE FROM marketing_run_customers WHERE workflow_id = $1', [run.workflowId]);
      await client.query('DELETE FROM etl_quarantine WHERE pipeline = $1 AND workflow_id = $2 AND run_id = $3', [PIPELINE, run.workflowId, run.runId]);
      return readIntoPostgres(client, local.file, location, run);
    });
    return {
      file: location,
      ...counts,
      provider: deps.settings.gemini.apiKey ? 'gemini' : 'offline',
      promptVersion: promptVersionOf(options.prompt),
    };
  } finally {
    local.cleanup();
  }
}

/** `{}` runs on the demo's sample customers, written once per data folder. */
function demoCustomers(dataDir: string): string {
  const file = demoCustomersFile(dataDir);
  if (!existsSync(file)) writeCustomersCsv(file, generateCustomers({ count: DEMO_CUSTOMER_COUNT }));
  return file;
}

/** An S3 object is downloaded next to the data first; a local path is read where it is. */
async function localCopy(settings: Settings, location: string, workflowId: string): Promise<{ file: string; cleanup(): void }> {
  const s3 = parseS3Location(location, settings.s3.bucket);
  if (!s3) {
    const file = path.resolve(location);
    if (!existsSync(file)) throw ApplicationFailure.nonRetryable(`customers file not found on the worker: ${file}`, ErrorType.InvalidInput);
    return { file, cleanup: () => undefined };
  }
  const folder = path.join(settings.dataDir, 'tmp');
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, `${workflowId.replace(/[^\w.-]/g, '_')}-${path.basename(s3.key)}`);
  const client = createS3Client(settings.s3);
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: s3.key }));
    await pipeline(object.Body as Readable, createWriteStream(file));
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') {
      throw ApplicationFailure.nonRetryable(`customers file not found in S3: s3://${s3.bucket}/${s3.key}`, ErrorType.InvalidInput);
    }
    throw error;
  } finally {
    client.destroy();
  }
  return { file, cleanup: () => rmSync(file, { force: true }) };
}

async function readIntoPostgres(client: pg.PoolClient, file: string, location: string, run: RunRef) {
  const firstLine = new Map<string, number>();
  let columns: ColumnMap | undefined;
  let customers: { line: number; customer: Customer }[] = [];
  let rejected: { line: number; row: unknown; reason: string }[] = [];
  let read = 0;
  let quarantined = 0;
  const flush = async () => {
    await insertCustomers(client, run.workflowId, customers);
    await quarantine(client, location, run, rejected);
    quarantined += rejected.length;
    customers = [];
    rejected = [];
    reportProgress({ rowsRead: read });
  };
  try {
    for await (const { line, record } of readSheetRows(file)) {
      columns ??= mapColumns(Object.keys(record), location);
      read++;
      const checked = checkCustomerRow(record, columns);
      const seenOn = checked.ok ? firstLine.get(checked.customer.id) : undefined;
      if (!checked.ok) rejected.push({ line, row: record, reason: checked.reason });
      else if (seenOn !== undefined) rejected.push({ line, row: record, reason: `duplicate id ${checked.customer.id} (first on line ${seenOn})` });
      else {
        firstLine.set(checked.customer.id, line);
        customers.push({ line, customer: checked.customer });
      }
      if (customers.length + rejected.length >= CHUNK) await flush();
    }
  } catch (error) {
    if (error instanceof FileFormatError || (error as { code?: string }).code?.startsWith('CSV_')) {
      throw ApplicationFailure.nonRetryable(`customers file ${location} cannot be read: ${(error as Error).message}`, ErrorType.InvalidInput);
    }
    throw error;
  }
  if (!columns) throw ApplicationFailure.nonRetryable(`customers file ${location} has no rows`, ErrorType.InvalidInput);
  await flush();
  return { read, valid: firstLine.size, quarantined };
}

async function insertCustomers(client: pg.PoolClient, workflowId: string, rows: { line: number; customer: Customer }[]) {
  if (rows.length === 0) return;
  const json = JSON.stringify(rows.map(({ line, customer: c }) => ({
    customer_id: c.id, name: c.name, email: c.email, city: c.city, state: c.state, interest: c.interest, signup_date: c.signupDate, line,
  })));
  await client.query(
    `INSERT INTO marketing_customers (customer_id, name, email, city, state, interest, signup_date)
     SELECT customer_id, name, email, city, state, interest, signup_date
       FROM json_to_recordset($1::json) AS r(customer_id text, name text, email text, city text, state text, interest text, signup_date date)
     ON CONFLICT (customer_id) DO UPDATE
       SET name = EXCLUDED.name, email = EXCLUDED.email, city = EXCLUDED.city, state = EXCLUDED.state,
           interest = EXCLUDED.interest, signup_date = EXCLUDED.signup_date, updated_at = now()
       WHERE (marketing_customers.name, marketing_customers.email, marketing_customers.city, marketing_customers.state,
              marketing_customers.interest, marketing_customers.signup_date)
             IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.email, EXCLUDED.city, EXCLUDED.state, EXCLUDED.interest, EXCLUDED.signup_date)`,
    [json]);
  await client.query(
    `INSERT INTO marketing_run_customers (workflow_id, customer_id, line)
     SELECT $1, customer_id, line FROM json_to_recordset($2::json) AS r(customer_id text, line int)`,
    [workflowId, json]);
}

async function quarantine(client: pg.PoolClient, location: string, run: RunRef, rows: { line: number; row: unknown; reason: string }[]) {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO etl_quarantine (pipeline, workflow_id, run_id, source_table, row_data, reason)
     SELECT $1, $2, $3, $4, r.row_data, r.reason FROM json_to_recordset($5::json) AS r(row_data jsonb, reason text)`,
    [PIPELINE, run.workflowId, run.runId, location,
      JSON.stringify(rows.map((r) => ({ row_data: { line: r.line, ...(r.row as object) }, reason: `line ${r.line}: ${r.reason}` })))]);
}
