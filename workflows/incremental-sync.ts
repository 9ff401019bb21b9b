import { defineQuery, isCancellation, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { SyncActivities } from '../activities/incremental-sync';
import { syncInputSchema, type SyncInput, type SyncResult } from '../lib/contracts/incremental-sync';
import { summarized } from '../lib/workflow/activity-summary';
import { runPipeline } from '../lib/workflow/pipeline-run';
import { retryPolicies } from '../lib/workflow/retry-policies';
import { triggeredBy } from '../lib/workflow/search-attributes';

const { prepareSync, reconcileMissingRows, finishSync } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '10 minutes',
  retry: retryPolicies.shortStep,
});

// Long: heartbeats every 2 s with rows done and the last key; a dead worker is noticed after 20 s and the
// next attempt resumes after the last committed batch.
const { copyChangedRows } = proxyActivities<SyncActivities>({
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '20 seconds',
  retry: retryPolicies.resumableCopy,
});

export interface SyncProgress {
  step: string;
  mode?: string;
}
export const progressQuery = defineQuery<SyncProgress>('progress');

/** Moves a table from the source Postgres into the target Postgres, by watermark on updated_at. */
export async function incrementalSync(input: SyncInput = {}): Promise<SyncResult> {
  const progress: SyncProgress = { step: 'validating input' };
  return runPipeline({
    workflowType: 'incrementalSync', inputSchema: syncInputSchema, progressQuery, progress,
    succeeded: (result: SyncResult) => ({ rowsLoaded: result.rowsInserted + result.rowsUpdated }),
    failureOutcomeBeforePatch: ({ step }) => step !== 'validating input' && step !== 'preparing',
  }, input, async (parsed, run) => {
    const options = { ...parsed, targetTable: parsed.targetTable ?? parsed.sourceTable };
    const { workflowId, runId } = workflowInfo();

    // 1. Check both tables, create the target if missing, read the last watermark, open the etl_control row.
    progress.step = 'preparing';
    const plan = await summarized(prepareSync, `check ${options.sourceTable} -> ${options.targetTable}`)(options, { workflowId, runId, triggeredBy: triggeredBy() });
    // However the run ends from here (a failure, a cancellation), its etl_control row says so.
    run.onFailure((error) => {
      // A cancelled run (Web UI, CLI) is recorded as cancelled; the same one activity, so histories replay unchanged.
      const status = isCancellation(error) ? 'cancelled' : 'failed';
      return summarized(finishSync, `etl_control: ${plan.targetTable} ${status}`)(plan, { status, error: messageOf(error) });
    });

    // 2. Copy the changed rows (all of them in full mode) batch by batch, each merged with its watermark.
    Object.assign(progress, { step: 'copying changed rows', mode: plan.mode });
    await summarized(copyChangedRows, `copy ${plan.sourceTable} -> ${plan.targetTable} (${plan.mode})`)(plan);

    // 3. After a full reload, report target rows gone from the source (and delete them if asked).
    if (plan.mode === 'full') {
      progress.step = 'reconciling';
      await summarized(reconcileMissingRows, `rows of ${plan.targetTable} gone from ${plan.sourceTable}`)(plan);
    }

    // 4. Close the run: success makes its watermark the next run's starting point.
    return summarized(finishSync, `etl_control: ${plan.targetTable} success`)(plan, { status: 'success' });
  });
}

function messageOf(error: unknown): string {
  const cause = (error as { cause?: { message?: string } }).cause;
  return cause?.message ?? (error as Error).message ?? String(error);
}
