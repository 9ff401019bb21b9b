import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { parseTableName, qualified, quoteIdent, redactUrl } from '../../lib/io/postgres';
import type { SyncOptions } from '../../lib/contracts/incremental-sync';
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
    throw permanentFailure(ErrorType.SchemaError, `source table ${options.sourceTable} does not exist on the ${where}`);
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

export async function prepareSync(db: SyncDatabases, options: SyncOptions, run: RunRef): Promise<SyncPlan> {
  try {
    const source = await inspectSource(db, options);
    const target = await ensureTarget(db.target, source, options);
    const targetColumns = new Map(target.columns.map((c) => [c.name, c]));
    const { rows: last } = await db.target.query<{ watermark: string | null }>(
      `SELECT watermark::text AS watermark FROM etl_control
        WHERE source_table = $1 AND target_table = $2 AND status = 'success' AND watermark IS NOT NULL
        ORDER BY finished_at DESC LIMIT 1`,
      [options.sourceTable, options.targetTable],
    );
    const previousWatermark = last[0]?.watermark ?? null;
    const { rows: [targetEmpty] } = await db.target.query<{ empty: boolean }>(
      `SELECT NOT EXISTS (SELECT 1 FROM ${qualified(parseTableName(options.targetTable))}) AS empty`);
    // With no watermark yet, or an empty target (new, or truncated by someone), the run is a full load.
    const mode = options.full || previousWatermark === null || targetEmpty.empty ? 'full' : 'incremental';
    const watermarkFrom = mode === 'incremental' ? previousWatermark : null;
    const { rows: control } = await db.target.query<{ id: string }>(
      `INSERT INTO etl_control (pipeline, workflow_id, run_id, source_table, target_table, mode, watermark_from, watermark)
       VALUES ('incrementalSync', $1, $2, $3, $4, $5, $6, $6)
       ON CONFLICT (workflow_id, run_id) DO UPDATE
         SET mode = EXCLUDED.mode, status = 'running', error_message = NULL, finished_at = NULL
       RETURNING id`,
      [run.workflowId, run.runId, options.sourceTable, options.targetTable, mode, watermarkFrom],
    );
    const { rows: [encoding] } = await db.source.query<{ server_encoding: string }>('SHOW server_encoding');
    const typeOf = (name: string) => source.columns.find((c) => c.name === name)!.type;
    return {
      controlId: Number(control[0].id),
      ...run,
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
      options: { batchSize: options.batchSize, overlapSeconds: options.overlapSeconds, deleteMissing: options.deleteMissing },
    };
  } catch (error) {
    const failure = classifyDbError(error, `preparing ${options.sourceTable} -> ${options.targetTable}`);
    if (failure instanceof ApplicationFailure && failure.nonRetryable) await recordFailedStart(db.target, options, run, failure.message);
    throw failure;
  }
}

/** A run that cannot even start (no such table, no grant) is still a run: etl_control records it, failed. */
async function recordFailedStart(target: pg.Pool, options: SyncOptions, run: RunRef, message: string): Promise<void> {
  await target.query(
    `INSERT INTO etl_control (pipeline, workflow_id, run_id, source_table, target_table, mode, status, finished_at, error_message)
     VALUES ('incrementalSync', $1, $2, $3, $4, $5, 'failed', now(), $6)
     ON CONFLICT (workflow_id, run_id) DO UPDATE SET status = 'failed', finished_at = now(), error_message = EXCLUDED.error_message`,
    [run.workflowId, run.runId, options.sourceTable, options.targetTable, options.full ? 'full' : 'incremental', message],
  ).catch(() => undefined); // the target itself may be what is failing
}
