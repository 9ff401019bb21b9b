import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { projectRoot } from '../config/env';
import { withTransaction } from './postgres';

const sqlRoot = path.join(projectRoot, 'sql');
// Any constant works; it only keeps two workers that start together from migrating at once.
const MIGRATION_LOCK = 7_233_001;

/** Every folder of sql/, `shared` first: the tables every pipeline shares. */
const allFolders = () => readdirSync(sqlRoot).sort((a, b) => Number(b === 'shared') - Number(a === 'shared') || a.localeCompare(b));

/** The folders' names before each took its pipeline's name: databases migrated then recorded these. */
const formerFolderNames: Record<string, string> = {
  shared: 'common', 'crm-features': 'crm', 'mailing-campaigns': 'mailing', 'marketing-enrichment': 'marketing', 'sales-warehouse': 'sales',
};

/** Applies `sql/<folder>/NNN_*.sql` files not applied yet, each once, in order, in one transaction. */
export async function migrate(pool: pg.Pool, folders = allFolders()): Promise<string[]> {
  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS etl_migrations (
      name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ name: string }>('SELECT name FROM etl_migrations');
    const done = new Set(rows.map((row) => row.name));
    const applied: string[] = [];
    for (const folder of folders) {
      for (const file of readdirSync(path.join(sqlRoot, folder)).filter((f) => /^\d+_.*\.sql$/.test(f)).sort()) {
        const name = `${folder}/${file}`;
        if (done.has(name) || done.has(`${formerFolderNames[folder]}/${file}`)) continue;
        await client.query(readFileSync(path.join(sqlRoot, folder, file), 'utf8'));
        await client.query('INSERT INTO etl_migrations (name) VALUES ($1)', [name]);
        applied.push(name);
      }
    }
    return applied;
  });
}
