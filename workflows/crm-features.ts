import { ApplicationFailure, defineQuery, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { CrmActivities } from '../activities/crm-features';
import {
  crmFeaturesInputSchema, type CrmFeaturesInput, type CrmFeaturesProgress, type CrmFeaturesResult, type StepMetric,
} from '../lib/contracts/crm-features';
import { summarized } from '../lib/workflow/activity-summary';
import { ErrorType } from '../lib/workflow/errors';
import { runPipeline } from '../lib/workflow/pipeline-run';
import { retryPolicies } from '../lib/workflow/retry-policies';
import { QUALITY_GRADE } from '../lib/workflow/search-attributes';
import { localDateTime } from '../lib/workflow/zoned-time';

// Every step: up to 3 attempts, exponential backoff (1 s, 2 s); a dead worker is noticed after 20 s without a heartbeat.
const { crmExtract, crmClean, crmComputeFeatures, crmValidate, crmLoad, crmDropStaging } = proxyActivities<CrmActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '20 seconds',
  retry: retryPolicies.bigStatement,
});

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
    const { workflowId, runId, startTime } = workflowInfo();
    const run = { workflowId, runId };
    // The data's timestamps are the business's local time (São Paulo by default).
    const asOf = options.asOf ?? localDateTime(startTime, options.timeZone);
    const done = (metric: StepMetric) => progress.steps.push({ step: metric.step, rows: metric.rows, durationMs: metric.durationMs });
    pipelineRun.onExit(() => crmDropStaging(run));

    // 1. Extract: tbl_transactions (COPY from the read-only source) and every Parquet, CSV and JSON-lines file under
    //    the lake prefix, into one staging table of this run, each row tagged with where it came from.
    progress.step = 'extracting';
    const extracted = await summarized(crmExtract, `${options.sourceTable} + lake ${options.lakePrefix}`)(options, run);
    done(extracted);

    // 2. Clean: bad types, negative amounts, future dates, non-completed status, repeated transaction ids ->
    //    etl_quarantine with the reason; the rest typed.
    progress.step = 'cleaning';
    const cleaned = await crmClean(options, run, asOf);
    done(cleaned);

    // 3. Features per user, set-based in Postgres (formulas in docs/pipelines/crm-features.md).
    progress.step = 'computing features';
    const features = await crmComputeFeatures(options, run, asOf);
    done(features);

    // 4. Quality gate: 11 checks on the raw data and the features, score and grade, report stored.
    //    A critical failure stops here, before anything is loaded. The grade goes with the run's outcome, so the
    //    Web UI's list can filter on it.
    progress.step = 'validating quality';
    const { durationMs: validateMs, ...quality } = await crmValidate(options, run, asOf);
    done({ step: 'validate', rows: features.rows, durationMs: validateMs });
    pipelineRun.outcomeAttributes.push({ key: QUALITY_GRADE, value: quality.grade });
    const result: CrmFeaturesResult = {
      pipeline: 'crmFeatures', validateOnly: options.validateOnly, loadStrategy: options.loadStrategy,
      recordsExtracted: extracted.rows, bySource: extracted.bySource, recordsQuarantined: cleaned.quarantined,
      recordsCleaned: cleaned.rows, usersTransformed: features.rows, recordsLoaded: 0, backupTable: null, backupsDropped: [],
      quality, qualityScore: quality.score, successRate: extracted.rows ? Math.round((cleaned.rows / extracted.rows) * 10000) / 10000 : 0,
      steps: progress.steps,
    };
    if (!quality.passed) {
      throw ApplicationFailure.nonRetryable(
        `quality gate failed (grade ${quality.grade}, score ${quality.score}): critical check(s) ${quality.criticalFailures.join(', ')}; nothing was loaded`,
        ErrorType.QualityGateFailed, quality);
    }

    // 5. Load (unless validateOnly): backup of user_features and merge/replace/append in one transaction;
    //    backups older than backupRetentionDays are dropped.
    if (!options.validateOnly) {
      progress.step = 'loading';
      const loaded = await summarized(crmLoad, `ml_features.user_features (${options.loadStrategy}, with backup)`)(run, { strategy: options.loadStrategy, backupRetentionDays: options.backupRetentionDays });
      done(loaded);
      Object.assign(result, { recordsLoaded: loaded.rows, backupTable: loaded.backupTable, backupsDropped: loaded.backupsDropped });
    }
    return result;
  });
}
