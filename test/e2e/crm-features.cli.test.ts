import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { CrmFeaturesResult } from '../../lib/contracts/crm-features';
import { startWorkers, type RunningWorkers } from '../../workers';
import { etl } from '../helpers/cli';
import { openTestContext, settings, workflowBundle, type TestContext } from '../helpers/env';

describe('crm-features from the command line', () => {
  let ctx: TestContext;
  let workers: RunningWorkers;

  beforeAll(async () => {
    ctx = await openTestContext('crm-cli', { worker: false });
    workers = await startWorkers(settings, { workflowBundle, tuning: { shutdownGraceTime: '1s' } });
  });
  afterAll(async () => {
    await workers?.shutdown();
    await ctx?.close();
  });

  it('sample-data crm writes tbl_transactions and the lake; etl run crm-features loads every user with the archetypes showing', async () => {
    const sample = await etl(['sample-data', 'crm', '--users', '40', '--transactions', '2000', '--seed', '7']);
    assert.equal(sample.code, 0, sample.stderr);
    const written = sample.json as { sourceRows: number; lakeFiles: { key: string; rows: number }[] };
    assert.deepEqual(written.lakeFiles.map((f) => f.key.split('.').at(-1)), ['parquet', 'csv', 'json']);
    assert.ok(written.sourceRows > 900);

    const run = await etl(['run', 'crm-features']);
    assert.equal(run.code, 0, run.stderr);
    const result = run.json as CrmFeaturesResult;
    assert.equal(Object.keys(result.bySource).length, 4);
    assert.ok(result.recordsQuarantined > 0, 'the sample has a few bad rows');
    assert.equal(result.recordsLoaded, 40);
    assert.equal(result.quality?.passed, true);
    // Archetypes by user number: 1 high roller, 2 casual weekend, 3 churned, 4 bonus hunter, then again.
    const { rows } = await ctx.target.query(`SELECT user_id, ticket_medio_categoria, churn_risk_score::float AS churn
      FROM ml_features.user_features WHERE user_id ~ '^U[0-9]{7}$' ORDER BY user_id`);
    const archetype = (id: string) => (Number(id.slice(1)) - 1) % 4;
    assert.ok(rows.filter((r) => archetype(r.user_id) === 0).every((r) => r.ticket_medio_categoria === 'alto'), 'high rollers bet high');
    assert.ok(rows.filter((r) => archetype(r.user_id) === 2).every((r) => r.churn >= 0.7), 'churned users are at risk');
    assert.ok(rows.filter((r) => archetype(r.user_id) !== 2).every((r) => r.churn < 0.7));
  });

  it('etl crm backups lists the backups; etl crm restore --backup puts one back: load, load again, restore = the first load', async () => {
    const sampleUsers = `SELECT * FROM ml_features.user_features WHERE user_id ~ '^U[0-9]{7}$' ORDER BY user_id`;
    const first = (await ctx.target.query(sampleUsers)).rows;
    const again = await etl(['run', 'crm-features']);
    assert.equal(again.code, 0, again.stderr);
    const second = again.json as CrmFeaturesResult;
    assert.notDeepEqual((await ctx.target.query(sampleUsers)).rows, first, 'the merge stamped a new updated_at on every user');

    const listed = await etl(['crm', 'backups']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal((listed.json as Array<{ name: string }>)[0].name, second.backupTable, 'newest first');

    const restore = await etl(['crm', 'restore', '--backup', second.backupTable!.replace('ml_features.', '')]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.equal((restore.json as CrmFeaturesResult).restoredFrom, second.backupTable);
    assert.deepEqual((await ctx.target.query(sampleUsers)).rows, first);

    const missing = await etl(['crm', 'restore', '--backup', 'user_features_backup_19990101000000']);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout + missing.stderr, /there is no backup ml_features\.user_features_backup_19990101000000/);
  });
});
