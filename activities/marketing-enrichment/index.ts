import type { EnrichmentOptions } from '../../lib/contracts/marketing-enrichment';
import { enrichBatch, type BatchRequest } from './enrich-batch';
import { exportResults, type ExportRequest } from './export-results';
import { planBatches, type BatchPlanRequest } from './plan-batches';
import { stageCustomers, type MarketingDeps, type RunRef } from './stage-customers';

export type { BatchOutcome, BatchRequest } from './enrich-batch';
export type { BatchPlan } from './plan-batches';
export type { StagedCustomers } from './stage-customers';
export type { ExportedFiles } from './export-results';

/** The marketingEnrichment activities, bound to the target database and the configured Gemini, S3 and SFTP. */
export function createMarketingActivities(deps: MarketingDeps) {
  return {
    stageCustomers: (options: EnrichmentOptions, run: RunRef) => stageCustomers(deps, options, run),
    planBatches: (request: BatchPlanRequest) => planBatches(deps, request),
    enrichBatch: (request: BatchRequest) => enrichBatch(deps, request),
    exportResults: (request: ExportRequest) => exportResults(deps, request),
  };
}

export type MarketingActivities = ReturnType<typeof createMarketingActivities>;
