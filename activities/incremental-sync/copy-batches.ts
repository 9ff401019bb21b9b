import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { reportProgress, withHeartbeat } from '../../lib/activity/heartbeat';
import { withTransaction } from '../../lib/io/postgres';
import { CancelledFailure } from '@temporalio/common';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type pg from 'pg';
import type { SyncCounts } from '../../lib/contracts/incremental-sync';
import { isUtf8 } from 'node:buffer';
import { classifyDbError, permanentFailure } from '../../lib/activity/errors';
import { ErrorType } from '../../lib/workflow/errors';
import {
  batchSummarySql, canCopyIntoTarget, checkSql, createStagingSql, cursorColumns, markProblemsSql, mergeSql, notAppliedSql, nullKeysetCopySql, pageEndSql,
  pageSummarySql, quarantineSql, sourceCopySql, sourceToTargetCopySql, stagingCopySql, stagingTables, targetCopySql, type Cursor,
} from './batch-sql';
import { countsOf } from './control-row';
import type { SyncPlan } from './plan';
import type { SyncDatabases } from './prepare';
import { copyTextFields, utf8Guard, type InvalidUtf8Value } from './utf8-guard';

export interface SyncProgress extends SyncCounts {
  lastKey: Cursor;
  watermark: string | null;
}

/** A batch copied into a staging table, not merged yet. */
interface StagedBatch {
  table: string;
  rows: number;
  cursor: Cursor;
  newest: string | null;
  /** Rows dated after the source's clock at the start of the run. */
  future: number;
  /** Values that load as NULL (NaN, NaT, '' ...), counted before any row is quarantined. */
  nulled: number;
  invalid: InvalidUtf8Value[];
}


/** What this run has committed so far: a retried attempt resumes after it instead of redoing it. */
async function committedProgress(db: SyncDatabases, plan: SyncPlan): Promise<SyncProgress> {
  const { rows: [row] } = await db.target.query(
    `SELECT rows_extracted, rows_inserted, rows_updated, rows_unchanged, rows_quarantined, values_nulled, batches, rows_future_dated,
            last_key, watermark::text AS watermark
       FROM etl_control WHERE id = $1`,
    [plan.controlId],
  );
  return {
    ...countsOf(row),
    lastKey: row.last_key,
    watermark: row.watermark,
  };
}

/**
 * Copies the rows changed since the watermark (all rows in full mode) in keyset-ordered batches.
 * Each batch is merged in one target transaction that also moves the cursor and the watermark in
 * etl_control, so a crash leaves a batch either wholly applied and recorded, or not at all. While one
 * batch merges, the next is already being copied into the other staging table.
 */
export async function copyChangedRows(db: SyncDatabases, plan: SyncPlan): Promise<SyncProgress> {
  const context = Context.current();
  let progress = await committedProgress(db, plan);
  const report = () => reportProgress({ rowsDone: progress.rowsExtracted, lastKey: progress.lastKey, batches: progress.batches });
  report();
  const batchDone = (next: SyncProgress) => {
    progress = next;
    context.log.info('batch merged', { batch: progress.batches, rowsDone: progress.rowsExtracted, lastKey: progress.lastKey });
    report();
  };
  const [tableA, tableB] = stagingTables(plan);
  try {
    return await withHeartbeat(async () => {
      if (canCopyIntoTarget(plan)) progress = await copyPagesIntoTarget(db, plan, progress, batchDone);
      await db.target.query(`${createStagingSql(plan, tableA)}; ${createStagingSql(plan, tableB)}`);
      let staged = await stageBatch(db, plan, tableA, progress.lastKey);
      while (staged) {
        if (context.cancellationSignal.aborted) throw new CancelledFailure('incrementalSync copy cancelled');
        const nextTable = staged.table === tableA ? tableB : tableA;
        const [next, merged] = await bothSettled(stageBatch(db, plan, nextTable, staged.cursor), mergeBatch(db, plan, staged, progress));
        batchDone(merged);
        staged = next;
      }
      return progress;
    });
  } catch (error) {
    throw classifyDbError(error, `copying ${plan.sourceTable} -> ${plan.targetTable}`);
  }
}

/**
 * A full load into an empty target (canCopyIntoTarget), page by page from the source's COPY straight into the
 * target's: no staging, nearly the cost of a plain COPY. Each page commits with its progress in etl_control, as a
 * merged batch does. A value the target refuses (a bad date, a NULL in a NOT NULL column) rolls its page back,
 * and the rest of the load goes through staging, where such rows are quarantined.
 */
async function copyPagesIntoTarget(db: SyncDatabases, plan: SyncPlan, start: SyncProgress, batchDone: (p: SyncProgress) => void): Promise<SyncProgress> {
  const context = Context.current();
  let progress = start;
  while (progress.lastKey !== 'end') {
    if (context.cancellationSignal.aborted) throw new CancelledFailure('incrementalSync copy cancelled');
    let next: SyncProgress | undefined;
    try {
      next = await copyPageIntoTarget(db, plan, progress);
    } catch (error) {
      if (!isBadValue(error)) throw error;
      context.log.info('the target refused a value: the rest of the load goes through staging', { lastKey: progress.lastKey, error: String(error) });
      return progress;
    }
    if (!next) return progress;
    progress = next;
    batchDone(progress);
  }
  return progress;
}

async function copyPageIntoTarget(db: SyncDatabases, plan: SyncPlan, before: SyncProgress): Promise<SyncProgress | undefined> {
  const after = before.lastKey as string[] | null;
  const source = await db.source.connect();
  let failure: Error | undefined;
  try {
    if (plan.rawSourceBytes) await source.query(`SET client_encoding = 'SQL_ASCII'`);
    // The page and its summary are read in one snapshot of the source.
    await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return await withTransaction(db.target, async (target) => {
      const invalid: InvalidUtf8Value[] = [];
      const guard = utf8Guard(plan.columns.map((c) => c.name), invalid, plan.keyColumns);
      const writer = target.query(copyFrom(targetCopySql(plan)));
      await pipeline(source.query(copyTo(sourceToTargetCopySql(plan, after))), guard, writer);
      const rows = Number(writer.rowCount);
      const lastLine = guard.lastLine();
      if (!rows || !lastLine) return undefined;
      const cursor = cursorOf(plan, lastLine);
      const { rows: [summary] } = await source.query<{ newest: string | null; future: number; nulled: number }>(pageSummarySql(plan, after, cursor));
      await recordInvalidUtf8(target, plan, invalid);
      return recordBatch(target, plan, before, { rows, cursor, ...summary, nulled: invalid.length + summary.nulled, inserted: rows, updated: 0, quarantined: 0 });
    });
  } catch (error) {
    failure = error as Error;
    throw error;
  } finally {
    // A COPY cut short leaves the source connection mid-stream: it is closed, not reused.
    if (!failure) {
      await source.query('COMMIT');
      if (plan.rawSourceBytes) await source.query('RESET client_encoding');
    }
    source.release(failure);
  }
}

/** Like Promise.all, but a failure is thrown only after the other side has finished with its connection. */
async function bothSettled<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}

/**
 * Streams the next keyset page from the source into a staging table (source COPY TO -> target COPY FROM). The
 * next page starts after this page's last row as the source itself sent it, so both sides of the comparison
 * use the source's ordering, whatever the target's collation. After the last page come the rows with a NULL
 * in a keyset column (quarantined if the NULL is in the key).
 */
async function stageBatch(db: SyncDatabases, plan: SyncPlan, table: string, after: Cursor): Promise<StagedBatch | undefined> {
  if (after === 'end') return undefined;
  const target = await db.target.connect();
  const source = await db.source.connect();
  try {
    await target.query(`TRUNCATE ${table}`);
    // A SQL_ASCII source is read byte for byte: Postgres would refuse to convert its non-UTF-8 text itself.
    if (plan.rawSourceBytes) await source.query(`SET client_encoding = 'SQL_ASCII'`);
    const upTo = plan.keysUnique ? undefined : (await source.query<{ position: string[] }>(pageEndSql(plan, after))).rows[0]?.position;
    const copy = async (sql: string) => {
      const invalid: InvalidUtf8Value[] = [];
      const guard = utf8Guard(plan.columns.map((c) => c.name), invalid, plan.keyColumns);
      const writer = target.query(copyFrom(stagingCopySql(plan, table)));
      await pipeline(source.query(copyTo(sql)), guard, writer);
      return { rows: Number(writer.rowCount), invalid, lastLine: guard.lastLine() };
    };
    let staged = await copy(sourceCopySql(plan, after, upTo));
    let cursor: Cursor = upTo ?? (staged.lastLine ? cursorOf(plan, staged.lastLine) : null);
    if (staged.rows === 0) {
      staged = await copy(nullKeysetCopySql(plan));
      cursor = 'end';
    }
    if (staged.rows === 0) return undefined;
    const { rows: [summary] } = await target.query<{ newest: string | null; future: number; nulled: number }>(batchSummarySql(plan, table));
    return { table, rows: staged.rows, cursor, ...summary, invalid: staged.invalid };
  } finally {
    if (plan.rawSourceBytes) await source.query('RESET client_encoding').catch(() => undefined);
    source.release();
    target.release();
  }
}

/** The keyset position of a line of the page (its cursor columns' values, as the source wrote them). */
function cursorOf(plan: SyncPlan, line: Buffer): string[] {
  const fields = copyTextFields(line);
  const names = plan.columns.map((c) => c.name);
  return cursorColumns(plan).names.map((name) => {
    const value = fields[names.indexOf(name)]!;
    // Only a SQL_ASCII source can send these; a cursor we cannot send back would skip or repeat rows.
    if (!isUtf8(value)) {
      throw permanentFailure(ErrorType.DataError,
        `${plan.sourceTable}.${name} holds a value that is not UTF-8 (bytes ${value.toString('hex').slice(0, 64)}): the next page cannot start after it; fix that value at the source`);
    }
    return value.toString('utf8');
  });
}

/** Checks, quarantines, merges and records one staged batch in a single target transaction. */
async function mergeBatch(db: SyncDatabases, plan: SyncPlan, batch: StagedBatch, before: SyncProgress): Promise<SyncProgress> {
  return withTransaction(db.target, async (client) => {
    const { merged, nulled, quarantined } = await checkAndMerge(client, plan, batch);
    // Only rows the merge left unchanged can be such rows: most batches skip the look.
    if (batch.rows > quarantined + merged.inserted + merged.updated) await warnOfRowsNotApplied(client, plan, batch.table);
    return recordBatch(client, plan, before, { ...batch, ...merged, nulled, quarantined });
  });
}

/** Changed source rows an incremental merge did not apply (notAppliedSql) are a warning of the run, naming keys. */
async function warnOfRowsNotApplied(client: pg.PoolClient, plan: SyncPlan, table: string): Promise<void> {
  const sql = notAppliedSql(plan, table);
  if (!sql) return;
  const { rows: [found] } = await client.query<{ rows: number; keys: string[] }>(sql);
  if (!found.rows) return;
  const warning = `${found.rows} row${found.rows > 1 ? 's' : ''} changed at the source but not applied, ${plan.updatedAtColumn} not newer than the target's (key${found.rows > 1 ? 's' : ''} ${found.keys.join('; ')}${found.rows > found.keys.length ? '; ...' : ''}): a clock put right after a future date, a backdated, cleared or unstamped change, or a row edited in the target; a run with full: true applies ${found.rows > 1 ? 'them' : 'it'}`;
  await client.query('UPDATE etl_control SET warnings = array_append(warnings, $2) WHERE id = $1', [plan.controlId, warning]);
}

/** What one batch did, added to the run's progress in etl_control, in the transaction that wrote the batch. */
async function recordBatch(
  client: pg.PoolClient, plan: SyncPlan, before: SyncProgress,
  batch: { rows: number; cursor: Cursor; newest: string | null; future: number; inserted: number; updated: number; nulled: number; quarantined: number },
): Promise<SyncProgress> {
  const after: SyncProgress = {
    rowsExtracted: before.rowsExtracted + batch.rows,
    rowsInserted: before.rowsInserted + batch.inserted,
    rowsUpdated: before.rowsUpdated + batch.updated,
    rowsUnchanged: before.rowsUnchanged + batch.rows - batch.quarantined - batch.inserted - batch.updated,
    rowsQuarantined: before.rowsQuarantined + batch.quarantined,
    valuesNulled: before.valuesNulled + batch.nulled,
    batches: before.batches + 1,
    rowsFutureDated: before.rowsFutureDated + batch.future,
    lastKey: batch.cursor,
    watermark: null,
  };
  const { rows: [control] } = await client.query<{ watermark: string | null }>(
    `UPDATE etl_control SET rows_extracted = $2, rows_inserted = $3, rows_updated = $4, rows_unchanged = $5,
            rows_quarantined = $6, values_nulled = $7, batches = $8, last_key = $9, rows_future_dated = $11,
            -- A row dated after the source's clock (a skewed writer) never carries the watermark past that clock.
            watermark = (SELECT least(newest, coalesce(source_now, newest)) FROM (SELECT GREATEST(watermark, $10::timestamptz) AS newest) n)
      WHERE id = $1 RETURNING watermark::text AS watermark`,
    [plan.controlId, after.rowsExtracted, after.rowsInserted, after.rowsUpdated, after.rowsUnchanged,
      after.rowsQuarantined, after.valuesNulled, after.batches, JSON.stringify(after.lastKey), batch.newest, after.rowsFutureDated],
  );
  return { ...after, watermark: control.watermark };
}

interface Merged {
  merged: { inserted: number; updated: number };
  nulled: number;
  quarantined: number;
}

/** A value that does not fit its column (bad date, null key) fails the statement with one of these. */
const isBadValue = (error: unknown) => /^22|^23502$/.test(String((error as { code?: string }).code));

/**
 * Most batches are clean, so the merge is tried first; only when a value does not fit does the batch
 * get the row-by-row check that moves the offending rows to etl_quarantine, and the merge runs again.
 */
async function checkAndMerge(client: pg.PoolClient, plan: SyncPlan, batch: StagedBatch): Promise<Merged> {
  const merge = async () => {
    const result = await client.query<{ inserted: number; updated: number }>(mergeSql(plan, batch.table));
    return plan.targetWasEmpty ? { inserted: result.rowCount ?? 0, updated: 0 } : result.rows[0];
  };
  await recordInvalidUtf8(client, plan, batch.invalid);
  const nulled = batch.invalid.length + batch.nulled;
  const check = checkSql(plan, batch.table);
  if (check) await client.query('SAVEPOINT before_merge');
  try {
    return { merged: await merge(), nulled, quarantined: 0 };
  } catch (error) {
    if (!check || !isBadValue(error)) throw error;
    await client.query('ROLLBACK TO SAVEPOINT before_merge');
  }
  const { rows: [found] } = await client.query<{ nulled: number; bad: string[]; reasons: string[] }>(check!);
  let quarantined = 0;
  if (found.bad.length) {
    await client.query(markProblemsSql(batch.table), [found.bad, found.reasons]);
    quarantined = (await client.query(quarantineSql(batch.table), [plan.workflowId, plan.runId, plan.sourceTable])).rowCount ?? 0;
  }
  return { merged: await merge(), nulled: batch.invalid.length + found.nulled, quarantined };
}

async function recordInvalidUtf8(client: pg.PoolClient, plan: SyncPlan, invalid: InvalidUtf8Value[]): Promise<void> {
  // Text that was not valid UTF-8 loads as NULL; its original bytes are kept in etl_quarantine with the reason.
  for (const value of invalid) {
    await client.query(
      `INSERT INTO etl_quarantine (pipeline, workflow_id, run_id, source_table, row_data, reason)
       VALUES ('incrementalSync', $1, $2, $3, $4, $5)`,
      [plan.workflowId, plan.runId, plan.sourceTable, JSON.stringify({ key: value.key, column: value.column, bytes_hex: value.hex }),
        `column ${value.column}: invalid UTF-8, loaded as NULL`],
    );
  }
}
