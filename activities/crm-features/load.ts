// Load: backup of ml_features.user_features and the load itself (merge, replace or append) in ONE transaction,
// so a failure anywhere rolls both back and the models never read a half-loaded table. Old backups are dropped
// in the same transaction.
import { ApplicationFailure } from '@temporalio/common';
import { type LoadStrategy, type RunRef, type StepMetric, stagingTables } from '../../lib/contracts/crm-features';
import { withTransaction } from '../../lib/io/postgres';
import type { CrmDeps } from './extract';
import { FEATURE_COLUMNS } from './transform';
import { ErrorType } from '../../lib/workflow/errors';

export const FEATURES_TABLE = 'ml_features.user_features';
const BACKUP_PREFIX = 'user_features_backup_';

export interface LoadRequest {
  strategy: LoadStrategy;
  backupRetentionDays: number;
}

export interface Loaded extends StepMetric {
  backupTable: string;
  backupsDropped: string[];
}

/** `user_features_backup_<yyyymmddhhmmssSSS>` (UTC, milliseconds: two loads in the same second get two backups). */
export const backupName = (at: Date): string => `${BACKUP_PREFIX}${at.toISOString().replace(/\D/g, '').slice(0, 17)}`;
// Backups named before milliseconds were added (14 digits) are still recognised, kept and expired.
const BACKUP_DIGITS = '[0-9]{14}([0-9]{3})?';

export async function loadFeatures(deps: CrmDeps, run: RunRef, request: LoadRequest): Promise<Loaded> {
  const started = Date.now();
  const { features } = stagingTables(run.runId);
  const cols = FEATURE_COLUMNS.join(', ');
  return withTransaction(deps.target, async (client) => {
    // One load at a time; readers keep reading the committed table meanwhile.
    await client.query(`LOCK TABLE ${FEATURES_TABLE} IN SHARE ROW EXCLUSIVE MODE`);
    // Loads are serialised by the lock; should one still find its name taken (same millisecond), it takes the next.
    let at = Date.now();
    while ((await client.query('SELECT to_regclass($1) AS t', [`ml_features.${backupName(new Date(at))}`])).rows[0].t) at++;
    const backup = backupName(new Date(at));
    await client.query(`CREATE TABLE ml_features.${backup} AS TABLE ${FEATURES_TABLE}`);
    if (request.strategy === 'replace') await client.query(`DELETE FROM ${FEATURES_TABLE}`);
    const conflict = request.strategy === 'merge'
      ? `ON CONFLICT (user_id) DO UPDATE SET ${FEATURE_COLUMNS.slice(1).map((c) => `${c} = EXCLUDED.${c}`).join(', ')}, updated_at = now()`
      // append: new users are added, users already there keep their row.
      : request.strategy === 'append' ? 'ON CONFLICT (user_id) DO NOTHING' : '';
    const loaded = await client.query(`INSERT INTO ${FEATURES_TABLE} (${cols}, updated_at) SELECT ${cols}, now() FROM ${features} ${conflict}`);
    const { rows } = await client.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables
      WHERE schemaname = 'ml_features' AND tablename ~ '^${BACKUP_PREFIX}${BACKUP_DIGITS}$' AND tablename <> $1
        AND to_timestamp(substr(tablename, ${BACKUP_PREFIX.length + 1}, 14), 'YYYYMMDDHH24MISS') AT TIME ZONE 'UTC'
            < (now() AT TIME ZONE 'UTC') - make_interval(days => $2)
      ORDER BY 1`, [backup, request.backupRetentionDays]);
    for (const { name } of rows) await client.query(`DROP TABLE ml_features.${name}`);
    return {
      step: 'load', rows: Number(loaded.rowCount), backupTable: `ml_features.${backup}`, backupsDropped: rows.map((r) => `ml_features.${r.name}`),
      durationMs: Date.now() - started,
    };
  });
}

/** Puts a backup back in place of the table, in one transaction (after a post-load check fails, or by hand). */
export async function restoreBackup(deps: CrmDeps, backupTable: string): Promise<number> {
  if (!new RegExp(`^ml_features\\.${BACKUP_PREFIX}${BACKUP_DIGITS}$`).test(backupTable)) {
    throw ApplicationFailure.nonRetryable(`"${backupTable}" is not a user_features backup`, ErrorType.InvalidInput);
  }
  return withTransaction(deps.target, async (client) => {
    await client.query(`LOCK TABLE ${FEATURES_TABLE} IN ACCESS EXCLUSIVE MODE`);
    await client.query(`DELETE FROM ${FEATURES_TABLE}`);
    const restored = await client.query(`INSERT INTO ${FEATURES_TABLE} SELECT * FROM ${backupTable}`);
    return Number(restored.rowCount);
  });
}

/** Drops the run's staging tables (at the end, success or failure). */
export async function dropStaging(deps: CrmDeps, run: RunRef): Promise<void> {
  const t = stagingTables(run.runId);
  await deps.target.query(`DROP TABLE IF EXISTS ${t.raw}, ${t.clean}, ${t.clean}_classified, ${t.features}, ${t.features}_per_user`);
}
