// crmFeatures incremental mode against the real stack: after a first run (which builds the stored state), new, changed,
// moved, cancelled and late-committed transactions, a new and a rewritten lake file; after each incremental run the
// features equal a full recompute of the same sources at the same asOf (EXCEPT both ways, every feature column).
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type pg from 'pg';
import { FEATURE_COLUMNS } from '../../activities/crm-features/transform';
import type { CrmFeaturesInput, CrmFeaturesResult } from '../../lib/contracts/crm-features';
import { createS3Client } from '../../lib/io/s3';
import { generateCrmTransactions, insertTransactions, putLakeFile, toCsv, toJsonLines, type TransactionRow } from '../../lib/sample-data/crm-features';
import { AS_OF, writeDataset } from '../helpers/crm-features';
import { openTestContext, settings, startOptions, uniqueId, type TestContext } from '../helpers/env';

const DAY = 86400_000;
const at = (base: string, ms: number) => new Date(Date.parse(`${base}Z`) + ms).toISOString().slice(0, 19);
const local = (iso: string) => iso.replace('T', ' ');
const tx = (u: string, type: string, amount: string, when: string, game: string | null = 'slots'): TransactionRow =>
  ({ transaction_id: crypto.randomUUID(), user_id: u, amount, transaction_type: type, status: 'completed', created_at: local(when), game_type: game, channel: 'sms' });

describe('crmFeatures incremental: equal to a full recompute', () => {
  let ctx: TestContext;
  const s3 = createS3Client(settings.s3);
  const p = `${uniqueId('inc')}-`;
  const table = `crm_inc_${p.slice(4, 12)}`;
  const prefix = `lake/${p}`;
  const snap = `crm_inc_snap_${p.slice(4, 12)}`;
  const all = generateCrmTransactions({ users: 24, transactions: 480, seed: 18, asOf: new Date(`${AS_OF}Z`) })
    .map((r) => ({ ...r, user_id: `${p}${r.user_id}` }));
  const source = all.filter((_, i) => i % 2 === 0);
  const lake = all.filter((_, i) => i % 2 === 1);
  const small = [tx(`${p}U0000013`, 'bet', '20.00', at(AS_OF, -2 * DAY)), tx(`${p}U0000013`, 'deposit', '200.00', at(AS_OF, -9 * DAY), null),
    tx(`${p}U0000014`, 'bet', '40.00', at(AS_OF, -31 * DAY))];
  const user = (n: number) => `${p}U${String(n).padStart(7, '0')}`;

  const run = (input: CrmFeaturesInput) => ctx.client.workflow.execute('crmFeatures', {
    ...startOptions(ctx, 'crm-inc'), args: [{ sourceTable: table, lakePrefix: `s3:${prefix}`, allowHigh: true, ...input }],
  }) as Promise<CrmFeaturesResult>;
  const cols = FEATURE_COLUMNS.join(', ');
  /** The incremental run's features kept aside, a full recompute loaded, and the rows that differ either way. */
  const differencesFromFull = async (asOf: string) => {
    await ctx.target.query(`DROP TABLE IF EXISTS ${snap}`);
    await ctx.target.query(`CREATE TABLE ${snap} AS SELECT ${cols} FROM ml_features.user_features WHERE user_id LIKE $1`, [`${p}%`]);
    const full = await run({ asOf, mode: 'full', loadStrategy: 'replace' });
    assert.equal(full.mode, undefined, 'a full run is the run it always was');
    const current = `(SELECT ${cols} FROM ml_features.user_features WHERE user_id LIKE '${p}%')`;
    const { rows } = await ctx.target.query(`(SELECT 'incremental only' AS side, * FROM (TABLE ${snap} EXCEPT SELECT * FROM ${current} f) a)
      UNION ALL (SELECT 'full only', * FROM (SELECT * FROM ${current} f EXCEPT TABLE ${snap}) b) ORDER BY user_id, side`);
    const { rows: [n] } = await ctx.target.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${snap}`);
    return { rows, users: n.n };
  };
  const sourceUpdate = (sql: string, params: unknown[] = []) => ctx.sourceAdmin.query(sql.replaceAll('$table', table), params);

  beforeAll(async () => {
    ctx = await openTestContext('crm-inc');
    await writeDataset({ sourceAdmin: ctx.sourceAdmin, s3, bucket: settings.s3.bucket }, table, prefix, { source, lake, bad: [] }, ['csv']);
  });
  afterAll(async () => {
    await ctx?.target.query(`DROP TABLE IF EXISTS ${snap}`);
    s3.destroy();
    await ctx?.close();
  });

  let late: pg.PoolClient | undefined;
  const asOf2 = at(AS_OF, DAY + 3 * 3600_000);
  const asOf3 = at(asOf2, 2 * DAY);

  it('new, changed, moved and cancelled transactions, a new and a rewritten lake file: only their users recomputed, features equal a full run', async () => {
    // A transaction dated a few hours after asOf: quarantined now, counted once asOf passes it.
    await insertTransactions(ctx.sourceAdmin, table, [tx(user(3), 'bet', '77.00', at(AS_OF, 5 * 3600_000))]);
    await putLakeFile(s3, settings.s3.bucket, `${prefix}small.csv`, toCsv(small));
    const first = await run({ asOf: AS_OF, mode: 'incremental' });
    assert.equal(first.mode, 'full', JSON.stringify({ ...first, quality: undefined }));
    assert.match(first.fullReason!, /first incremental run/);

    // A second connection on the source holds a transaction open across the next run: a late commit, dated in the past.
    late = await ctx.sourceAdmin.connect();
    await late.query('BEGIN');
    await late.query(`INSERT INTO ${table} VALUES ($1, $2, 42.00, 'deposit', 'completed', $3, NULL, 'email')`,
      [crypto.randomUUID(), user(7), local(at(AS_OF, -20 * DAY))]);

    await insertTransactions(ctx.sourceAdmin, table, [
      tx(user(1), 'bet', '10.50', at(AS_OF, 2 * 3600_000)), tx(user(1), 'win', '30.00', at(AS_OF, 3 * 3600_000)),
      tx(user(2), 'deposit', '500.00', at(AS_OF, 20 * 3600_000), null), tx(user(24), 'bet', '12.00', at(AS_OF, 26 * 3600_000), 'poker'),
    ]);
    const ids = (await ctx.sourceAdmin.query<{ id: string; u: string }>(`SELECT transaction_id::text AS id, user_id AS u FROM ${table}
      WHERE user_id IN ($1, $2, $3, $4) AND created_at < $5 ORDER BY transaction_id`, [user(4), user(5), user(6), user(9), local(AS_OF)])).rows;
    const of = (u: string) => ids.filter((r) => r.u === u).map((r) => r.id);
    await sourceUpdate('UPDATE $table SET amount = amount + 1 WHERE transaction_id = $1', [of(user(4))[0]]);
    await sourceUpdate("UPDATE $table SET transaction_type = 'win' WHERE transaction_id = $1", [of(user(4))[1]]);
    // Moved to another user: both users change.
    await sourceUpdate('UPDATE $table SET user_id = $2 WHERE transaction_id = $1', [of(user(5))[0], user(6)]);
    await sourceUpdate("UPDATE $table SET status = 'cancelled' WHERE transaction_id = $1", [of(user(9))[0]]);
    // The same id as a table row, for another user, in a new lake file: the table's copy wins as long as it is valid;
    // once it is cancelled, the lake's copy is the one that counts.
    const contested = of(user(9))[1];
    await putLakeFile(s3, settings.s3.bucket, `${prefix}new-1.json`, toJsonLines([
      tx(user(10), 'bet', '15.00', at(AS_OF, 4 * 3600_000)), { ...tx(user(11), 'bet', '99.00', at(AS_OF, -3 * DAY)), transaction_id: contested },
    ]));
    await sourceUpdate("UPDATE $table SET status = 'cancelled' WHERE transaction_id = $1", [contested]);
    // A small lake file rewritten: one row gone, one amount changed.
    await putLakeFile(s3, settings.s3.bucket, `${prefix}small.csv`, toCsv(small.slice(1).map((r, i) => (i === 0 ? { ...r, amount: '1234.00' } : r))));

    const second = await run({ asOf: asOf2, mode: 'incremental' });
    assert.equal(second.mode, 'incremental', second.fullReason);
    assert.ok(second.usersRecomputed! > 5 && second.usersRecomputed! < 24, `recomputed ${second.usersRecomputed} of 24 users`);
    assert.equal(second.usersTransformed, 24, 'every user gets its relative and time-dependent features refreshed');
    const diff = await differencesFromFull(asOf2);
    assert.equal(diff.users, 24);
    assert.deepEqual(diff.rows, []);
  });

  it('a transaction committed after the last run read the table, whatever its date, is in the next run', async () => {
    assert.ok(late, 'the first test left a transaction open');
    const before = await ctx.target.query<{ n: number }>('SELECT total_transactions AS n FROM ml_features.user_features WHERE user_id = $1', [user(7)]);
    await late.query('COMMIT');
    late.release();
    late = undefined;
    const third = await run({ asOf: asOf3, mode: 'incremental' });
    assert.equal(third.mode, 'incremental', third.fullReason);
    const after = await ctx.target.query<{ n: number }>('SELECT total_transactions AS n FROM ml_features.user_features WHERE user_id = $1', [user(7)]);
    assert.equal(after.rows[0].n, before.rows[0].n + 1, 'the late-committed deposit counts');
    assert.deepEqual((await differencesFromFull(asOf3)).rows, []);
  });

  it('a deleted table row cannot be seen by its snapshot: the count tells, and the run recomputes everything, still equal', async () => {
    await sourceUpdate(`DELETE FROM $table WHERE transaction_id = (SELECT transaction_id FROM $table WHERE user_id = $1 LIMIT 1)`, [user(12)]);
    const fourth = await run({ asOf: asOf3, mode: 'incremental' });
    assert.equal(fourth.mode, 'full');
    assert.match(fourth.fullReason!, /deleted or re-keyed/);
    assert.deepEqual((await differencesFromFull(asOf3)).rows, []);
  });
});
