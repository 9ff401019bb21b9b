import type { SyncCounts } from '../../lib/contracts/incremental-sync';

/** The counters of an etl_control row (bigint columns come back from pg as text). */
export function countsOf(row: Record<string, unknown>): SyncCounts {
  return {
    rowsExtracted: Number(row.rows_extracted),
    rowsInserted: Number(row.rows_inserted),
    rowsUpdated: Number(row.rows_updated),
    rowsUnchanged: Number(row.rows_unchanged),
    rowsQuarantined: Number(row.rows_quarantined),
    valuesNulled: Number(row.values_nulled),
    batches: Number(row.batches),
    rowsFutureDated: Number(row.rows_future_dated ?? 0),
  };
}
