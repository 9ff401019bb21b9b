import type { SyncOptions } from '../../lib/contracts/incremental-sync';
import { copyChangedRows } from './copy-batches';
import { finishSync, type SyncOutcome } from './finish';
import type { SyncPlan } from './plan';
import { prepareSync, type SyncDatabases, type SyncRunRef } from './prepare';
import { reconcileMissingRows } from './reconcile';

export type { SyncPlan } from './plan';
export type { SyncProgress } from './copy-batches';
export type { Reconciliation } from './reconcile';
export type { SyncOutcome } from './finish';

/** The incrementalSync activities, bound to the databases they act on (real ones in tests too). */
export function createSyncActivities(db: SyncDatabases) {
  return {
    prepareSync: (options: SyncOptions, run: SyncRunRef) => prepareSync(db, options, run),
    copyChangedRows: (plan: SyncPlan) => copyChangedRows(db, plan),
    reconcileMissingRows: (plan: SyncPlan) => reconcileMissingRows(db, plan),
    finishSync: (plan: SyncPlan, outcome: SyncOutcome) => finishSync(db, plan, outcome),
  };
}

export type SyncActivities = ReturnType<typeof createSyncActivities>;
