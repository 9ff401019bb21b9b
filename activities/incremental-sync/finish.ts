import type { SyncResult } from '../../lib/contracts/incremental-sync';
import { stagingTables } from './batch-sql';
import { countsOf } from './control-row';
import type { SyncPlan } from './plan';
import type { SyncDatabases } from './prepare';

export type SyncOutcome = { status: 'success' } | { status: 'failed' | 'cancelled'; error: string };

/** Closes the run's etl_control row (success makes its watermark the next run's start) and drops its staging. */
export async function finishSync(db: SyncDatabases, plan: SyncPlan, outcome: SyncOutcome): Promise<SyncResult> {
  await db.target.query(`DROP TABLE IF EXISTS ${stagingTables(plan).join(', ')}`);
  const { rows: [row] } = await db.target.query(
    `UPDATE etl_control SET status = $2, error_message = $3, finished_at = coalesce(finished_at, now())
      WHERE id = $1
      RETURNING *, watermark_from::text AS watermark_from_text, watermark::text AS watermark_text`,
    [plan.controlId, outcome.status, outcome.status === 'success' ? null : outcome.error],
  );
  return {
    pipeline: 'incrementalSync',
    status: 'success',
    mode: plan.mode,
    changeDetection: row.change_detection ?? 'updated_at',
    sourceTable: plan.sourceTable,
    targetTable: plan.targetTable,
    ...countsOf(row),
    watermarkFrom: row.watermark_from_text,
    watermark: row.watermark_text,
    rowsMissingAtSource: row.rows_missing_at_source === null ? null : Number(row.rows_missing_at_source),
    rowsDeleted: Number(row.rows_deleted),
    controlId: plan.controlId,
    warnings: row.warnings ?? [],
    triggeredBy: row.triggered_by ?? null,
  };
}
