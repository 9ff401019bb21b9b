import {
  ApplicationFailure, ParentClosePolicy, condition, continueAsNew, defineQuery, defineSignal, log,
  proxyActivities, setHandler, startChild, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { SalesActivities } from '../activities/sales-warehouse';
import {
  lakeWatcherInputSchema, type LakeWatcherInput, type LakeWatcherProgress, type LakeWatcherResult,
} from '../lib/contracts/sales-warehouse-watcher';
import type { SalesWarehouseInput } from '../lib/contracts/sales-warehouse';
import { ErrorType } from '../lib/workflow/errors';
import { retryPolicies } from '../lib/workflow/retry-policies';
import { PIPELINE } from '../lib/workflow/search-attributes';
import { describeIssues } from '../lib/workflow/validation';
import type { salesWarehouse } from './sales-warehouse';

const { salesListNewLakeFiles, salesRecordLakeFile } = proxyActivities<SalesActivities>({
  startToCloseTimeout: '5 minutes',
  retry: retryPolicies.shortStep,
});

/** Ends the watcher after the file in hand (if any) has its run started. Cancelling it in the Web UI works too. */
export const stopLakeWatcherSignal = defineSignal('stop');
export const lakeWatcherProgressQuery = defineQuery<LakeWatcherProgress>('progress');

/**
 * The event trigger of salesWarehouse: lists a lake prefix every `pollSeconds`, and starts a salesWarehouse run for
 * each new .csv/.xlsx file (a new key, or a new ETag of a key: the file was replaced), one file per run, its source
 * that file. The run's workflow id is derived from key and ETag and may never be reused, so a start repeated after a
 * crash is refused by Temporal instead of loading the file twice. Runs until stopped (signal `stop`, or cancel);
 * continues as new every `pollsPerRun` listings (about 10 events each, plus a few per file started), so its history stays short however long it runs.
 */
export async function salesLakeWatcher(input: LakeWatcherInput, carried?: LakeWatcherProgress): Promise<LakeWatcherResult> {
  const parsed = lakeWatcherInputSchema.safeParse(input ?? {});
  if (!parsed.success) throw ApplicationFailure.nonRetryable(describeIssues('input', parsed.error), ErrorType.InvalidInput);
  const options = parsed.data;
  const { workflowId } = workflowInfo();
  const progress: LakeWatcherProgress = carried ?? { step: 'starting', polls: 0, filesStarted: 0, lastFiles: [] };
  let stopping = false;
  setHandler(lakeWatcherProgressQuery, () => progress);
  setHandler(stopLakeWatcherSignal, () => {
    stopping = true;
  });
  if (!carried) upsertSearchAttributes([{ key: PIPELINE, value: 'salesLakeWatcher' }]);

  for (let polls = 0; !stopping; polls++) {
    if (polls >= options.pollsPerRun || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof salesLakeWatcher>(input, { ...progress, step: 'continued' });
    }
    progress.step = 'listing';
    const files = await salesListNewLakeFiles({ prefix: options.prefix, limit: options.maxFilesPerPoll });
    progress.polls++;
    progress.lastPollAt = new Date().toISOString();
    for (const file of files) {
      progress.step = `starting a run for ${file.key}`;
      // Merge by default: a file's sales load whatever their dates (an incremental run skips rows older than the watermark).
      const runInput: SalesWarehouseInput = {
        loadStrategy: 'merge', ...options.run,
        sources: [{ kind: 'file', name: 'lake', dataset: options.dataset, location: `s3:${file.key}` }],
      };
      let status: 'started' | 'already-started' = 'started';
      try {
        await startChild<typeof salesWarehouse>('salesWarehouse', {
          workflowId: file.workflowId, args: [runInput],
          // The run goes on when the watcher continues as new or stops; its id is never reused for another file.
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        });
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        status = 'already-started';
      }
      await salesRecordLakeFile(file, workflowId);
      if (status === 'started') progress.filesStarted++;
      log.info('lake file', { key: file.key, etag: file.etag, run: file.workflowId, status });
      progress.lastFiles = [{ key: file.key, etag: file.etag, workflowId: file.workflowId, status }, ...progress.lastFiles].slice(0, 10);
    }
    progress.step = 'waiting';
    await condition(() => stopping, options.pollSeconds * 1000);
  }
  progress.step = 'stopped';
  return { stopped: true, polls: progress.polls, filesStarted: progress.filesStarted };
}
