// Load: backup of ml_features.user_features and the load itself (merge, replace or append) in ONE transaction,
// so a failure anywhere rolls both back and the models never read a half-loaded table. Old backups are dropped
// in the same transaction.
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { type IncrementalPlan, type LoadStrategy, type RunRef, type StepMetric, stagingTables } from '../../lib/contracts/crm-features';
import { stagingDdl, withTransaction } from '../../lib/io/postgres';
import type { CrmDeps } from './extract';
import { FEATURE_COLUMNS } from './transform';
import { applyState, incrementalStagingList } from './incremental';
import { ErrorType } from '../../lib/workflow/errors';

export const FEATURES_TABLE = 'ml_features.user_features';
const BACKUP_PREFIX = 'user_features_backup_';

export interface LoadRequest {
  strategy: LoadStrategy;
  backupRetentionDays: number;
  /** Incremental mode: the stored state moves to this run's in the same transaction as the load. */
  plan?: IncrementalPlan;
  asOf?: string;
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
  return withTransaction(deps.target, async (client) => {
    // One load at a time; readers keep reading the committed table meanwhile.
    await client.query(`LOCK TABLE ${FEATURES_TABLE} IN SHARE ROW EXCLUSIVE MODE`);
    if (request.plan) await applyState(client, run, request.plan, request.asOf!);
    const primaryKey = await swappable(client);
    const { backup, rows } = primaryKey ? await loadBySwap(client, features, request.strategy, primaryKey)
      : await loadInPlace(client, features, request.strategy);
    const { rows: expired } = await client.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables
      WHERE schemaname = 'ml_features' AND tablename ~ '^${BACKUP_PREFIX}${BACKUP_DIGITS}$' AND tablename <> $1
        AND to_timestamp(substr(tablename, ${BACKUP_PREFIX.length + 1}, 14), 'YYYYMMDDHH24MISS') AT TIME ZONE 'UTC'
            < (now() AT TIME ZONE 'UTC') - make_interval(days => $2)
      ORDER BY 1`, [backup, request.backupRetentionDays]);
    for (const { name } of expired) await client.query(`DROP TABLE ml_features.${name}`);
    return {
      step: 'load', rows, backupTable: `ml_features.${backup}`, backupsDropped: expired.map((r) => `ml_features.${r.name}`),
      durationMs: Date.now() - started,
    };
  });
}

/**
 * The table's primary key constraint when the table can be replaced by a new one without losing anything that is
 * attached to the table itself: owned by this user, nothing but its primary key on user_id (no other index, constraint,
 * trigger, policy, grant, storage option, comment, publication, inheritance), and nothing that names it (views,
 * foreign keys, functions of its row type). Otherwise undefined: the load writes into the table in place.
 */
async function swappable(client: pg.PoolClient): Promise<string | undefined> {
  const { rows: [table] } = await client.query<{ pkey: string | null }>(`SELECT (SELECT k.conname FROM pg_constraint k
      WHERE k.conrelid = c.oid AND k.contype = 'p' AND k.conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = c.oid AND attname = 'user_id')])
      AS pkey
    FROM pg_class c WHERE c.oid = '${FEATURES_TABLE}'::regclass
      AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AND c.relacl IS NULL AND c.reloptions IS NULL
      AND NOT c.relrowsecurity AND NOT c.relhassubclass AND NOT c.relispartition AND c.relreplident = 'd'
      AND obj_description(c.oid, 'pg_class') IS NULL
      AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL)
      AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND NOT i.indisprimary)
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE (k.conrelid = c.oid AND k.contype NOT IN ('p', 'n')) OR k.confrelid = c.oid)
      AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid)
      AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
      AND NOT EXISTS (SELECT 1 FROM pg_publication_rel r WHERE r.prrelid = c.oid)
      AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid)
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE (d.refobjid = c.oid AND d.classid = 'pg_rewrite'::regclass)
        OR (d.refobjid = c.reltype AND d.deptype = 'n'))`);
  return table?.pkey ?? undefined;
}

const featureRows = (features: string) => `SELECT ${FEATURE_COLUMNS.join(', ')}, now() FROM ${features}`;
const insertColumns = `${FEATURE_COLUMNS.join(', ')}, updated_at`;

/**
 * The load as a new table swapped in: this run's rows and the table's rows to keep are written once into a new table
 * (no update of every row in place, no copy for the backup), which takes the table's name; the table as it was becomes
 * the backup. Readers go on reading the old table until the rename, which waits for them.
 */
async function loadBySwap(client: pg.PoolClient, features: string, strategy: LoadStrategy, primaryKey: string): Promise<{ backup: string; rows: number }> {
  const next = `${FEATURES_TABLE}_next`;
  await client.query(`CREATE TABLE ${next} (LIKE ${FEATURES_TABLE} INCLUDING ALL EXCLUDING INDEXES)`);
  const others = `NOT EXISTS (SELECT 1 FROM ${features} f WHERE f.user_id = u.user_id)`;
  // append: users already there keep their row, new ones are added; merge: this run's users replaced, the others kept.
  const loaded = await client.query(`INSERT INTO ${next} (${insertColumns}) ${featureRows(`${features} f`)}${strategy === 'append'
    ? ` WHERE NOT EXISTS (SELECT 1 FROM ${FEATURES_TABLE} u WHERE u.user_id = f.user_id)` : ''}`);
  if (strategy !== 'replace') await client.query(`INSERT INTO ${next} SELECT * FROM ${FEATURES_TABLE} u${strategy === 'merge' ? ` WHERE ${others}` : ''}`);
  const backup = await freeBackupName(client);
  await client.query(`LOCK TABLE ${FEATURES_TABLE} IN ACCESS EXCLUSIVE MODE`);
  await client.query(`ALTER TABLE ${FEATURES_TABLE} RENAME TO ${backup}`);
  // Backups carry no index (as a copy would not); the key's name goes to the new table.
  await client.query(`ALTER TABLE ml_features.${backup} DROP CONSTRAINT ${primaryKey}`);
  await client.query(`ALTER TABLE ${next} RENAME TO ${FEATURES_TABLE.split('.')[1]}`);
  await client.query(`ALTER TABLE ${FEATURES_TABLE} ADD CONSTRAINT ${primaryKey} PRIMARY KEY (user_id)`);
  return { backup, rows: Number(loaded.rowCount) };
}

/** The load written into the table (which has something a new table would not carry over), after a copy for the backup. */
async function loadInPlace(client: pg.PoolClient, features: string, strategy: LoadStrategy): Promise<{ backup: string; rows: number }> {
  const backup = await takeBackup(client);
  if (strategy === 'replace') await client.query(`DELETE FROM ${FEATURES_TABLE}`);
  const conflict = strategy === 'merge'
    ? `ON CONFLICT (user_id) DO UPDATE SET ${FEATURE_COLUMNS.slice(1).map((c) => `${c} = EXCLUDED.${c}`).join(', ')}, updated_at = now()`
    // append: new users are added, users already there keep their row.
    : strategy === 'append' ? 'ON CONFLICT (user_id) DO NOTHING' : '';
  const loaded = await client.query(`INSERT INTO ${FEATURES_TABLE} (${insertColumns}) ${featureRows(features)} ${conflict}`);
  return { backup, rows: Number(loaded.rowCount) };
}

export interface Restored {
  /** The backup put back (schema-qualified). */
  restoredFrom: string;
  rows: number;
  /** The table as it was just before the restore, kept as a backup of its own (so a restore can be undone). */
  backupTable: string;
}

/**
 * Puts a backup back in place of the table, in one transaction: the table as it is is backed up first, then replaced
 * by the backup's rows. A backup taken before later columns were added fills only the columns it has.
 */
export async function restoreBackup(deps: CrmDeps, backup: string): Promise<Restored> {
  const name = backup.replace(/^ml_features\./, '');
  if (!new RegExp(`^${BACKUP_PREFIX}${BACKUP_DIGITS}$`).test(name)) {
    throw ApplicationFailure.nonRetryable(`restoreBackup "${backup}" is not a user_features backup name (user_features_backup_<yyyymmddhhmmss[SSS]>)`,
      ErrorType.InvalidInput);
  }
  return withTransaction(deps.target, async (client) => {
    await client.query(`LOCK TABLE ${FEATURES_TABLE} IN ACCESS EXCLUSIVE MODE`);
    if (!(await client.query('SELECT to_regclass($1) AS t', [`ml_features.${name}`])).rows[0].t) {
      const { rows } = await client.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables
        WHERE schemaname = 'ml_features' AND tablename ~ '^${BACKUP_PREFIX}${BACKUP_DIGITS}$' ORDER BY 1 DESC LIMIT 5`);
      throw ApplicationFailure.nonRetryable(`restoreBackup: there is no backup ml_features.${name}; the newest are: ${
        rows.map((r) => r.name).join(', ') || 'none'}`, ErrorType.InvalidInput);
    }
    const kept = await takeBackup(client);
    const { rows: columns } = await client.query<{ c: string }>(`SELECT b.column_name AS c FROM information_schema.columns b
      JOIN information_schema.columns t ON t.table_schema = 'ml_features' AND t.table_name = 'user_features' AND t.column_name = b.column_name
      WHERE b.table_schema = 'ml_features' AND b.table_name = $1 ORDER BY b.ordinal_position`, [name]);
    const cols = columns.map((r) => `"${r.c}"`).join(', ');
    await client.query(`DELETE FROM ${FEATURES_TABLE}`);
    const restored = await client.query(`INSERT INTO ${FEATURES_TABLE} (${cols}) SELECT ${cols} FROM ml_features.${name}`);
    return { restoredFrom: `ml_features.${name}`, rows: Number(restored.rowCount), backupTable: `ml_features.${kept}` };
  });
}

/** Copies the table into a new backup (inside the caller's transaction, which holds the table's lock); returns its name. */
async function takeBackup(client: pg.PoolClient): Promise<string> {
  const backup = await freeBackupName(client);
  await client.query(`CREATE TABLE ml_features.${backup} AS TABLE ${FEATURES_TABLE}`);
  return backup;
}

/** A backup name not taken yet: loads are serialised by the lock; should one still find its name taken (same millisecond), it takes the next. */
async function freeBackupName(client: pg.PoolClient): Promise<string> {
  let at = Date.now();
  while ((await client.query('SELECT to_regclass($1) AS t', [`ml_features.${backupName(new Date(at))}`])).rows[0].t) at++;
  return backupName(new Date(at));
}

/** The backups there are, newest first. */
export async function listBackups(deps: Pick<CrmDeps, 'target'>): Promise<Array<{ name: string; rows: number }>> {
  const { rows } = await deps.target.query<{ name: string; rows: string }>(`SELECT 'ml_features.' || c.relname AS name, c.reltuples::bigint AS rows
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'ml_features' AND c.relkind = 'r' AND c.relname ~ '^${BACKUP_PREFIX}${BACKUP_DIGITS}$' ORDER BY c.relname DESC`);
  return rows.map((r) => ({ name: r.name, rows: Math.max(0, Number(r.rows)) }));
}

/** Drops the run's staging tables (at the end, success or failure). */
export async function dropStaging(deps: CrmDeps, run: RunRef): Promise<void> {
  const t = stagingTables(run.runId);
  await stagingDdl(deps.target, `DROP TABLE IF EXISTS ${[t.raw, t.clean, `${t.clean}_classified`, t.features, `${t.features}_per_user`, `${t.features}_ranks`,
    ...incrementalStagingList(run.runId)].filter((name, i, all) => all.indexOf(name) === i).join(', ')}`);
}
