import { ApplicationFailure, CancellationScope, defineQuery, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { CrmActivities, Extracted, SourceCopy } from '../activities/crm-features';
import {
  crmFeaturesInputSchema, gateFailureMessage, type CrmFeaturesInput, type CrmFeaturesOptions, type CrmFeaturesProgress, type CrmFeaturesResult,
  type IncrementalPlan, type OperationSettings, type RunRef, type StepMetric,
} from '../lib/contracts/crm-features';
import { summarized } from '../lib/workflow/activity-summary';
import { cancellationType } from '../lib/workflow/cancellation';
import { ErrorType } from '../lib/workflow/errors';
import { runPipeline } from '../lib/workflow/pipeline-run';
import { retryPolicies } from '../lib/workflow/retry-policies';
import { QUALITY_GRADE } from '../lib/workflow/search-attributes';
import { localDateTime } from '../lib/workflow/zoned-time';

/**
 * The activities with one step's timeout and attempts (input `operations`; default 30 minutes and 10 attempts, backoff
 * 1 s doubling to 2 min); a dead worker is noticed after 20 s without a heartbeat.
 */
const activitiesFor = ({ timeoutMinutes, maxAttempts }: OperationSettings) => proxyActivities<CrmActivities>({
  startToCloseTimeout: timeoutMinutes * 60_000,
  cancellationType: cancellationType(),
  heartbeatTimeout: '20 seconds',
  retry: { ...retryPolicies.bigStatement, maximumAttempts: maxAttempts },
});

/** Runs recorded before this patch extract in one activity (crmExtract); after it, the extract is shared by workers. */
const EXTRACT_SHARED = 'crm-extract-shared';

export const crmFeaturesProgressQuery = defineQuery<CrmFeaturesProgress>('progress');

/** S3 lake + tbl_transactions -> clean -> per-user ML features -> 11 quality checks, A-F -> ml_features.user_features with backup. */
export async function crmFeatures(input: CrmFeaturesInput = {}): Promise<CrmFeaturesResult> {
  const progress: CrmFeaturesProgress = { step: 'validating input', steps: [] };
  return runPipeline({
    workflowType: 'crmFeatures', inputSchema: crmFeaturesInputSchema, progressQuery: crmFeaturesProgressQuery, progress,
    succeeded: (result: CrmFeaturesResult) => ({ outcome: result.validateOnly ? 'validated' : 'success', rowsLoaded: result.recordsLoaded }),
    failureOutcomeBeforePatch: ({ step }) => step !== 'validating input',
  }, input, async (options, pipelineRun) => {
    if (options.failAfterRows !== undefined && patched('crm-no-test-hook-input')) {
      throw ApplicationFailure.nonRetryable('input.failAfterRows: not an input (it was a test hook)', ErrorType.InvalidInput);
    }
    const ops = options.operations;
    const extractSteps = activitiesFor(ops.extract);
    const { crmExtract } = extractSteps;
    const { crmClean } = activitiesFor(ops.clean);
    const { crmComputeFeatures } = activitiesFor(ops.features);
    const { crmValidate } = activitiesFor(ops.validate);
    const { crmLoad } = activitiesFor(ops.load);
    const { crmDropStaging } = activitiesFor(ops.cleanup);
    const empty: CrmFeaturesResult = {
      pipeline: 'crmFeatures', validateOnly: options.validateOnly, loadStrategy: options.loadStrategy, recordsExtracted: 0, bySource: {},
      recordsQuarantined: 0, recordsCleaned: 0, usersTransformed: 0, recordsLoaded: 0, featuresUnavailable: [], backupTable: null, backupsDropped: [], quality: null,
      qualityScore: null, successRate: 0, steps: progress.steps,
    };

    // Restore instead of a run: the backup named replaces the table (the table as it was is backed up first).
    if (options.restoreBackup !== undefined && patched('crm-restore-backup-input')) {
      progress.step = 'restoring';
      const { crmRestoreBackup } = activitiesFor(ops.restore);
      const restored = await summarized(crmRestoreBackup, `${options.restoreBackup} -> ml_features.user_features`)(options.restoreBackup);
      return { ...empty, recordsLoaded: restored.rows, recordsRestored: restored.rows, restoredFrom: restored.restoredFrom, backupTable: restored.backupTable };
    }

    const { workflowId, runId, startTime } = workflowInfo();
    const run = { workflowId, runId };
    // The data's timestamps are the business's local time (São Paulo by default).
    const asOf = options.asOf ?? localDateTime(startTime, options.timeZone);
    const done = (metric: StepMetric) => progress.steps.push({ step: metric.step, rows: metric.rows, durationMs: metric.durationMs });
    pipelineRun.onExit(() => crmDropStaging(run));

    // 1. Extract: tbl_transactions (COPY from the read-only source) and every Parquet, CSV and JSON-lines file under
    //    the lake prefix, into one staging table of this run, each row tagged with where it came from: the table and
    //    each lake file (or part of the lake) in an activity of its own, in parallel on whichever workers are free.
    //    Incremental mode: only table rows written since the last successful incremental run's snapshot and lake files
    //    new or changed since, unless everything must be read (the plan says why); the plan goes to every later step.
    progress.step = 'extracting';
    const incremental = options.mode === 'incremental' && patched('crm-incremental-mode');
    const extracted = patched(EXTRACT_SHARED)
      ? await extractShared(extractSteps, options, run, incremental ? asOf : undefined)
      : incremental
        ? await summarized(crmExtract, `${options.sourceTable} + lake ${options.lakePrefix}, what changed since the last run`)(options, run, asOf)
        : await summarized(crmExtract, `${options.sourceTable} + lake ${options.lakePrefix}`)(options, run);
    const plan = extracted.plan;
    done(extracted);

    // 2. Clean: bad types, negative amounts, future dates, non-completed status, repeated transaction ids ->
    //    etl_quarantine with the reason; the rest typed.
    progress.step = 'cleaning';
    const cleaned = plan ? await crmClean(options, run, asOf, plan) : await crmClean(options, run, asOf);
    done(cleaned);

    // 3. Features per user, set-based in Postgres (formulas in docs/pipelines/crm-features.md). Incremental: the
    //    touched users recomputed, the others' windows moved from stored aggregates, ranks over everyone.
    progress.step = 'computing features';
    const features = plan ? await crmComputeFeatures(options, run, asOf, plan) : await crmComputeFeatures(options, run, asOf);
    done(features);

    // 4. Quality gate: 11 checks on the raw data and the features, each critical, high, medium or low; score and
    //    grade, report stored. A critical failure (or a high one, unless allowHigh) stops here, before anything is loaded. The grade goes with the run's outcome, so the
    //    Web UI's list can filter on it.
    progress.step = 'validating quality';
    const { durationMs: validateMs, ...quality } = plan ? await crmValidate(options, run, asOf, plan) : await crmValidate(options, run, asOf);
    done({ step: 'validate', rows: features.rows, durationMs: validateMs });
    pipelineRun.outcomeAttributes.push({ key: QUALITY_GRADE, value: quality.grade });
    const result: CrmFeaturesResult = {
      ...empty, recordsExtracted: extracted.rows, bySource: extracted.bySource, recordsQuarantined: cleaned.quarantined,
      recordsCleaned: cleaned.rows, usersTransformed: features.rows,
      // `?? []`: a features step finished by a worker older than this field reports none.
      featuresUnavailable: features.unavailable ?? [],
      quality, qualityScore: quality.score, successRate: extracted.rows ? Math.round((cleaned.rows / extracted.rows) * 10000) / 10000 : 0,
      ...(plan ? {
        mode: plan.kind === 'incremental' ? 'incremental' : 'full', ...(plan.reason ? { fullReason: plan.reason } : {}),
        usersRecomputed: features.usersRecomputed,
      } as const : {}),
    };
    // Critical failures stop here, and high ones unless allowHigh; medium and low ones are in the report only.
    if (!quality.passed) throw ApplicationFailure.nonRetryable(gateFailureMessage(quality), ErrorType.QualityGateFailed, quality);

    // 5. Load (unless validateOnly): backup of user_features and merge/replace/append in one transaction;
    //    backups older than backupRetentionDays are dropped.
    if (!options.validateOnly) {
      progress.step = 'loading';
      const request = { strategy: options.loadStrategy, backupRetentionDays: options.backupRetentionDays, ...(plan ? { plan, asOf } : {}) };
      const loaded = await summarized(crmLoad, `ml_features.user_features (${options.loadStrategy}, with backup)`)(run, request);
      done(loaded);
      Object.assign(result, { recordsLoaded: loaded.rows, backupTable: loaded.backupTable, backupsDropped: loaded.backupsDropped });
    }
    return result;
  });
}

/**
 * The extract shared by workers: the staging table and what to read, then the table and each part of the lake copied
 * side by side (each its own activity, retried on its own), then the counts and, incremental, the plan. The first
 * copy to fail cancels the others (their statements end) before the run fails. An incremental run that finds rows
 * deleted from the table reads everything again, once.
 */
async function extractShared(steps: ReturnType<typeof activitiesFor>, options: CrmFeaturesOptions, run: RunRef, asOf: string | undefined): Promise<Extracted & { plan?: IncrementalPlan }> {
  const { crmExtractStart, crmExtractTable, crmExtractFiles, crmExtractFinish } = steps;
  let startedAt: number | undefined;
  for (let rebuild: string | undefined; ;) {
    const what = asOf === undefined ? `lake ${options.lakePrefix}` : `lake ${options.lakePrefix}, what changed since the last run`;
    const plan = await summarized(crmExtractStart, `staging table; ${what}`)(options, run, asOf, rebuild);
    // A second round (rebuild) counts from the first one's start.
    startedAt ??= plan.startedAt;
    const copies = await allOrCancelled([
      () => summarized(crmExtractTable, options.sourceTable)(options, run, plan.source).then((copy) => [copy]),
      ...plan.parts.map((files) => () => summarized(crmExtractFiles, files.length === 1 ? files[0].key : `${files.length} files from ${files[0].key}`)(
        options, run, plan.bucket, files)),
    ]);
    const finished = await crmExtractFinish(options, run, { ...plan, startedAt }, copies.flat());
    if ('rebuild' in finished) rebuild = finished.rebuild;
    else return finished;
  }
}

/** Every task's result in order; the first failure cancels the others and, once they have stopped, is thrown. */
async function allOrCancelled(tasks: Array<() => Promise<SourceCopy[]>>): Promise<SourceCopy[][]> {
  const scope = new CancellationScope();
  let failure: { error: unknown } | undefined;
  const settled = await scope.run(() => Promise.allSettled(tasks.map((task) => task().catch((error: unknown) => {
    if (!failure) {
      failure = { error };
      scope.cancel();
    }
    throw error;
  }))));
  if (failure) throw failure.error;
  return settled.map((s) => (s as PromiseFulfilledResult<SourceCopy[]>).value);
}
