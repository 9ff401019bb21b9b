// crmFeaturesStream against the real servers: batches (S3 keys) applied by signal, a repeated batch id ignored, only
// the batch's users changed, counters carried across continue-as-new, a clean stop with the summary.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { WorkflowHandle } from '@temporalio/client';
import type { CrmStreamProgress, CrmStreamResult } from '../../lib/contracts/crm-features-stream';
import { createS3Client } from '../../lib/io/s3';
import { putLakeFile, toCsv, type TransactionRow } from '../../lib/sample-data/crm-features';
import { AS_OF, handChecked, writeDataset } from '../helpers/crm-features';
import { openTestContext, settings, startOptions, uniqueId, type TestContext } from '../helpers/env';

/** The hand-checked dataset with ids of its own (the stream's store is shared by every test). */
function freshIds(data: ReturnType<typeof handChecked>) {
  const ids = new Map<string, string>();
  const renew = (r: TransactionRow) => ({ ...r, transaction_id: ids.get(r.transaction_id) ?? ids.set(r.transaction_id, randomUUID()).get(r.transaction_id)! });
  return { source: data.source.map(renew), lake: data.lake.map(renew), bad: data.bad.map(renew) };
}

const tx = (user: string, type: string, amount: string, at: string, game: string | null): TransactionRow =>
  ({ transaction_id: randomUUID(), user_id: user, amount, transaction_type: type, status: 'completed', created_at: at, game_type: game, channel: 'whatsapp' });

describe('crmFeaturesStream: batches by signal, once each, only their users', () => {
  let ctx: TestContext;
  const s3 = createS3Client(settings.s3);
  const p = `${uniqueId('st')}-`;
  const table = `crm_st_${p.slice(3, 11)}`;
  const prefix = `lake/${p}`;
  const data = freshIds(handChecked(p));

  /** Every column of the dataset's users (updated_at included: an untouched user keeps it). */
  const rows = async () => Object.fromEntries((await ctx.target.query(
    'SELECT * FROM ml_features.user_features WHERE user_id LIKE $1 ORDER BY user_id', [`${p}%`])).rows.map((r) => [r.user_id, r]));
  const sendBatch = async (handle: WorkflowHandle, name: string, batch: TransactionRow[]) => {
    const key = `stream/${p}${name}.csv`;
    await putLakeFile(s3, settings.s3.bucket, key, toCsv(batch));
    await handle.signal('addBatch', { batchId: `${p}${name}`, key: `s3:${key}` });
  };
  /** Asks `progress` until it holds (the stream applies batches on its own time). */
  const until = async (handle: WorkflowHandle, done: (p: CrmStreamProgress) => boolean): Promise<CrmStreamProgress> => {
    for (let i = 0; i < 300; i++) {
      const progress = await handle.query<CrmStreamProgress>('progress');
      if (done(progress)) return progress;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`progress never got there: ${JSON.stringify(await handle.query('progress'))}`);
  };

  beforeAll(async () => {
    ctx = await openTestContext('crm-stream');
    await writeDataset({ sourceAdmin: ctx.sourceAdmin, s3, bucket: settings.s3.bucket }, table, prefix, data, ['csv']);
    // The full pipeline loads everyone first; the stream then keeps the batch's users up to date.
    await ctx.client.workflow.execute('crmFeatures', { ...startOptions(ctx, 'crm-st-full'), args: [{ sourceTable: table, lakePrefix: `s3:${prefix}`, asOf: AS_OF, allowHigh: true }] });
  });
  afterAll(async () => {
    s3.destroy();
    await ctx?.close();
  });

  it('applies each batch once, changes only its users, carries its counters across continue-as-new and stops cleanly', async () => {
    const handle = await ctx.client.workflow.start('crmFeaturesStream', {
      ...startOptions(ctx, 'crm-stream'), args: [{ sourceTable: table, lakePrefix: `s3:${prefix}`, asOf: AS_OF, batchesPerRun: 1 }],
    });
    const firstRunId = handle.firstExecutionRunId;
    await until(handle, (s) => s.seeded && s.step === 'waiting');
    const before = await rows();

    // Batch 1: two new transactions of A, a copy of A's stored bet (duplicate) and a negative deposit (quarantined).
    await sendBatch(handle, 'b1', [
      tx(`${p}A`, 'bet', '400.00', '2026-03-16 11:30:00', 'poker'),
      tx(`${p}A`, 'deposit', '100.00', '2026-03-16 11:00:00', null),
      { ...data.source[1] },
      tx(`${p}A`, 'deposit', '-5.00', '2026-03-16 11:10:00', null),
    ]);
    let progress = await until(handle, (s) => s.batchesApplied === 1);
    assert.deepEqual(progress.lastBatch, { batchId: `${p}b1`, duplicate: false, rows: 2, quarantined: 2, users: 1 });
    let after = await rows();
    assert.equal(after[`${p}A`].total_transactions, 7, 'A recomputed from all of its stored transactions: 5 + 2');
    assert.equal(Number(after[`${p}A`].ticket_medio), 250, 'bets 100, 300, 200 and 400');
    assert.equal(Number(after[`${p}A`].total_deposits), 1100);
    for (const user of ['B', 'C', 'D']) assert.deepEqual(after[`${p}${user}`], before[`${p}${user}`], `${user} untouched`);
    const quarantine = await ctx.target.query(`SELECT reason, count(*)::int AS n FROM etl_quarantine WHERE workflow_id = $1 AND run_id = $2 GROUP BY 1`,
      [handle.workflowId, `batch:${p}b1`]);
    assert.deepEqual(Object.fromEntries(quarantine.rows.map((r) => [r.reason, r.n])), { 'duplicate transaction_id': 1, 'negative amount': 1 });

    // The same batch id again (it reaches the run that continued as new): ignored, nothing changes.
    progress = await until(handle, (s) => s.runs === 2 && s.step === 'waiting');
    const afterFirst = await rows();
    await sendBatch(handle, 'b1', [tx(`${p}A`, 'bet', '9999.00', '2026-03-16 11:45:00', 'slots')]);
    progress = await until(handle, (s) => s.batchesIgnored === 1);
    assert.equal(progress.lastBatch?.duplicate, true);
    assert.deepEqual(await rows(), afterFirst, 'a repeated batch changes nothing');

    // A bad signal is counted, not fatal; batch 2 (user B) is applied by a later run with the counters carried over.
    await handle.signal('addBatch', { batchId: 'no spaces allowed', key: 'not-s3' });
    await sendBatch(handle, 'b2', [tx(`${p}B`, 'bet', '50.00', '2026-03-15 15:00:00', 'slots')]);
    progress = await until(handle, (s) => s.batchesApplied === 2);
    assert.equal(progress.batchesRejected, 1);
    assert.match(progress.rejected[0].error, /batchId/);
    after = await rows();
    assert.equal(after[`${p}B`].total_transactions, 6);
    assert.deepEqual(after[`${p}A`], afterFirst[`${p}A`], 'A untouched by B\'s batch');

    await handle.signal('stop');
    const result = await handle.result() as CrmStreamResult;
    assert.equal(result.step, 'stopped');
    assert.deepEqual([result.batchesApplied, result.batchesIgnored, result.rowsApplied, result.rowsQuarantined, result.usersUpdated], [2, 1, 3, 2, 2]);
    assert.ok(result.runs >= 3, `continued as new after each batch (runs: ${result.runs})`);
    const { runId } = await handle.describe();
    assert.notEqual(runId, firstRunId);
  });
});
