import {
  ApplicationFailure, condition, continueAsNew, defineQuery, defineSignal, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import { summarized } from '../lib/workflow/activity-summary';
import type { CrmActivities } from '../activities/crm-features';
import { crmFeaturesInputSchema } from '../lib/contracts/crm-features';
import {
  type BatchRef, batchSchema, crmStreamInputSchema, type CrmStreamInput, type CrmStreamProgress, type CrmStreamResult, type StreamState,
} from '../lib/contracts/crm-features-stream';
import { PIPELINE } from '../lib/workflow/search-attributes';
import { describeIssues } from '../lib/workflow/validation';
import { ErrorType } from '../lib/workflow/errors';
import { retryPolicies } from '../lib/workflow/retry-policies';
import { localDateTime } from '../lib/workflow/zoned-time';

// Same policy as crmFeatures: 10 attempts, 1 s doubling to 2 min; a dead worker is noticed after 20 s without a heartbeat.
const { crmExtract, crmClean, crmStoreCleanTransactions, crmDropStaging, crmApplyBatch } = proxyActivities<CrmActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '20 seconds',
  retry: retryPolicies.bigStatement,
});

/** A new batch of transactions: `{ batchId, key }`, the key of one Parquet/CSV/JSON-lines file in S3 (never rows). */
export const addBatchSignal = defineSignal<[BatchRef]>('addBatch');
/** Applies what is pending, then ends the workflow with its summary. */
export const stopStreamSignal = defineSignal('stop');
export const crmStreamProgressQuery = defineQuery<CrmStreamProgress>('progress');

/** "Now" on the data's local clock. */
const localNow = (timeZone: string) => localDateTime(new Date(), timeZone);

/**
 * Streaming mode of crmFeatures: runs until stopped, receives transaction batches by signal and updates only the
 * features of the users in each batch. Continues as new every `batchesPerRun` batches (or when Temporal suggests
 * it), carrying its counters and any batch not applied yet, so its history stays short.
 */
export async function crmFeaturesStream(input: CrmStreamInput = {}): Promise<CrmStreamResult> {
  const parsed = crmStreamInputSchema.safeParse(input ?? {});
  if (!parsed.success) throw ApplicationFailure.nonRetryable(describeIssues('input', parsed.error), ErrorType.InvalidInput);
  const options = parsed.data;
  const { workflowId, runId } = workflowInfo();
  const carried: StreamState = options.state ?? {
    batchesApplied: 0, batchesIgnored: 0, batchesRejected: 0, rowsApplied: 0, rowsQuarantined: 0, usersUpdated: 0, runs: 0, seeded: false, pending: [], lastBatch: null, rejected: [],
  };
  const pending: BatchRef[] = [...carried.pending];
  const progress: CrmStreamProgress = { ...carried, runs: carried.runs + 1, pending: pending.length, step: 'waiting' };
  let stopping = false;
  setHandler(crmStreamProgressQuery, () => ({ ...progress, pending: pending.length }));
  setHandler(addBatchSignal, (batch) => {
    const checked = batchSchema.safeParse(batch);
    if (checked.success) pending.push(checked.data);
    else {
      // A bad signal cannot fail the stream: it is counted and shown by the progress query (last 10).
      progress.batchesRejected++;
      const batchId = (batch as { batchId?: unknown } | undefined)?.batchId;
      progress.rejected = [...progress.rejected, { batchId: batchId === undefined ? null : String(batchId).slice(0, 100), error: describeIssues('batch', checked.error) }].slice(-10);
    }
  });
  setHandler(stopStreamSignal, () => {
    stopping = true;
  });
  if (progress.runs === 1) upsertSearchAttributes([{ key: PIPELINE, value: 'crmFeaturesStream' }]);

  // 1. First run only: store every clean transaction of the sources, so each user is recomputed from all of theirs.
  if (options.seedFromSources && !progress.seeded) {
    progress.step = 'seeding';
    const run = { workflowId, runId };
    const seedOptions = crmFeaturesInputSchema.parse({ sourceTable: options.sourceTable, lakePrefix: options.lakePrefix, ticketCutoffs: options.ticketCutoffs });
    try {
      await crmExtract(seedOptions, run);
      await crmClean(seedOptions, run, options.asOf ?? localNow(options.timeZone));
      await crmStoreCleanTransactions(run);
    } finally {
      await crmDropStaging(run);
    }
  }
  progress.seeded = true;

  // 2. Each batch in arrival order: cleaned with the same rules, stored, its users recomputed and merged, once.
  let appliedThisRun = 0;
  for (;;) {
    progress.step = stopping ? 'stopping' : 'waiting';
    await condition(() => pending.length > 0 || stopping);
    while (pending.length > 0) {
      progress.step = 'applying';
      const applied = await summarized(crmApplyBatch, `batch ${pending[0].batchId}: ${pending[0].key}`)({ streamId: workflowId, batch: pending[0], asOf: options.asOf ?? localNow(options.timeZone), ticketCutoffs: options.ticketCutoffs });
      pending.shift();
      appliedThisRun++;
      progress.lastBatch = applied;
      if (applied.duplicate) progress.batchesIgnored++;
      else {
        progress.batchesApplied++;
        progress.rowsApplied += applied.rows;
        progress.rowsQuarantined += applied.quarantined;
        progress.usersUpdated += applied.users;
      }
    }
    if (stopping) {
      progress.step = 'stopped';
      return { ...progress, pending: 0 };
    }
    // 3. Keep the history short: continue as new, handing over the counters and anything that arrived meanwhile.
    if (appliedThisRun >= options.batchesPerRun || workflowInfo().continueAsNewSuggested) {
      const { batchesApplied, batchesIgnored, batchesRejected, rowsApplied, rowsQuarantined, usersUpdated, runs, seeded, lastBatch, rejected } = progress;
      const state: StreamState = { batchesApplied, batchesIgnored, batchesRejected, rowsApplied, rowsQuarantined, usersUpdated, runs, seeded, pending, lastBatch, rejected };
      await continueAsNew<typeof crmFeaturesStream>({ ...input, state });
    }
  }
}
