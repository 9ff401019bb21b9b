import { beating } from '../../lib/activity/heartbeat';
import type { CrmFeaturesOptions, RunRef } from '../../lib/contracts/crm-features';
import { type CrmDeps, extractTransactions } from './extract';
import { dropStaging, type LoadRequest, loadFeatures, restoreBackup } from './load';
import { validateQuality } from './quality';
import { applyBatch, type BatchRequest, storeCleanTransactions } from './stream';
import { cleanTransactions, computeFeatures } from './transform';

export type { CrmDeps, Extracted } from './extract';
export type { Cleaned, Transformed } from './transform';
export type { Loaded, LoadRequest } from './load';
export type { BatchRequest } from './stream';

/** The crmFeatures activities, bound to the source (read-only) and target databases and the lake's S3. */
export function createCrmActivities(deps: CrmDeps) {
  return {
    crmExtract: beating((options: CrmFeaturesOptions, run: RunRef) => extractTransactions(deps, options, run)),
    crmClean: beating((options: CrmFeaturesOptions, run: RunRef, asOf: string) => cleanTransactions(deps, options, run, asOf)),
    crmComputeFeatures: beating((options: CrmFeaturesOptions, run: RunRef, asOf: string) => computeFeatures(deps, options, run, asOf)),
    crmValidate: beating((options: CrmFeaturesOptions, run: RunRef, asOf: string) => validateQuality(deps, options, run, asOf)),
    crmLoad: beating((run: RunRef, request: LoadRequest) => loadFeatures(deps, run, request)),
    crmRestoreBackup: beating((backupTable: string) => restoreBackup(deps, backupTable)),
    crmDropStaging: (run: RunRef) => dropStaging(deps, run),
    crmStoreCleanTransactions: beating((run: RunRef) => storeCleanTransactions(deps, run)),
    crmApplyBatch: beating((request: BatchRequest) => applyBatch(deps, request)),
  };
}

export type CrmActivities = ReturnType<typeof createCrmActivities>;
