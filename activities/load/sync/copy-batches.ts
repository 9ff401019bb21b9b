import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { SyncCounts } from '../../../lib/incremental-sync';
import { classifyDbError } from '../../../lib/pg-errors';
import { checkSql, createStagingSql, lastCursorSql, mergeSql, quarantineSql, sourceCopySql, stagingCopySql } from './batch-sql';
import type { SyncPlan } from './plan';
import type { SyncDatabases } from './prepare';
import { utf8Guard, type InvalidUtf8Value } from './utf8-guard';

export interface SyncProgress extends SyncCounts {
  lastKey: string[] | null;
  watermark: string | null;
}

const HEARTBEAT_EVERY_MS = 2_000;

/** What this run has committed so far: a retried attempt resumes after it instead of redoing it. */
async function committedProgress(db: SyncDatabases, plan: SyncPlan): Promise<SyncProgress> {
  const { rows } = await db.target.query(
    `SELECT rows_extracted, rows_inserted, rows_updated, rows_unchanged, rows_quarantined, values_nulled, batches,
            last_key, watermark::text AS watermark
       FROM etl_control WHERE id = $1`,
    [plan.controlId],
  );
  const row = rows[0];
  return {
    rowsExtracted: Number(row.rows_extracted),
    rowsInserted: Number(row.rows_inserted),
    rowsUpdated: Number(row.rows_updated),
    rowsUnchanged: Number(row.rows_unchanged),
    rowsQuarantined: Number(row.rows_quarantined),
    valuesNulled: Number(row.values_nulled),
    batches: row.batches,
    lastKey: row.last_key,
    watermark: row.watermark,
  };
}

/**
 * Copies the rows changed since the watermark (all rows in full mode) in keyset-ordered batches.
 * Each batch is one target transaction: COPY into staging, quarantine what cannot load, merge, and
 * move the cursor and watermark in etl_control; a crash anywhere leaves either all of it or none.
 */
export async function copyChangedRows(db: SyncDatabases, plan: SyncPlan): Promise<SyncProgress> {
  const context = Context.current();
  let progress = await committedProgress(db, plan);
  const beat = () => context.heartbeat({ rowsDone: progress.rowsExtracted, lastKey: progress.lastKey, batches: progress.batches });
  beat();
  const timer = setInterval(beat, HEARTBEAT_EVERY_MS);
  const sql = { copyIn: stagingCopySql(plan), cursor: lastCursorSql(plan), merge: mergeSql(plan), quarantine: quarantineSql(plan), ...checkSql(plan) };
  try {
    await db.target.query(createStagingSql(plan));
    for (;;) {
      if (context.cancellationSignal.aborted) throw new CancelledFailure('incrementalSync copy cancelled');
      const batch = await copyOneBatch(db, plan, progress, sql);
      if (!batch) break;
      progress = batch;
      context.log.info('batch merged', { batch: progress.batches, rowsDone: progress.rowsExtracted, lastKey: progress.lastKey });
      beat();
    }
    return progress;
  } catch (error) {
    throw classifyDbError(error, `copying ${plan.sourceTable} -> ${plan.targetTable}`);
  } finally {
    clearInterval(timer);
  }
}

type BatchSql = { copyIn: string; cursor: string; merge: string; quarantine: string; markProblems?: string; countNulled?: string };

async function copyOneBatch(db: SyncDatabases, plan: SyncPlan, before: SyncProgress, sql: BatchSql): Promise<SyncProgress | undefined> {
  const target = await db.target.connect();
  const source = await db.source.connect();
  try {
    await target.query('BEGIN');
    await target.query(`TRUNCATE ${plan.stagingTable}`);
    const invalid: InvalidUtf8Value[] = [];
    if (plan.rawSourceBytes) await source.query(`SET client_encoding = 'SQL_ASCII'`);
    const reader = source.query(copyTo(sourceCopySql(plan, before.lastKey)));
    const writer = target.query(copyFrom(sql.copyIn));
    await pipeline(reader, utf8Guard(plan.columns.map((c) => c.name), invalid, plan.keyColumns), writer);
    const extracted = Number(writer.rowCount);
    if (extracted === 0) {
      await target.query('ROLLBACK');
      return undefined;
    }
    const { rows: [last] } = await target.query<{ cursor: string[]; newest: string | null }>(sql.cursor);
    if (sql.markProblems) await target.query(sql.markProblems);
    const nulled = sql.countNulled ? (await target.query<{ nulled: number }>(sql.countNulled)).rows[0].nulled : 0;
    const quarantined = (await target.query(sql.quarantine, [plan.workflowId, plan.runId, plan.sourceTable])).rowCount ?? 0;
    await recordInvalidUtf8(target, plan, invalid);
    const { rows: [merged] } = await target.query<{ inserted: number; updated: number }>(sql.merge);
    const after: SyncProgress = {
      rowsExtracted: before.rowsExtracted + extracted,
      rowsInserted: before.rowsInserted + merged.inserted,
      rowsUpdated: before.rowsUpdated + merged.updated,
      rowsUnchanged: before.rowsUnchanged + extracted - quarantined - merged.inserted - merged.updated,
      rowsQuarantined: before.rowsQuarantined + quarantined,
      valuesNulled: before.valuesNulled + nulled + invalid.length,
      batches: before.batches + 1,
      lastKey: last.cursor,
      watermark: last.newest,
    };
    await target.query(
      `UPDATE etl_control SET rows_extracted = $2, rows_inserted = $3, rows_updated = $4, rows_unchanged = $5,
              rows_quarantined = $6, values_nulled = $7, batches = $8, last_key = $9,
              watermark = GREATEST(watermark, $10::timestamptz)
        WHERE id = $1`,
      [plan.controlId, after.rowsExtracted, after.rowsInserted, after.rowsUpdated, after.rowsUnchanged,
        after.rowsQuarantined, after.valuesNulled, after.batches, JSON.stringify(after.lastKey), last.newest],
    );
    const { rows: [control] } = await target.query<{ watermark: string | null }>(
      'SELECT watermark::text AS watermark FROM etl_control WHERE id = $1', [plan.controlId]);
    await target.query('COMMIT');
    return { ...after, watermark: control.watermark };
  } catch (error) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    if (plan.rawSourceBytes) await source.query('RESET client_encoding').catch(() => undefined);
    source.release();
    target.release();
  }
}

/** Text that is not valid UTF-8 is loaded as NULL; its original bytes are kept in etl_quarantine with the reason. */
async function recordInvalidUtf8(target: { query: (sql: string, values: unknown[]) => Promise<unknown> }, plan: SyncPlan, invalid: InvalidUtf8Value[]) {
  for (const value of invalid) {
    await target.query(
      `INSERT INTO etl_quarantine (pipeline, workflow_id, run_id, source_table, row_data, reason)
       VALUES ('incrementalSync', $1, $2, $3, $4, $5)`,
      [plan.workflowId, plan.runId, plan.sourceTable, JSON.stringify({ key: value.key, column: value.column, bytes_hex: value.hex }),
        `column ${value.column}: invalid UTF-8, loaded as NULL`],
    );
  }
}
