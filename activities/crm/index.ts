import type { CrmFeaturesOptions, RunRef } from '../../lib/crm-features';
import { type CrmDeps, extractTransactions } from './extract';
import { dropStaging, type LoadRequest, loadFeatures, restoreBackup } from './load';
import { validateQuality } from './quality';
import { cleanTransactions, computeFeatures } from './transform';

export type { CrmDeps, Extracted } from './extract';
export type { Cleaned, Transformed } from './transform';
export type { Loaded, LoadRequest } from './load';

/** The crmFeatures activities, bound to the source (read-only) and target databases and the lake's S3. */
export function createCrmActivities(deps: CrmDeps) {
  return {
    crmExtract: (options: CrmFeaturesOptions, run: RunRef) => extractTransactions(deps, options, run),
    crmClean: (options: CrmFeaturesOptions, run: RunRef, asOf: string) => cleanTransactions(deps, options, run, asOf),
    crmComputeFeatures: (options: CrmFeaturesOptions, run: RunRef, asOf: string) => computeFeatures(deps, options, run, asOf),
    crmValidate: (options: CrmFeaturesOptions, run: RunRef, asOf: string) => validateQuality(deps, options, run, asOf),
    crmLoad: (run: RunRef, request: LoadRequest) => loadFeatures(deps, run, request),
    crmRestoreBackup: (backupTable: string) => restoreBackup(deps, backupTable),
    crmDropStaging: (run: RunRef) => dropStaging(deps, run),
  };
}

export type CrmActivities = ReturnType<typeof createCrmActivities>;
