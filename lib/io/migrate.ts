import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { projectRoot } from '../config/env';
import { withTransaction } from './postgres';

const sqlRoot = path.join(projectRoot, 'sql');
// Any constant works; it only keeps two workers that start together from upgrading the journal at once.
const JOURNAL_LOCK = 7_233_001;
/** The folder every pipeline's SQL builds on (etl_control, the portable helpers); applied first. */
export const SHARED_FOLDER = 'shared';

/** Every folder of sql/, `shared` first. A folder other than shared is named after its pipeline (lib/pipelines.ts). */
export const sqlFolders = (): string[] =>
  readdirSync(sqlRoot).sort((a, b) => Number(b === SHARED_FOLDER) - Number(a === SHARED_FOLDER) || a.localeCompare(b));

/** The folders' names before each took its pipeline's name: databases migrated then recorded these. */
const formerFolderNames: Record<string, string> = {
  shared: 'common', 'crm-features': 'crm', 'mailing-campaigns': 'mailing', 'marketing-enrichment': 'marketing', 'sales-warehouse': 'sales',
};

const migrationFileNames = (folder: string): string[] =>
  readdirSync(path.join(sqlRoot, folder)).filter((file) => /^\d+_.*\.sql$/.test(file));

/**
 * `NNN_what.sql` files of one folder, by version. Two files of one version would leave one of them unapplied on
 * a database that recorded the other: that fails, naming both.
 */
export function migrationFiles(folder: string, names = migrationFileNames(folder)): Array<{ version: number; file: string }> {
  const files = names.map((file) => ({ version: Number.parseInt(file, 10), file })).sort((a, b) => a.version - b.version);
  for (let i = 1; i < files.length; i++) {
    if (files[i].version === files[i - 1].version) {
      throw new Error(`sql/${folder}/${files[i - 1].file} and sql/${folder}/${files[i].file} have the same version ${files[i].version}: give the newer one the next free number`);
    }
  }
  return files;
}

export interface FolderMigration {
  folder: string;
  /** Files applied now, as `<folder>/<file>`. */
  applied: string[];
  /** Why this folder could not be migrated (its files were rolled back; the other folders are unaffected). */
  error?: string;
}

/**
 * The journal `etl_migrations`: one row per applied file, with its folder (`pipeline`) and `version`. Databases
 * migrated before the journal had those columns (name only, possibly under the folders' former names) get them
 * filled in here, so nothing they applied is applied again. A recorded name is matched to today's file of that name:
 * a file since renumbered (sql/shared/003_parse_number.sql became 004) keeps no version, and its file of today is
 * applied once more, as the name-only journal did (such files are idempotent).
 */
async function ensureJournal(pool: pg.Pool): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [JOURNAL_LOCK]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS etl_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
      ALTER TABLE etl_migrations ADD COLUMN IF NOT EXISTS pipeline text, ADD COLUMN IF NOT EXISTS version int`);
    const { rows } = await client.query<{ name: string }>('SELECT name FROM etl_migrations WHERE pipeline IS NULL');
    const currentName = new Map(Object.entries(formerFolderNames).map(([now, before]) => [before, now]));
    const folders = new Set(sqlFolders());
    for (const { name } of rows) {
      const [recorded, file] = name.split('/');
      const folder = currentName.get(recorded) ?? recorded;
      const current = folders.has(folder) && migrationFileNames(folder).includes(file);
      await client.query('UPDATE etl_migrations SET pipeline = $2, version = $3 WHERE name = $1',
        [name, folder, current ? Number.parseInt(file, 10) : null]);
    }
    await client.query('CREATE UNIQUE INDEX IF NOT EXISTS etl_migrations_version ON etl_migrations (pipeline, version)');
  });
}

/** Applies one folder's files not applied yet, in version order, in one transaction of its own. */
async function migrateFolder(pool: pg.Pool, folder: string): Promise<string[]> {
  return withTransaction(pool, async (client) => {
    // Two workers starting together: the second waits here, then finds the versions applied.
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [JOURNAL_LOCK, folder]);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM etl_migrations WHERE pipeline = $1', [folder]);
    const done = new Set(rows.map((row) => row.version));
    const applied: string[] = [];
    for (const { version, file } of migrationFiles(folder)) {
      if (done.has(version)) continue;
      const name = `${folder}/${file}`;
      try {
        await client.query(readFileSync(path.join(sqlRoot, folder, file), 'utf8'));
      } catch (error) {
        throw new Error(`sql/${name}: ${(error as Error).message}`);
      }
      await client.query('INSERT INTO etl_migrations (name, pipeline, version) VALUES ($1, $2, $3)', [name, folder, version]);
      applied.push(name);
    }
    return applied;
  });
}

/**
 * Migrates each folder on its own: one pipeline's failing migration is reported with its folder and leaves the
 * other pipelines' tables migrated. When `shared` fails, the pipelines' folders are not tried (they build on it).
 */
export async function migrateEach(pool: pg.Pool, folders = sqlFolders()): Promise<FolderMigration[]> {
  await ensureJournal(pool);
  const results: FolderMigration[] = [];
  for (const folder of folders) {
    const shared = results.find((r) => r.folder === SHARED_FOLDER);
    if (shared?.error) {
      results.push({ folder, applied: [], error: `not tried: sql/${SHARED_FOLDER} failed first` });
      continue;
    }
    try {
      results.push({ folder, applied: await migrateFolder(pool, folder) });
    } catch (error) {
      results.push({ folder, applied: [], error: (error as Error).message });
    }
  }
  return results;
}

/** Migrates every folder; throws when any fails, naming each failed folder (its pipeline) and why. */
export async function migrate(pool: pg.Pool, folders = sqlFolders()): Promise<string[]> {
  const results = await migrateEach(pool, folders);
  const failed = results.filter((r) => r.error);
  if (failed.length) {
    throw new Error(`migration failed for ${failed.map((r) => `${r.folder} (${r.error})`).join('; ')}`);
  }
  return results.flatMap((r) => r.applied);
}
