// The incrementalSync pipeline's input and result: shared by the workflow, its activities and the CLI.
import { z } from 'zod';

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, 'must be a plain column name (letters, digits, _)');
const tableName = z
  .string()
  .regex(/^(?:[A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$/, 'must be table or schema.table');

export const syncInputSchema = z
  .object({
    /** Table to read on the source database (SOURCE_DATABASE_URL). */
    sourceTable: tableName.default('public.conversations'),
    /** Table to write on the target database (DATABASE_URL); created from the source's columns when missing. */
    targetTable: tableName.optional(),
    keyColumns: z.array(identifier).min(1).default(['id']),
    updatedAtColumn: identifier.default('updated_at'),
    /** Reload everything and report target rows that are gone from the source. */
    full: z.boolean().default(false),
    /** With full: also delete the target rows that are gone from the source. */
    deleteMissing: z.boolean().default(false),
    batchSize: z.number().int().min(1).max(1_000_000).default(50_000),
    /**
     * How an incremental run finds changed rows. `snapshot`: every row written by a transaction that had not
     * finished when the previous run began (the source's own transaction ids, so late commits, future dates and
     * NULL updated_at are all caught); `updated_at`: rows with updated_at at or after the watermark minus
     * overlapSeconds (for views and sources whose rows carry no transaction id); `auto`: snapshot where the
     * source allows it, updated_at otherwise.
     */
    changeDetection: z.enum(['auto', 'snapshot', 'updated_at']).default('auto'),
    /** In updated_at mode: re-reads this far behind the watermark, for rows committed late with an older updated_at. */
    overlapSeconds: z.number().int().min(0).max(7 * 24 * 3600).default(300),
  })
  .strict()
  .refine((input) => input.full || !input.deleteMissing, {
    message: 'deleteMissing needs full: true (only a full reload sees which rows are gone)',
    path: ['deleteMissing'],
  });

export type SyncInput = z.input<typeof syncInputSchema>;
export type SyncOptions = z.output<typeof syncInputSchema> & { targetTable: string };

export type SyncMode = 'incremental' | 'full';
export type ChangeDetection = 'snapshot' | 'updated_at';

/** What one run moved; the same numbers are in its etl_control row. */
export interface SyncCounts {
  rowsExtracted: number;
  rowsInserted: number;
  rowsUpdated: number;
  rowsUnchanged: number;
  rowsQuarantined: number;
  valuesNulled: number;
  batches: number;
  /** Rows dated after the source's clock when the run began: loaded, but they never move the watermark. */
  rowsFutureDated: number;
}

export interface SyncResult extends SyncCounts {
  pipeline: 'incrementalSync';
  status: 'success';
  mode: SyncMode;
  changeDetection: ChangeDetection;
  sourceTable: string;
  targetTable: string;
  watermarkFrom: string | null;
  watermark: string | null;
  rowsMissingAtSource: number | null;
  rowsDeleted: number;
  controlId: number;
  /** What the run could not rule out, e.g. a source transaction open longer than the overlap (updated_at mode). */
  warnings: string[];
  triggeredBy: string | null;
}
