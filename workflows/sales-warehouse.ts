import { ApplicationFailure, defineQuery, log, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { SalesActivities } from '../activities/sales-warehouse';
import {
  type AlertsOutcome, DATASETS, salesWarehouseInputSchema, type SalesWarehouseInput, type SalesWarehouseProgress, type SalesWarehouseResult, type SourceSummary,
  type StepMetric,
} from '../lib/contracts/sales-warehouse';
import { summarized } from '../lib/workflow/activity-summary';
import { cancellationType } from '../lib/workflow/cancellation';
import { ErrorType } from '../lib/workflow/errors';
import { runPipeline } from '../lib/workflow/pipeline-run';
import { retryPolicies } from '../lib/workflow/retry-policies';
import { localDateTime } from '../lib/workflow/zoned-time';

const steps = () => proxyActivities<SalesActivities>({
  startToCloseTimeout: '30 minutes',
  cancellationType: cancellationType(),
  heartbeatTimeout: '20 seconds',
  retry: retryPolicies.bigStatement,
});

// A short step that reports its own trouble: two attempts, then the run goes on without it.
const { salesDetectAnomalies } = proxyActivities<SalesActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 2 },
});

/** Runs recorded before incremental extraction read every source whole. */
const INCREMENTAL_EXTRACT = 'sales-incremental-extract';
/** Runs recorded before it refreshed the KPI views after every load, changed or not. */
const KPI_REFRESH_WHEN_CHANGED = 'sales-kpi-refresh-when-changed';
/** Runs recorded before the load kept the KPI views current (views over aggregates it updates) refreshed them after it. */
const KPIS_CURRENT_AFTER_LOAD = 'sales-kpis-current-after-load';
/** Runs recorded before the anomaly alerts end after the KPI refresh. */
const ANOMALY_ALERTS = 'sales-anomaly-alerts';

export const salesProgressQuery = defineQuery<SalesWarehouseProgress>('progress');

/** REST APIs + CSV/XLSX files + databases -> raw copy in S3 -> clean, standardize, quality gate -> star schema -> KPI views. */
export async function salesWarehouse(input: SalesWarehouseInput = {}): Promise<SalesWarehouseResult> {
  const progress: SalesWarehouseProgress = { step: 'validating input', steps: [] };
  return runPipeline({
    workflowType: 'salesWarehouse', inputSchema: salesWarehouseInputSchema, progressQuery: salesProgressQuery, progress,
    succeeded: (result: SalesWarehouseResult) => ({ rowsLoaded: result.rowsLoaded }),
    failureOutcomeBeforePatch: ({ step }) => step !== 'validating input',
  }, input, async (options, pipelineRun) => {
    const { salesExtractSource, salesClean, salesValidate, salesLoad, salesRefreshKpis, salesDropStaging } = steps();
    const { workflowId, runId, startTime } = workflowInfo();
    const run = { workflowId, runId };
    const today = localDateTime(startTime, options.timeZone).slice(0, 10);
    const asOf = options.asOf ?? today;
    const done = (metric: StepMetric) => progress.steps.push(metric);
    pipelineRun.onExit(() => salesDropStaging(run));

    // 1. Extract every source in its own activity, in parallel: streamed into a staging table of the run, and landed
    //    unchanged in the lake's raw zone (raw/<source>/<yyyy>/<mm>/<dd>/<run-id>.<ext>).
    //    An incremental run reads only what changed since the last load: a database by its stamp column, a file whose
    //    version is unchanged is skipped, a REST API by its updated-since parameter (docs: "New and changed rows").
    progress.step = 'extracting';
    const started = Date.now();
    const changesOnly = patched(INCREMENTAL_EXTRACT) && options.loadStrategy === 'incremental';
    const extracts = await Promise.all(options.sources.map((source, index) =>
      summarized(salesExtractSource, `${source.kind} source ${source.name}`)(source, index, run, { date: today, runId },
        ...(changesOnly ? [{ changesOnly }] : []))));
    for (const e of extracts) done({ step: `extract ${e.source}`, rows: e.rows, durationMs: e.durationMs });
    done({ step: 'extract', rows: extracts.reduce((s, e) => s + e.rows, 0), durationMs: Date.now() - started });

    // 2. Clean and standardize, set-based: rows that cannot be fixed -> etl_quarantine; duplicates by sale_id removed.
    progress.step = 'cleaning';
    const { durationMs: cleanMs, ...stats } = await salesClean(options, run, extracts, asOf);
    done({ step: 'clean', rows: stats.rawRows + stats.leadRows, durationMs: cleanMs });

    // 3. Quality gate: a check over its threshold stops the run here, before anything is loaded.
    progress.step = 'validating quality';
    const validateStarted = Date.now();
    const quality = await salesValidate(run, { ...stats, durationMs: cleanMs }, options.thresholds, asOf);
    done({ step: 'validate', rows: stats.cleanRows, durationMs: Date.now() - validateStarted });
    if (!quality.passed) {
      throw ApplicationFailure.nonRetryable(`quality gate failed: ${quality.failed.map((name) => {
        const check = quality.checks.find((c) => c.name === name)!;
        return `${name} ${check.value} (threshold ${check.threshold})`;
      }).join('; ')}; nothing was loaded`, ErrorType.QualityGateFailed, quality);
    }

    // 4. Load the star schema (incremental by watermark, merge of a window, or full rebuild swapped in atomically).
    progress.step = 'loading';
    //    The KPI views' aggregates move with the facts, and customers' RFM segments and value tiers are recomputed as
    //    of asOf (type 1), in the same load: the KPIs are current when it commits.
    const loaded = await summarized(salesLoad, `sales_dw star schema (${options.loadStrategy})`)(run, { strategy: options.loadStrategy, window: options.window, asOf });
    done({ step: 'load', rows: loaded.rows, durationMs: loaded.durationMs });

    // 5. (Runs recorded before the load kept the KPIs current refreshed them here, when the load changed anything.)
    const unchanged = loaded.rows === 0 && loaded.leads === 0 && loaded.customersResegmented === 0;
    if (!patched(KPIS_CURRENT_AFTER_LOAD) && options.loadStrategy !== 'full' && !(unchanged && patched(KPI_REFRESH_WHEN_CHANGED))) {
      progress.step = 'refreshing KPIs';
      done({ step: 'kpi refresh', rows: loaded.rows, durationMs: await salesRefreshKpis() });
    }

    // 6. Anomaly alerts: the last complete day's KPIs against the same weekday of previous weeks; stored, and POSTed
    //    to ALERT_WEBHOOK_URL when set. Never fails the run (the activity reports its own trouble in the result).
    let alerts: AlertsOutcome | undefined;
    if (patched(ANOMALY_ALERTS)) {
      progress.step = 'checking anomalies';
      const alertsStarted = Date.now();
      alerts = await salesDetectAnomalies(run, asOf, options.alerts).catch((error: Error) => {
        log.warn('anomaly check failed; the load stands', { error: error.message });
        return undefined;
      });
      done({ step: 'anomaly check', rows: alerts?.found ?? 0, durationMs: Date.now() - alertsStarted });
    }

    const sources: Record<string, SourceSummary> = {};
    for (const e of extracts) {
      sources[e.source] = { extracted: e.rows, quarantined: stats.quarantinedBySource[e.source] ?? 0, loaded: loaded.bySource[e.source] ?? 0, rawKeys: e.rawKeys,
        ...(e.read ? { read: e.read, unchanged: e.unchangedRows ?? 0 } : {}) };
    }
    const byDataset = {} as SalesWarehouseResult['byDataset'];
    for (const dataset of DATASETS) {
      const of = extracts.filter((e) => e.dataset === dataset);
      byDataset[dataset] = {
        rowsExtracted: of.reduce((sum, e) => sum + e.rows, 0),
        rowsQuarantined: of.reduce((sum, e) => sum + (stats.quarantinedBySource[e.source] ?? 0), 0),
        rowsLoaded: dataset === 'sales' ? loaded.rows : loaded.leads,
      };
    }
    return {
      pipeline: 'salesWarehouse', loadStrategy: options.loadStrategy, sources, byDataset,
      // `?? 0`: a clean step finished by a worker older than rowsUnchanged returns none.
      rowsExtracted: extracts.reduce((sum, e) => sum + e.rows, 0), rowsUnchanged: stats.unchangedRows ?? 0,
      rowsQuarantined: stats.quarantined, duplicatesRemoved: stats.duplicatesRemoved,
      rowsLoaded: loaded.rows, leadsLoaded: loaded.leads, partitionsCreated: loaded.partitionsCreated, watermark: loaded.watermark,
      ...(loaded.customersResegmented === undefined ? {} : { customersResegmented: loaded.customersResegmented }),
      ...(alerts ? { alerts } : {}),
      quality, steps: progress.steps,
    };
  });
}
