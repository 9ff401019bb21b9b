import { ApplicationFailure } from '@temporalio/common';
import { DEMO_TABLE } from '../../lib/sample-data/incremental-sync';
import type pg from 'pg';
import { parseTableName, qualified, quoteIdent, redactUrl } from '../../lib/io/postgres';
import type { ChangeDetection, SyncOptions } from '../../lib/contracts/incremental-sync';
import { classifyDbError, permanentFailure } from '../../lib/activity/errors';
import { planColumn } from './columns';
import { describeTable, sameColumnSet, type TableInfo } from './introspect';
import type { RunRef, SyncPlan } from './plan';
import { stagingTable } from '../../lib/contracts/run';
import { ErrorType } from '../../lib/workflow/errors';

export interface SyncDatabases {
  source: pg.Pool;
  target: pg.Pool;
  sourceUrl: string;
}

/** The run's staging table (and its twin, `_b`: one batch merges while the next is copied). */
export const stagingTableName = (run: RunRef): string => stagingTable('sync', 'batch', run.runId);

async function inspectSource(db: SyncDatabases, options: SyncOptions): Promise<TableInfo> {
  const where = `source database ${redactUrl(db.sourceUrl)}`;
  const source = await describeTable(db.source, options.sourceTable);
  if (!source) {
    // The default input reads the sample table: say how to get it, or what to set instead.
    const hint = options.sourceTable === DEMO_TABLE
      ? ': set sourceTable in the input to your table, or load the sample table with `npx etl sample-data conversations`' : '';
    throw permanentFailure(ErrorType.SchemaError, `source table ${options.sourceTable} does not exist on the ${where}${hint}`);
  }
  if (!source.canSelect) {
    const user = (await db.source.query<{ u: string }>('SELECT current_user AS u')).rows[0].u;
    throw permanentFailure(ErrorType.PermissionError,
      `the source user ${user} may not read ${options.sourceTable} on the ${where}: GRANT SELECT ON ${options.sourceTable} TO ${user}`);
  }
  const names = source.columns.map((c) => c.name);
  for (const wanted of [...options.keyColumns, options.updatedAtColumn]) {
    if (!names.includes(wanted)) {
      throw permanentFailure(ErrorType.SchemaError,
        `source table ${options.sourceTable} has no column "${wanted}" (its columns: ${names.join(', ')})`);
    }
  }
  const updatedAt = source.columns.find((c) => c.name === options.updatedAtColumn)!;
  if (updatedAt.category !== 'D') {
    throw permanentFailure(ErrorType.SchemaError,
      `column ${options.sourceTable}.${updatedAt.name} is ${updatedAt.type}; the watermark column must be a timestamp or date`);
  }
  return source;
}

/** The target table as the source describes it, created when missing; its columns must cover the source's. */
async function ensureTarget(target: pg.Pool, source: TableInfo, options: SyncOptions): Promise<TableInfo> {
  let info = await describeTable(target, options.targetTable);
  if (!info) {
    const name = parseTableName(options.targetTable);
    const columns = source.columns.map((c) => `${quoteIdent(c.name)} ${c.type}`);
    await target.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(name.schema)};
      CREATE TABLE IF NOT EXISTS ${qualified(name)} (${columns.join(', ')},
        PRIMARY KEY (${options.keyColumns.map(quoteIdent).join(', ')}))`);
    info = (await describeTable(target, options.targetTable))!;
  }
  const targetNames = new Set(info.columns.map((c) => c.name));
  const missing = source.columns.filter((c) => !targetNames.has(c.name)).map((c) => c.name);
  if (missing.length) {
    throw permanentFailure(ErrorType.SchemaError,
      `target table ${options.targetTable} lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} that the source has: add ${missing.length > 1 ? 'them' : 'it'} with ALTER TABLE ${options.targetTable} ADD COLUMN ...`);
  }
  if (!info.uniqueKeys.some((key) => sameColumnSet(key, options.keyColumns))) {
    throw permanentFailure(ErrorType.SchemaError,
      `target table ${options.targetTable} needs a primary key or unique index on (${options.keyColumns.join(', ')}) to merge rows`);
  }
  return info;
}

/** Who started a run (schedule:<id>, cli:<user>, ui, api:<name>), recorded in etl_control. */
export type SyncRunRef = RunRef & { triggeredBy?: string };

interface LastSuccess {
  watermark: string | null;
  source_snapshot: string | null;
  source_now: string | null;
}

/** The source's clock and transaction horizon when this run begins, read before any row is. */
interface SourceMoment {
  snapshot: string;
  now: string;
  /** pg_snapshot_xmin / xmax as decimal xid8 text. */
  xmin: string;
  xmax: string;
  /** Seconds the oldest other open transaction has been open, when the source user may see it. */
  oldestTransactionS: number | null;
}

async function sourceMoment(source: pg.Pool): Promise<SourceMoment> {
  const { rows: [moment] } = await source.query<SourceMoment>(
    `SELECT s::text AS snapshot, now()::text AS now, pg_snapshot_xmin(s)::text AS xmin, pg_snapshot_xmax(s)::text AS xmax,
            (SELECT extract(epoch FROM max(now() - xact_start))::int FROM pg_stat_activity
              WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND xact_start IS NOT NULL) AS "oldestTransactionS"
       FROM pg_current_snapshot() AS s`);
  return moment;
}

/** Rows are read by transaction id when the source has them: tables, partitioned tables, materialized views. */
const hasTransactionIds = (source: TableInfo) => ['r', 'p', 'm'].includes(source.kind);

function chooseChangeDetection(options: SyncOptions, source: TableInfo): ChangeDetection {
  if (options.changeDetection === 'updated_at') return 'updated_at';
  if (hasTransactionIds(source)) return 'snapshot';
  if (options.changeDetection === 'snapshot') {
    throw permanentFailure(ErrorType.InvalidInput,
      `changeDetection 'snapshot' needs a table: ${options.sourceTable} is a ${source.kind === 'v' ? 'view' : 'foreign table'}, whose rows carry no transaction id; use changeDetection 'updated_at' (or 'auto')`);
  }
  return 'updated_at';
}

// Beyond this many transactions since the previous run, 32-bit xmin values could wrap: every row is read instead.
const XID_WINDOW = 2n ** 31n - 10_000_000n;

/**
 * Where a snapshot-mode run starts: the previous run's oldest unfinished transaction. Every row version whose
 * transaction had not finished then (a late commit whatever its updated_at) has an xmin at least that new.
 */
export function sinceXidOf(previous: Pick<LastSuccess, 'source_snapshot'> | undefined, now: Pick<SourceMoment, 'xmax'>): string | undefined {
  const previousXmin = previous?.source_snapshot?.split(':')[0];
  if (!previousXmin) return undefined;
  const since = BigInt(previousXmin);
  if (BigInt(now.xmax) - since >= XID_WINDOW) return undefined;
  return String(since % 2n ** 32n);
}

/** In updated_at mode: what could make this run miss a row, said in its result and etl_control. */
function updatedAtWarnings(options: SyncOptions, previous: LastSuccess | undefined, now: SourceMoment): string[] {
  const warnings: string[] = [];
  const overlap = options.overlapSeconds;
  const risk = `rows it commits with an older ${options.updatedAtColumn} than the watermark minus overlapSeconds (${overlap}) are missed in updated_at mode; use changeDetection 'snapshot' (needs a table) or a larger overlapSeconds`;
  if (now.oldestTransactionS !== null && now.oldestTransactionS > overlap) {
    warnings.push(`a source transaction has been open for ${now.oldestTransactionS} s: ${risk}`);
  } else if (previous?.source_snapshot && previous.source_now) {
    // The source user may not see other sessions; snapshots tell as much: an xid given out before the previous
    // run began is still unfinished now.
    const previousXmax = BigInt(previous.source_snapshot.split(':')[1]);
    const since = (Date.parse(now.now) - Date.parse(previous.source_now)) / 1000;
    if (BigInt(now.xmin) < previousXmax && since > overlap) {
      warnings.push(`a source transaction has been open since before the previous run (${Math.round(since)} s ago): ${risk}`);
    }
  }
  return warnings;
}

export async function prepareSync(db: SyncDatabases, options: SyncOptions, run: SyncRunRef): Promise<SyncPlan> {
  try {
    const source = await inspectSource(db, options);
    const target = await ensureTarget(db.target, source, options);
    const changeDetection = chooseChangeDetection(options, source);
    const moment = await sourceMoment(db.source);
    const targetColumns = new Map(target.columns.map((c) => [c.name, c]));
    // The watermark through the sync document's function (sql/shared/002), so it and the pipeline never disagree.
    const { rows: [previous] } = await db.target.query<LastSuccess>(
      `SELECT get_last_successful_watermark($1, $2)::text AS watermark, source_snapshot, source_now::text AS source_now FROM etl_control
        WHERE source_table = $1 AND target_table = $2 AND status = 'success' AND (watermark IS NOT NULL OR source_snapshot IS NOT NULL)
        ORDER BY finished_at DESC LIMIT 1`,
      [options.sourceTable, options.targetTable],
    );
    const { rows: [targetEmpty] } = await db.target.query<{ empty: boolean }>(
      `SELECT NOT EXISTS (SELECT 1 FROM ${qualified(parseTableName(options.targetTable))}) AS empty`);
    // With no watermark yet, or an empty target (new, or truncated by someone), the run is a full load.
    const mode = options.full || !previous || targetEmpty.empty ? 'full' : 'incremental';
    const warnings: string[] = [];
    let watermarkFrom = mode === 'incremental' ? previous.watermark : null;
    const sinceXid = mode === 'incremental' && changeDetection === 'snapshot' ? sinceXidOf(previous, moment) : undefined;
    // A previous run of an older version (no snapshot recorded) hands over by updated_at, once.
    const detection = mode === 'incremental' && changeDetection === 'snapshot' && !previous.source_snapshot ? 'updated_at' : changeDetection;
    if (mode === 'incremental' && detection === 'updated_at') {
      warnings.push(...updatedAtWarnings(options, previous, moment));
      if (watermarkFrom && Date.parse(watermarkFrom) > Date.parse(moment.now)) {
        warnings.push(`the previous watermark ${watermarkFrom} is after the source's clock (${moment.now}): rows changed since the last real change may have been skipped; this run reads from the source's clock, run once with full: true to be sure`);
        watermarkFrom = moment.now;
      }
    }
    const { rows: control } = await db.target.query<{ id: string }>(
      `INSERT INTO etl_control (pipeline, workflow_id, run_id, source_table, target_table, mode, watermark_from, watermark,
                                change_detection, source_snapshot, source_now, warnings, triggered_by)
       VALUES ('incrementalSync', $1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (workflow_id, run_id) DO UPDATE
         SET mode = EXCLUDED.mode, status = 'running', error_message = NULL, finished_at = NULL
       RETURNING id`,
      [run.workflowId, run.runId, options.sourceTable, options.targetTable, mode, watermarkFrom,
        detection, moment.snapshot, moment.now, warnings, run.triggeredBy ?? null],
    );
    const { rows: [encoding] } = await db.source.query<{ server_encoding: string }>('SHOW server_encoding');
    const typeOf = (name: string) => source.columns.find((c) => c.name === name)!.type;
    return {
      controlId: Number(control[0].id),
      workflowId: run.workflowId,
      runId: run.runId,
      mode,
      sourceTable: options.sourceTable,
      targetTable: options.targetTable,
      stagingTable: stagingTableName(run),
      keyColumns: options.keyColumns,
      updatedAtColumn: options.updatedAtColumn,
      updatedAtType: typeOf(options.updatedAtColumn),
      keyTypes: options.keyColumns.map(typeOf),
      columns: source.columns.map((c) => planColumn(c, targetColumns.get(c.name)!)),
      targetWasEmpty: mode === 'full' && targetEmpty.empty,
      rawSourceBytes: encoding.server_encoding === 'SQL_ASCII',
      keysUnique: source.uniqueKeys.some((key) => sameColumnSet(key, options.keyColumns)),
      watermarkFrom,
      changeDetection: detection,
      sinceXid,
      sourceNow: moment.now,
      options: { batchSize: options.batchSize, overlapSeconds: options.overlapSeconds, deleteMissing: options.deleteMissing },
    };
  } catch (error) {
    const failure = classifyDbError(error, `preparing ${options.sourceTable} -> ${options.targetTable}`);
    if (failure instanceof ApplicationFailure && failure.nonRetryable) await recordFailedStart(db.target, options, run, failure.message);
    throw failure;
  }
}

/** A run that cannot even start (no such table, no grant) is still a run: etl_control records it, failed. */
async function recordFailedStart(target: pg.Pool, options: SyncOptions, run: SyncRunRef, message: string): Promise<void> {
  await target.query(
    `INSERT INTO etl_control (pipeline, workflow_id, run_id, source_table, target_table, mode, status, finished_at, error_message, triggered_by)
     VALUES ('incrementalSync', $1, $2, $3, $4, $5, 'failed', now(), $6, $7)
     ON CONFLICT (workflow_id, run_id) DO UPDATE SET status = 'failed', finished_at = now(), error_message = EXCLUDED.error_message`,
    [run.workflowId, run.runId, options.sourceTable, options.targetTable, options.full ? 'full' : 'incremental', message, run.triggeredBy ?? null],
  ).catch(() => undefined); // the target itself may be what is failing
}
