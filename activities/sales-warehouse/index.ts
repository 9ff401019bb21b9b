import { beating } from '../../lib/activity/heartbeat';
import type { AlertSettings, RunRef, SalesThresholds, SalesWarehouseOptions, SourceConfig, SourceExtract } from '../../lib/contracts/sales-warehouse';
import { type CleanStats, cleanSales } from './clean';
import { type ExtractMode, extractSource, type Landing, type SalesDeps } from './extract';
import { dropSalesStaging, type LoadRequest, loadWarehouse } from './load';
import { validateSales } from './quality';
import { detectAnomalies } from './alerts';
import { listNewLakeFiles, type NewLakeFile, recordLakeFile } from './lake-watcher';

export type { SalesDeps, Landing, ExtractMode } from './extract';
export type { CleanStats } from './clean';
export type { NewLakeFile } from './lake-watcher';
export type { Loaded, LoadRequest } from './load';

/** The salesWarehouse activities, bound to the warehouse (target), the default source database and the lake's S3. */
export function createSalesActivities(deps: SalesDeps) {
  return {
    salesExtractSource: beating((source: SourceConfig, index: number, run: RunRef, landing: Landing, mode?: ExtractMode) => extractSource(deps, source, index, run, landing, mode)),
    salesClean: beating((options: SalesWarehouseOptions, run: RunRef, extracts: SourceExtract[], asOf: string) => cleanSales(deps, options, run, extracts, asOf)),
    salesValidate: (run: RunRef, stats: CleanStats, thresholds: SalesThresholds, asOf: string) => validateSales(deps, run, stats, thresholds, asOf),
    salesLoad: beating((run: RunRef, request: LoadRequest) => loadWarehouse(deps, run, request)),
    // Called by runs recorded before the load kept the KPI views' aggregates current (sql/sales-warehouse/008): the
    // views are plain views over them now, nothing is left to refresh.
    salesRefreshKpis: async (): Promise<number> => 0,
    salesDropStaging: (run: RunRef) => dropSalesStaging(deps, run),
    salesListNewLakeFiles: (request: { prefix: string; limit: number }) => listNewLakeFiles(deps, request),
    salesRecordLakeFile: (file: NewLakeFile, watcherId: string) => recordLakeFile(deps, file, watcherId),
    salesDetectAnomalies: (run: RunRef, asOf: string, settings: AlertSettings) => detectAnomalies(deps, run, asOf, settings),
  };
}

export type SalesActivities = ReturnType<typeof createSalesActivities>;
