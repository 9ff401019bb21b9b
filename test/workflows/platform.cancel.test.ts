// Cancelling a run (Web UI, CLI: both are a cancel request on the workflow) leaves nothing behind, in every pipeline:
// its staging is dropped, the statement it was running ends (nothing commits after the cancel), the target is as it
// was, the dialer's folder holds no temporary file and the mailing journal row is closed, and marketing's messages
// already stored are kept and never asked for again. incrementalSync's etl_control row: platform.pipeline-run.test.ts.
// Each run is caught mid-step by a lock the test holds, so the cancel lands while a statement of the run is waiting.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type pg from 'pg';
import { runStagingId } from '../../lib/contracts/run';
import type { EnrichmentResult } from '../../lib/contracts/marketing-enrichment';
import { createS3Client } from '../../lib/io/s3';
import { AS_OF as CRM_AS_OF, handChecked, writeDataset } from '../helpers/crm-features';
import { openTestContext, settings, startOptions, uniqueId, type TestContext } from '../helpers/env';
import { FakeGemini } from '../helpers/fake-gemini';
import { waitForStep } from '../helpers/faults';
import { listFolder, makeFolders, seedPartners, writeCampaigns } from '../helpers/mailing-campaigns';
import { exportFolder, geminiSettings, tempDir, writeCustomers } from '../helpers/marketing-enrichment';
import { AS_OF as SALES_AS_OF, LOOSE, warehouseSnapshot, writeErpTables } from '../helpers/sales-warehouse';

const ROOT = `/cancel-${randomUUID().slice(0, 8)}`;
const PARTNERS = 'public.cancel_partners';

describe('a cancelled run leaves nothing behind', () => {
  let ctx: TestContext;
  const s3 = createS3Client(settings.s3);
  const dir = tempDir('cancel');
  // Slow enough that a run is cancelled half-way through its batches.
  const fake = new FakeGemini({ apiKey: 'test-key', latencyMs: 400 });

  beforeAll(async () => {
    await fake.start();
    const campaignsDir = writeCampaigns([{
      name: 'held', sftpFolder: `${ROOT}/held`, columns: [{ source: 'phone', header: 'TELEFONE', format: 'phone' }, { source: 'full_name', header: 'NOME' }],
      sql: `SELECT phone, full_name FROM ${PARTNERS} ORDER BY id`,
    }]);
    ctx = await openTestContext('cancel', { settings: { ...geminiSettings(fake), mailing: { campaignsDir } } });
    await seedPartners(ctx, PARTNERS, 50);
    await makeFolders([`${ROOT}/held`]);
  });
  afterAll(async () => {
    s3.destroy();
    await ctx?.close();
    await fake.stop();
  });

  /** Cancels the run the way the Web UI and `etl` do, and checks it ended cancelled. */
  const cancel = async (handle: WorkflowHandle) => {
    await handle.cancel();
    const error = await handle.result().then(() => assert.fail('the run should have been cancelled'), (e: unknown) => e);
    assert.ok(error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure, String(error));
    assert.deepEqual((await handle.describe()).searchAttributes.EtlOutcome, ['cancelled']);
  };
  /** Holds `lockSql` in a transaction of the test's own until `release` is called. */
  const hold = async (lockSql: string) => {
    const client: pg.PoolClient = await ctx.target.connect();
    await client.query('BEGIN');
    await client.query(lockSql);
    return async () => {
      await client.query('ROLLBACK');
      client.release();
    };
  };
  /** Statements of other sessions waiting for a lock (the run's own, caught by the test's lock). */
  const waiting = async () => Number((await ctx.target.query(
    `SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()`)).rows[0].n);
  const waitUntilWaiting = async () => {
    for (let i = 0; i < 600 && (await waiting()) === 0; i++) await sleep(100);
    assert.ok((await waiting()) > 0, 'the run should be waiting on the test\'s lock');
  };
  const stagingOf = async (handle: WorkflowHandle) => {
    const { runId } = await handle.describe();
    return (await ctx.target.query(`SELECT schemaname || '.' || tablename AS t FROM pg_tables WHERE tablename LIKE $1`,
      [`%${runStagingId(runId)}%`])).rows.map((r: { t: string }) => r.t);
  };

  it('crmFeatures cancelled while loading: staging dropped, the load rolled back, ml_features.user_features untouched', async () => {
    const p = `${uniqueId('cx')}-`;
    const table = `crm_cx_${p.slice(3, 11)}`;
    await writeDataset({ sourceAdmin: ctx.sourceAdmin, s3, bucket: settings.s3.bucket }, table, `lake/${p}`, handChecked(p), ['csv']);
    const features = async () => (await ctx.target.query('SELECT count(*)::int AS n, max(updated_at) AS at FROM ml_features.user_features')).rows[0];
    const backups = async () => Number((await ctx.target.query(
      `SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'ml_features' AND tablename LIKE 'user\\_features\\_backup\\_%'`)).rows[0].n);
    const before = { features: await features(), backups: await backups() };
    const release = await hold('LOCK TABLE ml_features.user_features IN ACCESS EXCLUSIVE MODE');
    try {
      const handle = await ctx.client.workflow.start('crmFeatures', {
        ...startOptions(ctx, 'crm-cancel'), args: [{ sourceTable: table, lakePrefix: `s3:lake/${p}`, asOf: CRM_AS_OF, allowHigh: true }],
      });
      await waitForStep(handle, 'loading');
      await waitUntilWaiting();
      assert.ok((await stagingOf(handle)).length > 0, 'the run has staging tables while it loads');
      await cancel(handle);
      assert.equal(await waiting(), 0, 'the cancelled load no longer waits to write ml_features.user_features');
      assert.deepEqual(await stagingOf(handle), []);
    } finally {
      await release();
    }
    assert.deepEqual({ features: await features(), backups: await backups() }, before);
  });

  it('salesWarehouse cancelled while loading: staging dropped, the warehouse as it was', async () => {
    const table = `public.sales_cx_${randomUUID().slice(0, 8)}`;
    await writeErpTables(ctx.sourceAdmin, table);
    const before = await warehouseSnapshot(ctx.target);
    // Loads take this advisory lock, one at a time (activities/sales-warehouse/load.ts).
    const release = await hold('SELECT pg_advisory_xact_lock(7233005)');
    try {
      const handle = await ctx.client.workflow.start('salesWarehouse', {
        ...startOptions(ctx, 'sales-cancel'),
        args: [{ sources: [{ kind: 'database', name: 'erp', query: `SELECT * FROM ${table}` }], asOf: SALES_AS_OF, thresholds: LOOSE }],
      });
      await waitForStep(handle, 'loading');
      await waitUntilWaiting();
      await cancel(handle);
      assert.equal(await waiting(), 0, 'the cancelled load no longer waits to write the warehouse');
      assert.deepEqual(await stagingOf(handle), []);
    } finally {
      await release();
    }
    assert.deepEqual(await warehouseSnapshot(ctx.target), before);
  });

  it('mailingCampaigns cancelled mid-export: no temporary file in the dialer\'s folder, the journal row closed as cancelled', async () => {
    const slot = '2025-05-05T10:00:00-03:00';
    // The query waits on the test's lock, after the temporary file was opened on the server.
    const admin = await ctx.sourceAdmin.connect();
    await admin.query(`BEGIN; LOCK TABLE ${PARTNERS} IN ACCESS EXCLUSIVE MODE`);
    let handle: WorkflowHandle | undefined;
    try {
      handle = await ctx.client.workflow.start('mailingCampaigns', { ...startOptions(ctx, 'mailing-cancel'), args: [{ campaigns: ['held'], slot }] });
      for (let i = 0; i < 600 && !(await listFolder(`${ROOT}/held`)).some((f) => f.includes('.part-')); i++) await sleep(100);
      assert.equal((await listFolder(`${ROOT}/held`)).filter((f) => f.includes('.part-')).length, 1, 'the upload is under way');
      await cancel(handle);
    } finally {
      await admin.query('ROLLBACK');
      admin.release();
    }
    assert.deepEqual(await listFolder(`${ROOT}/held`), []);
    const { rows } = await ctx.target.query(
      `SELECT status, finished_at IS NOT NULL AS closed, error_message FROM mailing_deliveries WHERE campaign = 'held' AND slot = $1`, [slot]);
    assert.deepEqual(rows, [{ status: 'cancelled', closed: true, error_message: 'the run was cancelled before this file was delivered' }]);
    // The next run for the slot delivers the file, once.
    await ctx.client.workflow.execute('mailingCampaigns', { ...startOptions(ctx, 'mailing-after-cancel'), args: [{ campaigns: ['held'], slot }] });
    assert.deepEqual(await listFolder(`${ROOT}/held`), ['mailing_held_05-05_10-00.csv']);
  });

  it('marketingEnrichment cancelled half-way: the messages stored are kept, and a rerun asks only for the others, once', async () => {
    const campaign = `cx${randomUUID().slice(0, 8)}`;
    const { folder, path: out } = exportFolder('cancel');
    const input = { customers: writeCustomers(dir, 'CX', 40), campaign, batchSize: 4, maxParallelRequests: 1, outputs: { folder } };
    const storedIds = async () => (await ctx.target.query<{ id: string }>(
      'SELECT customer_id AS id FROM marketing_messages WHERE campaign = $1 ORDER BY 1', [campaign])).rows.map((r) => r.id);
    const handle = await ctx.client.workflow.start('marketingEnrichment', { ...startOptions(ctx, 'mkt-cancel'), args: [input] });
    for (let i = 0; i < 600 && (await storedIds()).length < 8; i++) await sleep(100);
    await cancel(handle);
    const kept = await storedIds();
    assert.ok(kept.length >= 8 && kept.length < 40, `messages stored before the cancel: ${kept.length}`);
    assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'a cancelled run writes no file for the business team');
    const askedBefore = fake.timesAsked();

    const rerun = await ctx.client.workflow.execute('marketingEnrichment', { ...startOptions(ctx, 'mkt-rerun'), args: [input] }) as EnrichmentResult;
    assert.equal((await storedIds()).length, 40, 'one message per customer');
    assert.equal(rerun.alreadyEnriched, kept.length);
    assert.equal(rerun.enriched, 40 - kept.length);
    const askedAfter = fake.timesAsked();
    assert.deepEqual(kept.filter((id) => askedAfter.get(id) !== askedBefore.get(id)), [], 'a message stored before the cancel is never asked for again');
    assert.equal(readdirSync(out).filter((f) => !f.startsWith('.')).length, 2, 'the rerun writes the XLSX and the CSV');
  });
});
