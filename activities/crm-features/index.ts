import { beating } from '../../lib/activity/heartbeat';
import type { CrmFeaturesOptions, IncrementalPlan, RunRef } from '../../lib/contracts/crm-features';
import { cleanIncremental, computeIncremental, extractIncremental } from './incremental';
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
    // asOf given (incremental mode): the plan is decided here and handed to the later steps.
    crmExtract: beating((options: CrmFeaturesOptions, run: RunRef, asOf?: string) => (asOf !== undefined && options.mode === 'incremental'
      ? extractIncremental(deps, options, run, asOf) : extractTransactions(deps, options, run))),
    crmClean: beating((options: CrmFeaturesOptions, run: RunRef, asOf: string, plan?: IncrementalPlan) => (plan
      ? cleanIncremental(deps, options, run, asOf, plan) : cleanTransactions(deps, options, run, asOf))),
    crmComputeFeatures: beating((options: CrmFeaturesOptions, run: RunRef, asOf: string, plan?: IncrementalPlan) => (plan
      ? computeIncremental(deps, options, run, asOf, plan) : computeFeatures(deps, options, run, asOf))),
    crmValidate: beating((options: CrmFeaturesOptions, run: RunRef, asOf: string, plan?: IncrementalPlan) => validateQuality(deps, options, run, asOf, plan)),
    crmLoad: beating((run: RunRef, request: LoadRequest) => loadFeatures(deps, run, request)),
    crmRestoreBackup: beating((backupTable: string) => restoreBackup(deps, backupTable)),
    crmDropStaging: (run: RunRef) => dropStaging(deps, run),
    crmStoreCleanTransactions: beating((run: RunRef) => storeCleanTransactions(deps, run)),
    crmApplyBatch: beating((request: BatchRequest) => applyBatch(deps, request)),
  };
}

export type CrmActivities = ReturnType<typeof createCrmActivities>;
