import { ApplicationFailure, defineQuery, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { summarized } from '../lib/workflow/activity-summary';
import type { SyncActivities } from '../activities/incremental-sync';
import { syncInputSchema, type SyncInput, type SyncResult } from '../lib/contracts/incremental-sync';
import { OUTCOME, PIPELINE, ROWS_LOADED } from '../lib/workflow/search-attributes';
import { describeIssues } from '../lib/workflow/validation';

// Problems no retry can fix: a missing table or column, a missing grant, bad credentials, bad data types.
const permanent = ['SchemaError', 'PermissionError', 'AuthenticationError', 'ConfigurationError', 'DataError'];

const { prepareSync, reconcileMissingRows, finishSync } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8, nonRetryableErrorTypes: permanent },
});

// Long: heartbeats every 2 s with rows done and the last key; a dead worker is noticed after 20 s and the
// next attempt resumes after the last committed batch.
const { copyChangedRows } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 10, nonRetryableErrorTypes: permanent },
});

export const progressQuery = defineQuery<{ step: string; mode?: string }>('progress');

/** Moves a table from the source Postgres into the target Postgres, by watermark on updated_at. */
export async function incrementalSync(input: SyncInput = {}): Promise<SyncResult> {
  let progress: { step: string; mode?: string } = { step: 'validating input' };
  setHandler(progressQuery, () => progress);
  upsertSearchAttributes([{ key: PIPELINE, value: 'incrementalSync' }]);

  const parsed = syncInputSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(describeIssues('input', parsed.error), 'InvalidInput');
  }
  const options = { ...parsed.data, targetTable: parsed.data.targetTable ?? parsed.data.sourceTable };
  const { workflowId, runId } = workflowInfo();

  // 1. Check both tables, create the target if missing, read the last watermark, open the etl_control row.
  progress = { step: 'preparing' };
  const plan = await summarized(prepareSync, `check ${options.sourceTable} -> ${options.targetTable}`)(options, { workflowId, runId });
  progress = { step: 'copying changed rows', mode: plan.mode };
  try {
    // 2. Copy the changed rows (all of them in full mode) batch by batch, each merged with its watermark.
    await summarized(copyChangedRows, `copy ${plan.sourceTable} -> ${plan.targetTable} (${plan.mode})`)(plan);
    // 3. After a full reload, report target rows gone from the source (and delete them if asked).
    if (plan.mode === 'full') {
      progress = { step: 'reconciling', mode: plan.mode };
      await summarized(reconcileMissingRows, `rows of ${plan.targetTable} gone from ${plan.sourceTable}`)(plan);
    }
    // 4. Close the run: success makes its watermark the next run's starting point.
    const result = await summarized(finishSync, `etl_control: ${plan.targetTable} success`)(plan, { status: 'success' });
    upsertSearchAttributes([{ key: OUTCOME, value: 'success' }, { key: ROWS_LOADED, value: result.rowsInserted + result.rowsUpdated }]);
    progress = { step: 'done', mode: plan.mode };
    return result;
  } catch (error) {
    await summarized(finishSync, `etl_control: ${plan.targetTable} failed`)(plan, { status: 'failed', error: messageOf(error) });
    upsertSearchAttributes([{ key: OUTCOME, value: 'failed' }]);
    throw error;
  }
}

function messageOf(error: unknown): string {
  const cause = (error as { cause?: { message?: string } }).cause;
  return cause?.message ?? (error as Error).message ?? String(error);
}
