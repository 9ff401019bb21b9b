// Migrations: each file applied once, and a database migrated before the sql/ folders took their pipelines' names
// (common/, crm/, mailing/, marketing/, sales/) is not migrated again.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { migrate } from '../../lib/io/migrate';
import { createPool } from '../../lib/io/postgres';
import { openTestContext, settings, uniqueId, type TestContext } from '../helpers/env';

describe('migrations', () => {
  let ctx: TestContext;
  const database = uniqueId('etl_migrate').replace(/-/g, '_');
  const url = new URL(settings.postgres.databaseUrl);
  url.pathname = `/${database}`;
  const pool = createPool(url.toString(), 2);

  beforeAll(async () => {
    ctx = await openTestContext('migrations', { worker: false });
    await ctx.target.query(`CREATE DATABASE ${database}`);
  });
  afterAll(async () => {
    await pool.end();
    await ctx?.target.query(`DROP DATABASE IF EXISTS ${database}`);
    await ctx?.close();
  });

  it('applies every file once, shared first, and recognises the names a database recorded before the rename', async () => {
    const applied = await migrate(pool);
    assert.ok(applied.length >= 6, applied.join(', '));
    assert.equal(applied[0], 'shared/001_etl_control.sql');
    assert.deepEqual(await migrate(pool), [], 'a second start applies nothing');

    const former: Record<string, string> = {
      shared: 'common', 'crm-features': 'crm', 'mailing-campaigns': 'mailing', 'marketing-enrichment': 'marketing', 'sales-warehouse': 'sales',
    };
    for (const [now, before] of Object.entries(former)) {
      await pool.query(`UPDATE etl_migrations SET name = $2 || substr(name, length($1) + 1) WHERE name LIKE $1 || '/%'`, [now, before]);
    }
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM etl_migrations ORDER BY name');
    assert.ok(rows.every((r) => !r.name.startsWith('shared/')), 'the database now looks migrated by the old layout');
    assert.deepEqual(await migrate(pool), [], 'nothing is applied again under the new folder names');
  });
});
