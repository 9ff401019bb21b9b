// What an incremental run may skip, per source (sql/sales-warehouse/007_source_state.sql). The extraction reads the
// state the last successful load recorded and writes the state it found into `source_state_pending`; the load moves
// it into `source_state` in the same transaction as the rows it vouches for. A run that fails before its load commits
// leaves the old state: whatever it read is read again by the next run.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { RunRef, SourceConfig } from '../../lib/contracts/sales-warehouse';
import type { SalesDeps } from './extract';

/** A file source: every file under `location` at the last load, by name: the version read, and its rows. */
export interface FilesState {
  files: Record<string, { version: string; rows: number; semicolon?: boolean }>;
}

/** Rows counted, with the sum of their ids' hashes (bigint text: sums of 64-bit hashes exceed a JS number). */
export interface Fingerprint {
  rows: string;
  ids: string;
}

/**
 * A database source: rows whose `column` is below `bound` were read by the last load (or vouched for by it), and
 * `stamped` fingerprints every row with a stamp then: an incremental run skips the rows below the bound only if the
 * stamped rows grew by exactly the new rows it read.
 */
export interface DatabaseState {
  column: string;
  bound: string;
  stamped: Fingerprint;
}

/** A REST source: the `updatedSinceParam` value of the next run (the newest updated_at read, minus the overlap). */
export interface RestState {
  since: string;
}

export type SourceState = FilesState | DatabaseState | RestState;

/** Rows committed up to this late (a long transaction, a clock a little behind) are still read by the next run. */
export const OVERLAP_SECONDS = 600;

/** The settings that decide what a source reads: another location, query, mapping or locale is another source. */
export function configHash(source: SourceConfig): string {
  const sorted = (v: unknown): unknown => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, sorted(x)])) : v);
  return createHash('sha256').update(JSON.stringify(sorted(source))).digest('hex').slice(0, 32);
}

/** The state the last successful load recorded for this source, or null (never loaded, or its settings changed). */
export async function recordedState<S extends SourceState>(deps: SalesDeps, source: SourceConfig): Promise<S | null> {
  const { rows } = await deps.target.query<{ state: S }>('SELECT state FROM sales_etl.source_state WHERE source = $1 AND config = $2',
    [source.name, configHash(source)]);
  return rows[0]?.state ?? null;
}

/** What this run found; committed by the load (commitSourceStates). Safe to run twice: a retry replaces it. */
export async function savePendingState(deps: SalesDeps, run: RunRef, source: SourceConfig, state: SourceState): Promise<void> {
  await deps.target.query(`INSERT INTO sales_etl.source_state_pending (run_id, source, config, state) VALUES ($1, $2, $3, $4)
    ON CONFLICT (run_id, source) DO UPDATE SET config = EXCLUDED.config, state = EXCLUDED.state, created_at = now()`,
  [run.runId, source.name, configHash(source), JSON.stringify(state)]);
}

/** Inside the load's transaction: the run's sources' states become the recorded ones. */
export async function commitSourceStates(db: pg.PoolClient, run: RunRef): Promise<void> {
  await db.query(`INSERT INTO sales_etl.source_state (source, config, state, run_id)
    SELECT source, config, state, run_id FROM sales_etl.source_state_pending WHERE run_id = $1
    ON CONFLICT (source) DO UPDATE SET config = EXCLUDED.config, state = EXCLUDED.state, run_id = EXCLUDED.run_id, recorded_at = now()`, [run.runId]);
  await db.query('DELETE FROM sales_etl.source_state_pending WHERE run_id = $1', [run.runId]);
}

export async function dropPendingStates(deps: SalesDeps, run: RunRef): Promise<void> {
  await deps.target.query('DELETE FROM sales_etl.source_state_pending WHERE run_id = $1', [run.runId]);
}
