export { incrementalSync, progressQuery } from './incremental-sync';
export { marketingEnrichment, enrichmentProgressQuery } from './marketing-enrichment';
export { mailingCampaigns, mailingProgressQuery } from './mailing-campaigns';
export { crmFeatures, crmFeaturesProgressQuery } from './crm-features';
export { salesWarehouse, salesProgressQuery } from './sales-warehouse';
export { crmFeaturesStream, addBatchSignal, stopStreamSignal, crmStreamProgressQuery } from './crm-features-stream';
export { salesLakeWatcher, stopLakeWatcherSignal, lakeWatcherProgressQuery } from './sales-warehouse-watcher';
