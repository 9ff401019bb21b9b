// Load strategies, the backup taken in the load's transaction, a failure mid-load leaving the table as it was, a
// backup restored, and backup retention.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import type { CrmFeaturesInput, CrmFeaturesResult } from '../../lib/contracts/crm-features';
import { createS3Client } from '../../lib/io/s3';
import { insertTransactions } from '../../lib/sample-data/crm-features';
import { AS_OF, handChecked, writeDataset } from '../helpers/crm-features';
import { openTestContext, settings, startOptions, uniqueId, type TestContext } from '../helpers/env';

describe('crmFeatures load: merge, append, replace, rollback, retention', () => {
  let ctx: TestContext;
  const s3 = createS3Client(settings.s3);
  const p = `${uniqueId('ld')}-`;
  const table = `crm_ld_${p.slice(3, 11)}`;
  const prefix = `lake/${p}`;
  const run = (input: CrmFeaturesInput) => ctx.client.workflow.execute('crmFeatures', {
    ...startOptions(ctx, 'crm-load'), args: [{ sourceTable: table, lakePrefix: `s3:${prefix}`, asOf: AS_OF, allowHigh: true, ...input }],
  }) as Promise<CrmFeaturesResult>;
  /** user -> total_transactions, for every row of the table. */
  const snapshot = async () => Object.fromEntries((await ctx.target.query<{ user_id: string; n: number }>(
    'SELECT user_id, total_transactions AS n FROM ml_features.user_features ORDER BY user_id')).rows.map((r) => [r.user_id, r.n]));
  const backups = async () => (await ctx.target.query<{ t: string }>(
    `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'ml_features' AND tablename LIKE 'user\\_features\\_backup\\_%' ORDER BY 1`)).rows.map((r) => r.t);
  const seedStale = async () => {
    await ctx.target.query(`INSERT INTO ml_features.user_features (user_id, total_transactions) VALUES ($1, 99), ($2, 7)
      ON CONFLICT (user_id) DO UPDATE SET total_transactions = EXCLUDED.total_transactions`, [`${p}A`, `${p}Z`]);
  };

  beforeAll(async () => {
    ctx = await openTestContext('crm-load');
    await writeDataset({ sourceAdmin: ctx.sourceAdmin, s3, bucket: settings.s3.bucket }, table, prefix, handChecked(p), ['csv']);
  });
  afterAll(async () => {
    s3.destroy();
    await ctx?.close();
  });

  it('append adds new users only, merge updates by user_id, replace leaves exactly this run\'s users; each takes a backup', async () => {
    await seedStale();
    const appended = await run({ loadStrategy: 'append' });
    assert.equal(appended.recordsLoaded, 3);
    let rows = await snapshot();
    assert.equal(rows[`${p}A`], 99, 'append keeps the row already there');
    assert.equal(rows[`${p}B`], 5);
    const backup = appended.backupTable!.split('.')[1];
    const inBackup = await ctx.target.query(`SELECT total_transactions AS n FROM ml_features.${backup} WHERE user_id = $1`, [`${p}A`]);
    assert.deepEqual(inBackup.rows, [{ n: 99 }], 'the backup holds the table as it was before the load');

    const merged = await run({ loadStrategy: 'merge' });
    assert.equal(merged.recordsLoaded, 4);
    rows = await snapshot();
    assert.equal(rows[`${p}A`], 5, 'merge updates the existing user');
    assert.equal(rows[`${p}Z`], 7, 'merge leaves other users alone');

    const replaced = await run({ loadStrategy: 'replace' });
    assert.equal(replaced.recordsLoaded, 4);
    assert.deepEqual(await snapshot(), { [`${p}A`]: 5, [`${p}B`]: 5, [`${p}C`]: 3, [`${p}D`]: 6 });
    // Three loads within a few seconds: three backups (millisecond names), none overwritten by the next.
    const names = [appended, merged, replaced].map((r) => r.backupTable!.split('.')[1]);
    assert.equal(new Set(names).size, 3);
    for (const name of names) assert.ok((await backups()).includes(name), name);
  });

  it('the table keeps its primary key and what is attached to it: a view on it still reads the loaded rows', async () => {
    const primaryKey = async () => (await ctx.target.query<{ name: string }>(`SELECT conname AS name FROM pg_constraint
      WHERE conrelid = 'ml_features.user_features'::regclass AND contype = 'p'`)).rows.map((r) => r.name);
    await seedStale();
    // Nothing attached: the load's new table takes the name, with the same primary key.
    await run({ loadStrategy: 'merge' });
    assert.deepEqual(await primaryKey(), ['user_features_pkey']);
    assert.equal((await snapshot())[`${p}Z`], 7, 'merge leaves other users alone');
    // A view names the table itself: the load writes into it in place, so the view reads this load's rows.
    const view = `ml_features.crm_ld_view_${p.slice(3, 11)}`;
    await ctx.target.query(`CREATE VIEW ${view} AS SELECT user_id, total_transactions FROM ml_features.user_features`);
    try {
      await seedStale();
      await run({ loadStrategy: 'merge' });
      const { rows } = await ctx.target.query<{ n: number }>(`SELECT total_transactions AS n FROM ${view} WHERE user_id = $1`, [`${p}A`]);
      assert.deepEqual(rows, [{ n: 5 }]);
      assert.deepEqual(await primaryKey(), ['user_features_pkey']);
    } finally {
      await ctx.target.query(`DROP VIEW ${view}`);
    }
  });

  it('a failure mid-load rolls back the load and its backup: the table is exactly as before', async () => {
    await seedStale();
    const before = await snapshot();
    const backupsBefore = await backups();
    // The fault comes from the database, as a real one would: the third row written makes the INSERT raise, on every
    // attempt (a sequence is not rolled back).
    const fault = `crm_ld_fault_${p.slice(3, 11)}`;
    await ctx.target.query(`CREATE SEQUENCE ${fault};
      CREATE FUNCTION ${fault}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF nextval('${fault}') % 3 = 0 THEN RAISE EXCEPTION 'injected failure after 2 rows'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER ${fault} AFTER INSERT ON ml_features.user_features FOR EACH ROW EXECUTE FUNCTION ${fault}()`);
    // Per-operation settings: two attempts for the load, a 5-minute timeout for the extract, the defaults for the rest.
    const opts = startOptions(ctx, 'crm-load-fault');
    const failed = await ctx.client.workflow.execute('crmFeatures', {
      ...opts, args: [{ sourceTable: table, lakePrefix: `s3:${prefix}`, asOf: AS_OF, allowHigh: true, loadStrategy: 'replace',
        operations: { load: { maxAttempts: 2 }, extract: { timeoutMinutes: 5 } } }],
    }).then(() => undefined, (e: unknown) => e)
      .finally(() => ctx.target.query(`DROP TRIGGER ${fault} ON ml_features.user_features; DROP FUNCTION ${fault}(); DROP SEQUENCE ${fault}`));
    assert.ok(failed instanceof WorkflowFailedError);
    const cause = failed.cause?.cause as ApplicationFailure;
    assert.match(cause.message, /after 2 rows/);
    assert.deepEqual(await snapshot(), before);
    assert.deepEqual(await backups(), backupsBefore, 'no backup of a load that did not happen');
    const { events } = await ctx.client.workflow.getHandle(opts.workflowId).fetchHistory();
    const scheduled = Object.fromEntries(events!.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => {
      const a = e.activityTaskScheduledEventAttributes!;
      return [a.activityType!.name, [Number(a.startToCloseTimeout!.seconds), a.retryPolicy!.maximumAttempts]];
    }));
    assert.deepEqual([scheduled.crmExtractStart, scheduled.crmExtractTable, scheduled.crmExtractFiles, scheduled.crmExtractFinish, scheduled.crmClean, scheduled.crmLoad], [[300, 10], [300, 10], [300, 10], [300, 10], [1800, 10], [1800, 2]]);
    const loadScheduled = events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'crmLoad')!.eventId!.toString();
    const loadStarted = events!.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === loadScheduled);
    assert.equal(loadStarted?.activityTaskStartedEventAttributes?.attempt, 2, 'the load was tried twice, as configured');
  });

  it('restoreBackup: load, load again, restore the second load\'s backup, and the table is the first load\'s again', async () => {
    const everything = async () => (await ctx.target.query('SELECT * FROM ml_features.user_features ORDER BY user_id')).rows;
    await run({ loadStrategy: 'merge' });
    const first = await everything();
    // New transactions of A and of a new user E, so the second load changes rows and adds one.
    await insertTransactions(ctx.sourceAdmin, table, [
      { transaction_id: randomUUID(), user_id: `${p}A`, amount: '70.00', transaction_type: 'bet', status: 'completed', created_at: '2026-03-16 11:30:00', game_type: 'crash', channel: 'sms' },
      { transaction_id: randomUUID(), user_id: `${p}E`, amount: '20.00', transaction_type: 'deposit', status: 'completed', created_at: '2026-03-16 11:40:00', game_type: null, channel: 'sms' },
    ]);
    const second = await run({ loadStrategy: 'merge' });
    assert.notDeepEqual(await everything(), first);
    const afterSecond = await everything();

    const restored = await run({ restoreBackup: second.backupTable! });
    assert.equal(restored.restoredFrom, second.backupTable);
    assert.equal(restored.recordsRestored, first.length);
    assert.deepEqual(await everything(), first, 'every row and column as the first load left them (updated_at included)');
    // The table as it was before the restore is kept: restoring that undoes the restore.
    await run({ restoreBackup: restored.backupTable!.replace('ml_features.', '') });
    assert.deepEqual(await everything(), afterSecond);
    await ctx.sourceAdmin.query(`DELETE FROM ${table} WHERE created_at >= '2026-03-16 11:30:00' AND user_id IN ($1, $2)`, [`${p}A`, `${p}E`]);

    const missing = await run({ restoreBackup: 'user_features_backup_19990101000000' }).then(() => undefined, (e: unknown) => e);
    assert.ok(missing instanceof WorkflowFailedError);
    assert.match((missing.cause?.cause as ApplicationFailure).message, /there is no backup ml_features\.user_features_backup_19990101000000; the newest are: user_features_backup_/);
    const badName = await run({ restoreBackup: 'users; DROP TABLE x' }).then(() => undefined, (e: unknown) => e);
    assert.ok(badName instanceof WorkflowFailedError);
    assert.match((badName.cause as ApplicationFailure).message, /restoreBackup.*a backup name/);
    assert.deepEqual(await everything(), afterSecond, 'a failed restore changes nothing');
  });

  it('drops backups older than backupRetentionDays and keeps the recent ones', async () => {
    const old = 'user_features_backup_20200101000000';
    const recent = `user_features_backup_${new Date(Date.now() - 2 * 86400_000).toISOString().replace(/\D/g, '').slice(0, 14)}`;
    for (const name of [old, recent]) await ctx.target.query(`CREATE TABLE IF NOT EXISTS ml_features.${name} AS TABLE ml_features.user_features WITH NO DATA`);
    const result = await run({ backupRetentionDays: 30 });
    assert.ok(result.backupsDropped.includes(`ml_features.${old}`));
    const left = await backups();
    assert.ok(!left.includes(old));
    assert.ok(left.includes(recent));
    assert.ok(left.includes(result.backupTable!.split('.')[1]));
    const none = await run({ backupRetentionDays: 0 });
    assert.deepEqual(await backups(), [none.backupTable!.split('.')[1]], 'retention 0 keeps only this run\'s backup');
  });
});
