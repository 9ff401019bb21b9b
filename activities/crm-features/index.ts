import { beating } from '../../lib/activity/heartbeat';
import type { CrmFeaturesOptions, IncrementalPlan, RunRef } from '../../lib/contracts/crm-features';
import { cleanIncremental, computeIncremental, extractIncremental, finishIncremental, startIncremental } from './incremental';
import {
  type CrmDeps, extractFiles, extractTable, extractTransactions, type ExtractPlan, finishExtract, type LakeObject, type SourceCopy, type SourceRead,
  startExtract,
} from './extract';
import { dropStaging, type LoadRequest, loadFeatures, restoreBackup } from './load';
import { validateQuality } from './quality';
import { applyBatch, type BatchRequest, storeCleanTransactions } from './stream';
import { cleanTransactions, computeFeatures } from './transform';

export type { CrmDeps, Extracted, ExtractPlan, SourceCopy } from './extract';
export type { Cleaned, Transformed } from './transform';
export type { Loaded, LoadRequest } from './load';
export type { BatchRequest } from './stream';

/** The crmFeatures activities, bound to the source (read-only) and target databases and the lake's S3. */
export function createCrmActivities(deps: CrmDeps) {
  return {
    // The extract shared by workers: the staging table and what to read (asOf given, incremental mode: the plan's start;
    // `rebuild`: read everything, for this reason), then the table and each part of the lake in activities of their own,
    // then the counts (incremental: the plan handed to the later steps, or `{ rebuild }` to read everything again).
    crmExtractStart: beating((options: CrmFeaturesOptions, run: RunRef, asOf?: string, rebuild?: string) => (asOf !== undefined && options.mode === 'incremental'
      ? startIncremental(deps, options, run, asOf, rebuild) : startExtract(deps, options, run))),
    crmExtractTable: beating((options: CrmFeaturesOptions, run: RunRef, read?: SourceRead) => extractTable(deps, options, run, read)),
    crmExtractFiles: beating((options: CrmFeaturesOptions, run: RunRef, bucket: string, files: LakeObject[]) => extractFiles(deps, options, run, bucket, files)),
    crmExtractFinish: beating(async (options: CrmFeaturesOptions, run: RunRef, plan: ExtractPlan, copies: SourceCopy[]) => (plan.incremental
      ? finishIncremental(deps, options, run, { ...plan, incremental: plan.incremental }, copies) : finishExtract(options, run, plan, copies))),
    // The extract in one activity, for the runs recorded before it was shared (and crmFeaturesStream's seeding).
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
