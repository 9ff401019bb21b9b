// Extract: tbl_transactions (COPY out of the source, COPY into staging) and every lake file under the prefix
// (CSV, JSON lines, Parquet, streamed into the same staging table). Rows never leave Postgres or the stream.
// Two shapes: shared by workers (startExtract, extractTable, extractFiles, finishExtract: one activity each) and, for
// runs recorded before that, one activity copying every source (extractTransactions).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { parse } from 'csv-parse';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { type CrmFeaturesOptions, type IncrementalPlan, type RunRef, type StepMetric, stagingTables } from '../../lib/contracts/crm-features';
import type { IncrementalStart } from './incremental';
import { AttemptConnections, copyTextLine, quoteIdent, quoteLiteral, stagingDdl } from '../../lib/io/postgres';
import { parseS3Location, type RangedObject, rangedObject } from '../../lib/io/s3';
import { sniffDelimiter } from '../../lib/io/csv-dialect';
import { type NumberLocale, typedNumberText } from '../../lib/io/numbers';
import { isConnectionError, isTransient } from '../../lib/activity/errors';
import { reportProgress } from '../../lib/activity/heartbeat';
import { ErrorType } from '../../lib/workflow/errors';

export interface CrmDeps {
  target: pg.Pool;
  source: pg.Pool;
  s3: S3Client;
  bucket: string;
}

const EXTRACT_CONCURRENCY = 3;

export const RAW_COLUMNS = ['transaction_id', 'user_id', 'amount', 'transaction_type', 'status', 'created_at', 'game_type', 'channel'] as const;
/** Columns the CRM team's own tbl_transactions does not have: the features that need them come out NULL without them. */
export const OPTIONAL_COLUMNS = ['game_type', 'channel'] as const;
const REQUIRED_COLUMNS = RAW_COLUMNS.filter((c) => !(OPTIONAL_COLUMNS as readonly string[]).includes(c));

export interface Extracted extends StepMetric {
  table: string;
  bySource: Record<string, number>;
  /** Incremental mode: what the run does (incremental, or a rebuild and why). */
  plan?: IncrementalPlan;
}

/** What the incremental mode reads (activities/crm-features/incremental.ts): the table in one snapshot, some lake files. */
export interface DeltaRead {
  /** Filled with the source's snapshot and row count, taken in the same transaction as the table's COPY. */
  source: SourceRead;
  /** Only these lake files (each read only if its ETag is still this one); all of them when absent. */
  lakeFiles?: LakeObject[];
  /** Reading nothing is fine (no new transactions today). */
  mayBeEmpty?: boolean;
}

export interface SourceRead {
  /** Only rows written by this transaction id or a newer one (`age(xmin) <= age(sinceXid)`); every row when absent. */
  sinceXid?: string;
  snapshot?: string;
  tableRows?: number;
}

export async function extractTransactions(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, delta?: DeltaRead): Promise<Extracted> {
  const started = Date.now();
  const { raw } = stagingTables(run.runId);
  // Safe to run twice: the staging table is recreated from scratch.
  await createRawTable(deps, raw);
  const location = lakeLocation(options, deps.bucket);
  const files = delta?.lakeFiles ?? (await listLake(deps.s3, location.bucket, location.key)).map((key) => ({ key }) as LakeObject);
  // The sources are copied side by side: Postgres ingests one COPY while Node parses the next file. Each copy holds
  // one target connection, so at most EXTRACT_CONCURRENCY at a time. The first copy to fail closes the others'
  // connections (their COPYs end, their locks on the staging table go), so the retry never waits on this attempt.
  const connections = new AttemptConnections(cancellationSignal());
  const copies: Array<{ name: string; copy: () => Promise<number> }> = [
    { name: options.sourceTable, copy: () => copySourceTable(deps, connections, options.sourceTable, raw, options.numberLocale, delta?.source) },
    ...files.map(({ key, etag }) => ({
      name: key, copy: async () => (await copyLakeFile(deps, location.bucket, key, raw, options.numberLocale, connections, etag)).rows,
    })),
  ];
  const counts = new Map<string, number>();
  let next = 0;
  const copyNext = async (): Promise<void> => {
    while (next < copies.length) {
      const { name, copy } = copies[next++];
      counts.set(name, await copy());
      reportProgress({ done: name, rows: [...counts.values()].reduce((a, b) => a + b, 0) });
    }
  };
  // The first failure is the reason; the others are the copies it stopped ("Connection terminated").
  let firstFailure: { error: unknown } | undefined;
  await Promise.all(Array.from({ length: EXTRACT_CONCURRENCY }, () => copyNext().catch((error: Error) => {
    firstFailure ??= { error };
    connections.abort(error);
  })));
  if (firstFailure) throw firstFailure.error;
  // Reported in the order the sources were listed, whatever order the copies finished in.
  const bySource = Object.fromEntries(copies.map(({ name }) => [name, counts.get(name) ?? 0]));
  const rows = Object.values(bySource).reduce((a, b) => a + b, 0);
  if (rows === 0 && !delta?.mayBeEmpty) throw noInputData(options, `s3://${location.bucket}/${location.key}`);
  return { step: 'extract', table: raw, rows, bySource, durationMs: Date.now() - started };
}

/** Nothing at all is not a quality problem of the data: it is data that is not there (an incremental run may find nothing new). */
function noInputData(options: CrmFeaturesOptions, lake: string, noTable = false): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`no transactions in ${options.sourceTable} on the source database${noTable ? ' (no such table)' : ''} or under the lake prefix `
    + `${lake}: load the sample data with \`npx etl sample-data crm\`, or set sourceTable and `
    + 'lakePrefix in the input to where your transactions are', ErrorType.NoInputData);
}

export function lakeLocation(options: CrmFeaturesOptions, bucket: string): { bucket: string; key: string } {
  const location = parseS3Location(options.lakePrefix, bucket);
  if (!location) throw ApplicationFailure.nonRetryable(`lakePrefix "${options.lakePrefix}" is not s3://bucket/prefix or s3:prefix`, ErrorType.InvalidInput);
  return location;
}

// The extract shared by workers (workflows/crm-features.ts, patch crm-extract-shared): a first activity creates the
// staging table and lists the lake, then the table and each part of the lake are copied by activities of their own,
// in parallel on whichever workers are free, and a last activity adds up the counts (and settles the incremental plan).

/**
 * At most this many lake activities per extract. Up to this many files, each file is an activity; beyond, the files
 * are packed in key order into this many parts of about equal bytes: a lake of thousands of small daily files costs
 * MAX_LAKE_PARTS activities (three history events and a task round trip each), not thousands, and still gives more
 * parts than workers times their activity slots.
 */
export const MAX_LAKE_PARTS = 32;

/** What the extract's copies read, decided by its first activity. */
export interface ExtractPlan {
  /** The lake prefix as s3://bucket/key (for messages). */
  lake: string;
  bucket: string;
  /** The lake files to read, one activity per part, in key order. */
  parts: LakeObject[][];
  /** Incremental mode: the table's rows since a transaction id, in one snapshot with its row count. */
  source?: SourceRead;
  /** Reading nothing is fine (no new transactions today). */
  mayBeEmpty?: boolean;
  /** Incremental mode: what the state said, for the last activity to settle the plan (activities/crm-features/incremental.ts). */
  incremental?: IncrementalStart;
  /** When the first activity started (ms): the step's duration runs from there to the end of the last one. */
  startedAt: number;
}

/** One source copied: its row count; a lake file's version read, the table's snapshot and row count (incremental). */
export interface SourceCopy {
  source: string;
  rows: number;
  etag?: string;
  size?: number;
  snapshot?: string;
  tableRows?: number;
}

/** The lake's files packed into at most `maxParts` parts (see MAX_LAKE_PARTS). */
export function lakeParts(files: LakeObject[], maxParts = MAX_LAKE_PARTS): LakeObject[][] {
  if (files.length <= maxParts) return files.map((file) => [file]);
  const share = files.reduce((sum, f) => sum + (f.size ?? 0), 0) / maxParts;
  const parts: LakeObject[][] = [[]];
  let bytes = 0;
  for (const file of files) {
    // A part ends where the next file's middle would pass its share: a big file gets a part of its own.
    if (parts.at(-1)!.length && bytes + (file.size ?? 0) / 2 > share && parts.length < maxParts) {
      parts.push([]);
      bytes = 0;
    }
    parts.at(-1)!.push(file);
    bytes += file.size ?? 0;
  }
  return parts;
}

/** First activity: the staging table created (from scratch: safe to run twice) and the lake's files (or `files`) in parts. */
export async function startExtract(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, files?: LakeObject[]): Promise<ExtractPlan> {
  const startedAt = Date.now();
  const location = lakeLocation(options, deps.bucket);
  await createRawTable(deps, stagingTables(run.runId).raw);
  const listed = files ?? await listLakeObjects(deps.s3, location.bucket, location.key);
  const lake = `s3://${location.bucket}/${location.key}`;
  // A stack without the sample data: no table and an empty lake is no input at all, not a misnamed table.
  if (!listed.length && !(await sourceTableExists(deps.source, options.sourceTable))) throw noInputData(options, lake, true);
  return { lake, bucket: location.bucket, parts: lakeParts(listed), startedAt };
}

/** The source table into the staging table (a retry replaces what an earlier attempt copied). */
export async function extractTable(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, read?: SourceRead): Promise<SourceCopy> {
  const connections = new AttemptConnections(cancellationSignal());
  const into = read ? { ...read } : undefined;
  const rows = await copySourceTable(deps, connections, options.sourceTable, stagingTables(run.runId).raw, options.numberLocale, into, true);
  return { source: options.sourceTable, rows, ...(into ? { snapshot: into.snapshot, tableRows: into.tableRows } : {}) };
}

/** One part of the lake into the staging table, file after file (a retry replaces what an earlier attempt copied). */
export async function extractFiles(deps: CrmDeps, options: CrmFeaturesOptions, run: RunRef, bucket: string, files: LakeObject[]): Promise<SourceCopy[]> {
  const connections = new AttemptConnections(cancellationSignal());
  const copies: SourceCopy[] = [];
  for (const { key } of files) {
    copies.push(await copyLakeFile(deps, bucket, key, stagingTables(run.runId).raw, options.numberLocale, connections, undefined, true));
    reportProgress({ done: key, rows: copies.reduce((sum, c) => sum + c.rows, 0) });
  }
  return copies;
}

/** Last activity (full mode): the counts, per source in the order listed (the table first). */
export function finishExtract(options: CrmFeaturesOptions, run: RunRef, plan: ExtractPlan, copies: SourceCopy[]): Extracted {
  const bySource = Object.fromEntries(copies.map((c) => [c.source, c.rows]));
  const rows = copies.reduce((sum, c) => sum + c.rows, 0);
  if (rows === 0 && !plan.mayBeEmpty) throw noInputData(options, plan.lake);
  return { step: 'extract', table: stagingTables(run.runId).raw, rows, bySource, durationMs: Math.max(0, Date.now() - plan.startedAt) };
}

/**
 * A copy into the staging table that replaces its source's rows, in the transaction it opens: an earlier attempt's
 * rows go, and one still running (a worker cut off from Temporal) is waited for first, so no row is staged twice.
 * The first attempt has nothing to delete (and skips a scan of a table the other copies are filling).
 */
async function replaceRows(target: pg.PoolClient, raw: string, source: string): Promise<void> {
  await target.query('BEGIN');
  await target.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${raw}|${source}`]);
  if (attempt() > 1) await target.query(`DELETE FROM ${raw} WHERE source = $1`, [source]);
}

/** The running activity's attempt (1 outside an activity). */
function attempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/** The running activity's cancellation (a worker shutting down, a heartbeat timeout); none outside an activity (benchmarks). */
function cancellationSignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** The raw staging table: every column as text, plus where the row came from. Recreated from scratch (safe to run twice). */
export async function createRawTable(deps: CrmDeps, raw: string): Promise<void> {
  await stagingDdl(deps.target, `DROP TABLE IF EXISTS ${raw}`);
  // number_locale: how the row's amount is written (lib/io/numbers.ts), decided per file.
  await deps.target.query(`CREATE TABLE ${raw} (${RAW_COLUMNS.map((c) => `${c} text`).join(', ')}, source text NOT NULL,
    number_locale text NOT NULL DEFAULT 'auto')`);
}

const sourceTableExists = async (source: pg.Pool, table: string): Promise<boolean> =>
  (await source.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [table])).rows[0].found;

/** The source table's columns (lower case -> type), or a non-retryable error naming it when it does not exist. */
export async function sourceTableColumns(source: pg.Pool | pg.PoolClient, table: string): Promise<Map<string, string>> {
  const { rows } = await source.query<{ name: string; type: string }>(`SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type
    FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, [table]);
  if (!rows.length) {
    throw ApplicationFailure.nonRetryable(`source table ${table} does not exist on the source database (or the source user cannot see it): `
      + 'create it or fix sourceTable', ErrorType.InvalidInput);
  }
  return new Map(rows.map((r) => [r.name.toLowerCase(), r.type]));
}

async function copySourceTable(
  deps: CrmDeps, connections: AttemptConnections, table: string, raw: string, numberLocale: NumberLocale | undefined, read?: SourceRead,
  replace = false,
): Promise<number> {
  const source = await connections.connect(deps.source);
  let failure: unknown;
  try {
    const target = await connections.connect(deps.target);
    try {
      const columns = await sourceTableColumns(source, table);
      const missing = REQUIRED_COLUMNS.filter((c) => !columns.has(c));
      if (missing.length) {
        throw ApplicationFailure.nonRetryable(`source table ${table} has no column ${missing.join(', ')} (required: ${REQUIRED_COLUMNS.join(', ')})`,
          ErrorType.InvalidInput);
      }
      const optional = (c: string) => (columns.has(c) ? `${quoteIdent(c)}::text` : 'NULL');
      // A numeric amount is Postgres's own text (1234.50); an amount kept as text is read in the input's locale.
      const locale = /^(numeric|real|double precision|integer|bigint|smallint)$/.test(columns.get('amount')!) ? 'en-US' : numberLocale ?? 'auto';
      // The incremental mode reads the table, its row count and the snapshot they were read in, in ONE snapshot.
      if (read) {
        await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const { rows: [moment] } = await source.query<{ snapshot: string; n: string }>(
          `SELECT pg_current_snapshot()::text AS snapshot, (SELECT count(*) FROM ${quoteIdent(table)}) AS n`);
        Object.assign(read, { snapshot: moment.snapshot, tableRows: Number(moment.n) });
      }
      // age() counts back from the same next xid for both sides: "written by sinceXid or a newer transaction" (as incrementalSync).
      const since = read?.sinceXid ? ` WHERE age(xmin) <= age(${quoteLiteral(read.sinceXid)}::xid)` : '';
      if (replace) await replaceRows(target, raw, table);
      const out = source.query(copyTo(`COPY (SELECT transaction_id::text, user_id, amount::text, transaction_type, status,
        to_char(created_at, 'YYYY-MM-DD HH24:MI:SS'), ${optional('game_type')}, ${optional('channel')}, ${quoteLiteral(table)}, ${quoteLiteral(locale)}
        FROM ${quoteIdent(table)}${since}) TO STDOUT`));
      const into = target.query(copyFrom(`COPY ${raw} FROM STDIN`));
      await pipeline(out, into);
      if (replace) await target.query('COMMIT');
      if (read) await source.query('COMMIT');
      return Number(into.rowCount);
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      connections.release(target, failure);
    }
  } finally {
    connections.release(source, failure);
  }
}

export async function listLake(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  return (await listLakeObjects(s3, bucket, prefix)).map((o) => o.key);
}

export interface LakeObject {
  key: string;
  etag?: string;
  size?: number;
}

/** The lake's transaction files under a prefix, sorted by key, with their ETag and size. */
export async function listLakeObjects(s3: S3Client, bucket: string, prefix: string): Promise<LakeObject[]> {
  const objects: LakeObject[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      if (o.Key && /\.(parquet|csv|jsonl?|ndjson)$/i.test(o.Key)) objects.push({ key: o.Key, etag: o.ETag, size: o.Size });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * One lake file into the raw table. Its amounts are read in `numberLocale` when given, else pt-BR for a `;`-separated
 * CSV or a file whose amounts carry `R$`, else auto; numbers the file typed (JSON, Parquet) read the same in any locale.
 */
export async function copyLakeFile(
  deps: CrmDeps, bucket: string, key: string, raw: string, numberLocale?: NumberLocale, connections = new AttemptConnections(), ifMatch?: string,
  replace = false,
): Promise<SourceCopy> {
  // ifMatch: the version listed (a file replaced since fails this attempt, the retry lists again).
  if (/\.parquet$/i.test(key)) {
    // Parquet is read by byte ranges, one row group at a time: memory holds a row group, not the file.
    const file = await rangedObject(deps.s3, bucket, key, ifMatch);
    return copyRecords(deps, bucket, key, raw, parquetRecords(file), numberLocale ?? 'auto', numberLocale, connections, replace,
      { etag: file.etag, size: file.byteLength });
  }
  const object = await deps.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, IfMatch: ifMatch }));
  let body = object.Body as Readable;
  // Every consumer below reads the body through a pipeline or an async iterator, so a connection the S3 server drops
  // fails this copy; the listener is for the moments nobody reads it (before the COPY starts, after it failed).
  body.on('error', () => undefined);
  let locale: NumberLocale = numberLocale ?? 'auto';
  let records: AsyncIterable<RawRecord>;
  if (/\.csv$/i.test(key)) {
    const sniffed = await sniffDelimiter(body);
    body = sniffed.body;
    body.on('error', () => undefined);
    if (!numberLocale && sniffed.delimiter === ';') locale = 'pt-BR';
    records = csvRecords(body, sniffed.delimiter);
  } else {
    records = jsonLines(body, key);
  }
  try {
    return await copyRecords(deps, bucket, key, raw, records, locale, numberLocale, connections, replace, { etag: object.ETag, size: object.ContentLength });
  } finally {
    body.destroy();
  }
}

/** A lake file's records into the raw table, in one COPY (replacing the file's earlier rows when `replace`). */
async function copyRecords(
  deps: CrmDeps, bucket: string, key: string, raw: string, records: AsyncIterable<RawRecord>, locale: NumberLocale,
  numberLocale: NumberLocale | undefined, connections: AttemptConnections, replace: boolean, version: { etag?: string; size?: number },
): Promise<SourceCopy> {
  let reais = false;
  async function* lines() {
    const batch: string[] = [];
    for await (const record of records) {
      const amount = record.amount;
      if (typeof amount === 'string' && amount.includes('R$')) reais = true;
      batch.push(copyTextLine([...RAW_COLUMNS.map((c) => (typeof record[c] === 'number' ? typedNumberText(record[c]) : record[c])), key, locale]));
      if (batch.length >= 1000) yield batch.splice(0).join('');
    }
    if (batch.length) yield batch.join('');
  }
  let failure: unknown;
  const client = await connections.connect(deps.target);
  try {
    if (replace) await replaceRows(client, raw, key);
    const into = client.query(copyFrom(`COPY ${raw} FROM STDIN`));
    await pipeline(Readable.from(lines()), into);
    // Amounts in reais: the file is Brazilian (known only once it is read; such files are rare, one UPDATE is cheap).
    if (reais && !numberLocale && locale === 'auto') await client.query(`UPDATE ${raw} SET number_locale = 'pt-BR' WHERE source = $1`, [key]);
    if (replace) await client.query('COMMIT');
    // The version read: what the incremental state records of the file.
    return { source: key, rows: Number(into.rowCount), ...version };
  } catch (error) {
    failure = error;
    throw unreadable(error, `s3://${bucket}/${key}`);
  } finally {
    connections.release(client, failure);
  }
}

/**
 * A file the parsers refuse fails the run at once, naming it; a dropped connection, a database error or an answer of
 * S3's (a Parquet file is read range by range inside the copy) stays as it is.
 */
function unreadable(error: unknown, file: string): unknown {
  const e = error as { code?: unknown; $metadata?: unknown };
  if (error instanceof ApplicationFailure || typeof e.code === 'string' && /^(E[A-Z_]{3,}|[0-9A-Z]{5})$/.test(e.code)
    || e.$metadata !== undefined || isTransient(error) || isConnectionError(error)) return error;
  return ApplicationFailure.nonRetryable(`lake file ${file} cannot be read: ${(error as Error).message}`, ErrorType.InvalidInput);
}

type RawRecord = Record<string, unknown>;

async function* csvRecords(body: Readable, delimiter: string): AsyncGenerator<RawRecord> {
  // The separator its header line shows (lib/io/csv-dialect.ts), with or without BOM: the header row names the columns. Through a pipeline, not .pipe():
  // a body that breaks half-way must fail the parser (and this copy), not leave it waiting.
  const parser = parse({ columns: true, bom: true, delimiter, skip_empty_lines: true, trim: true, relax_column_count: true });
  pipeline(body, parser).catch(() => undefined);
  yield* parser;
}

/** The lines of a stream, its errors thrown to the reader (readline's interface does not pass them on). */
async function* textLines(body: Readable): AsyncGenerator<string> {
  let rest = '';
  for await (const chunk of body.setEncoding('utf8') as AsyncIterable<string>) {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    for (const part of parts) yield part.replace(/\r$/, '');
  }
  if (rest) yield rest.replace(/\r$/, '');
}

async function* jsonLines(body: Readable, key: string): AsyncGenerator<RawRecord> {
  let n = 0;
  for await (const line of textLines(body)) {
    n++;
    if (!line.trim()) continue;
    try {
      yield JSON.parse(line) as RawRecord;
    } catch {
      // An unparseable line still reaches quarantine: with no id it fails the type check there.
      yield { transaction_id: null, user_id: null, amount: null, status: `unparseable line ${n} of ${key}` };
    }
  }
}

async function* parquetRecords(file: RangedObject): AsyncGenerator<RawRecord> {
  const { parquetMetadataAsync, parquetReadObjects } = await import('hyparquet');
  const metadata = await parquetMetadataAsync(file);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    // hyparquet fetches only this group's column chunks; its rows are copied before the next group is read.
    yield* (await parquetReadObjects({ file, metadata, rowStart, rowEnd })) as RawRecord[];
    rowStart = rowEnd;
  }
}
