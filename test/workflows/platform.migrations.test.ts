// Migrations: per pipeline and versioned in etl_migrations. A database migrated by an earlier scheme (names only,
// or the folders' former names) is recognised and not migrated again; one pipeline's failing migration names the
// pipeline, and a worker on that database still runs the other pipelines.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { WorkflowFailedError } from '@temporalio/client';
import type { SyncResult } from '../../lib/contracts/incremental-sync';
import { migrate, migrateEach } from '../../lib/io/migrate';
import { createPool } from '../../lib/io/postgres';
import { seedConversations } from '../../lib/sample-data/incremental-sync';
import { openTestContext, settings, startOptions, uniqueId, type TestContext } from '../helpers/env';

describe('migrations', () => {
  let ctx: TestContext;
  const databases = [uniqueId('etl_migrate'), uniqueId('etl_broken')].map((name) => name.replace(/-/g, '_'));
  const urlOf = (database: string) => {
    const url = new URL(settings.postgres.databaseUrl);
    url.pathname = `/${database}`;
    return url.toString();
  };
  const [pool, broken] = databases.map((database) => createPool(urlOf(database), 2));

  beforeAll(async () => {
    ctx = await openTestContext('migrations', { worker: false });
    for (const database of databases) await ctx.target.query(`CREATE DATABASE ${database}`);
  });
  afterAll(async () => {
    await Promise.all([pool.end(), broken.end()]);
    for (const database of databases) await ctx?.target.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await ctx?.close();
  });

  it('applies each pipeline\'s files once by version, shared first, and recognises databases migrated before', async () => {
    const applied = await migrate(pool);
    assert.ok(applied.length >= 7, applied.join(', '));
    assert.equal(applied[0], 'shared/001_etl_control.sql');
    assert.deepEqual(await migrate(pool), [], 'a second start applies nothing');
    const { rows: journal } = await pool.query('SELECT pipeline, version FROM etl_migrations WHERE name = $1', ['sales-warehouse/001_sales_warehouse.sql']);
    assert.deepEqual(journal, [{ pipeline: 'sales-warehouse', version: 1 }]);

    // The journal as the earlier scheme kept it: names only, under the folders' former names.
    const former: Record<string, string> = {
      shared: 'common', 'crm-features': 'crm', 'mailing-campaigns': 'mailing', 'marketing-enrichment': 'marketing', 'sales-warehouse': 'sales',
    };
    await pool.query('DROP INDEX etl_migrations_version; ALTER TABLE etl_migrations DROP COLUMN pipeline, DROP COLUMN version');
    for (const [now, before] of Object.entries(former)) {
      await pool.query(`UPDATE etl_migrations SET name = $2 || substr(name, length($1) + 1) WHERE name LIKE $1 || '/%'`, [now, before]);
    }
    assert.deepEqual(await migrate(pool), [], 'nothing is applied again');
    const { rows } = await pool.query('SELECT name, pipeline, version FROM etl_migrations WHERE name = $1', ['sales/001_sales_warehouse.sql']);
    assert.deepEqual(rows, [{ name: 'sales/001_sales_warehouse.sql', pipeline: 'sales-warehouse', version: 1 }]);
  });

  it('a database migrated by the name-only journal gets exactly the files it lacks, in order, renumbered ones included', async () => {
    const toNameOnly = () => pool.query('DROP INDEX etl_migrations_version; ALTER TABLE etl_migrations DROP COLUMN pipeline, DROP COLUMN version');
    // As the main branch before the portable helpers left it: every file but shared/005.
    await toNameOnly();
    await pool.query(`DELETE FROM etl_migrations WHERE name IN ('common/005_portable_helpers.sql', 'shared/005_portable_helpers.sql')`);
    assert.deepEqual(await migrate(pool), ['shared/005_portable_helpers.sql']);

    // As it was for a few commits: two files of one number, later renumbered (003 -> 004, 004 -> 006). The file
    // that kept its name is not applied again; the renumbered ones are, under today's number, as that journal did.
    await toNameOnly();
    await pool.query(`UPDATE etl_migrations SET name = CASE name
        WHEN 'common/004_parse_number.sql' THEN 'shared/003_parse_number.sql'
        WHEN 'sales/006_shared_number_parser.sql' THEN 'sales-warehouse/004_shared_number_parser.sql' END
      WHERE name IN ('common/004_parse_number.sql', 'sales/006_shared_number_parser.sql')`);
    assert.deepEqual(await migrate(pool), ['shared/004_parse_number.sql', 'sales-warehouse/006_shared_number_parser.sql']);
    assert.deepEqual(await migrate(pool), []);
  });

  it('one pipeline\'s failing migration names it, and a worker on that database runs the other pipelines', async () => {
    // A table in the way: sales-warehouse's first file cannot fill sales_etl.states.
    await broken.query('CREATE SCHEMA sales_etl; CREATE TABLE sales_etl.states (uf int PRIMARY KEY)');
    const results = await migrateEach(broken);
    const sales = results.find((r) => r.folder === 'sales-warehouse')!;
    assert.match(sales.error ?? '', /sql\/sales-warehouse\/001_sales_warehouse\.sql: .*/);
    assert.deepEqual(results.filter((r) => r.error).map((r) => r.folder), ['sales-warehouse']);
    await assert.rejects(migrate(broken), /migration failed for sales-warehouse \(sql\/sales-warehouse\/001/);

    const worker = await openTestContext('migrations-worker', {
      settings: { ...settings, postgres: { ...settings.postgres, databaseUrl: urlOf(databases[1]) } },
    }).catch((error: unknown) => error);
    // openTestContext migrates the shared test database (fine); the worker itself runs on the broken one.
    assert.ok(!(worker instanceof Error), String(worker));
    const running = worker as TestContext;
    try {
      const table = 'public.conv_migrations';
      await seedConversations(running.sourceAdmin, broken, 40, table);
      const synced = await running.client.workflow.execute('incrementalSync', {
        ...startOptions(running, 'sync'), args: [{ sourceTable: table }],
      }) as SyncResult;
      assert.equal(synced.rowsInserted, 40);

      const failed = await running.client.workflow.execute('salesWarehouse', {
        ...startOptions(running, 'sales'), args: [{ sources: [{ kind: 'database', name: 'erp', query: 'SELECT 1' }] }],
      }).then(() => assert.fail('the sales run should fail'), (error: unknown) => error);
      assert.ok(failed instanceof WorkflowFailedError);
      const messages: string[] = [];
      for (let cause: Error | undefined = failed; cause; cause = (cause as { cause?: Error }).cause) messages.push(cause.message);
      assert.match(messages.join(' | '), /pipeline sales-warehouse cannot run: its database migration failed: sql\/sales-warehouse\/001/);
    } finally {
      await running.close();
    }
  });
});
