import type { ChangeDetection, SyncMode, SyncOptions } from '../../lib/contracts/incremental-sync';
import type { ColumnPlan } from './columns';
import type { RunRef } from '../../lib/contracts/run';
export type { RunRef };

/** Everything the later steps of one run need, decided once by `prepareSync` (small: names, types, a watermark). */
export interface SyncPlan {
  controlId: number;
  workflowId: string;
  runId: string;
  mode: SyncMode;
  sourceTable: string;
  targetTable: string;
  /** Where this run's batches are staged on the target: named after the run. */
  stagingTable: string;
  keyColumns: string[];
  updatedAtColumn: string;
  updatedAtType: string;
  keyTypes: string[];
  columns: ColumnPlan[];
  /** Whether the source guarantees one row per key; when not, each batch keeps the newest row of a key. */
  keysUnique: boolean;
  /** SQL_ASCII sources are read byte for byte (Postgres would refuse to convert them to UTF-8 itself). */
  rawSourceBytes: boolean;
  /** A full load into an empty table: plain inserts, and nothing there can be missing at the source. */
  targetWasEmpty: boolean;
  /** The last successful run's watermark (incremental mode), as Postgres text. */
  watermarkFrom: string | null;
  /** How an incremental run selects rows (plans made before it existed: updated_at). */
  changeDetection?: ChangeDetection;
  /**
   * Snapshot mode: the previous run's oldest unfinished transaction id (low 32 bits, as xid text). Rows whose
   * xmin is that old or newer are read. Undefined when every row must be read (too many transactions since).
   */
  sinceXid?: string;
  /** The source's now() when this run began: the watermark never passes it. */
  sourceNow?: string;
  options: Pick<SyncOptions, 'batchSize' | 'overlapSeconds' | 'deleteMissing'>;
}

