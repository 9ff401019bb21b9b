// The SFTP server going down while mailingCampaigns uploads a campaign's file (part of it already written under its
// temporary name), with the real `etl worker` in its own process and an SFTP server of the test's own: the worker
// outlives its lost connection, the delivery is retried once the server is back, and the dialer's folder ends with
// the file an undisturbed run delivers (same bytes), one journal row, and no temporary file.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { MailingResult } from '../../lib/contracts/mailing-campaigns';
import { createPool } from '../../lib/io/postgres';
import { connectSftp } from '../../lib/io/sftp';
import { findPipeline } from '../../lib/pipelines';
import { generatePartnerCustomers, partnersTableSql } from '../../lib/sample-data/mailing-campaigns';
import { connectClient } from '../../lib/temporal/connection';
import { uniqueId } from '../helpers/env';
import { restoreAfter, spawnWorker, startPrivateServers, waitForAdvisoryLockWait, waitForFailedAttempt, type PrivateServers, type WorkerProcess } from '../helpers/faults';
import { writeCampaigns } from '../helpers/mailing-campaigns';

const TABLE = 'public.mailing_outage_customers';
/** The campaign's query waits on this advisory lock from its 500th row on, while the test holds it. */
const LOCK_KEY = 5_140_014;

// In `npm run test:faults` (ETL_FAULT_TESTS=1), not in the default `npm test`: an outage of 10 s, about 25 s in all.
const describeOutage = process.env.ETL_FAULT_TESTS ? describe : describe.skip;

describeOutage('SFTP going down under a running mailingCampaigns delivery', () => {
  let servers: PrivateServers;
  let worker: WorkerProcess;
  let client: Client;
  let sourceAdmin: pg.Pool;
  let target: pg.Pool;
  const started: string[] = [];
  const campaign = uniqueId('outage').replace('-', '_');
  const folder = `/${campaign}`;
  const taskQueue = findPipeline('mailing-campaigns').taskQueue;

  const listFolder = async () => {
    const sftp = await connectSftp(servers.settings.sftp);
    try {
      return (await sftp.list(folder)).filter((f) => f.type === '-').map((f) => f.name).sort();
    } finally {
      await sftp.end();
    }
  };
  const sha256Of = async (name: string) => {
    const sftp = await connectSftp(servers.settings.sftp);
    try {
      const { createHash } = await import('node:crypto');
      return createHash('sha256').update((await sftp.get(`${folder}/${name}`)) as Buffer).digest('hex');
    } finally {
      await sftp.end();
    }
  };
  const journal = async (slot: string) => (await target.query(
    `SELECT status, file_name, rows::int, bytes::int, sha256 FROM mailing_deliveries WHERE campaign = $1 AND slot = $2`, [campaign, slot])).rows;
  const deliver = (slot: string) => {
    const workflowId = uniqueId('mailing-outage');
    started.push(workflowId);
    return client.workflow.start('mailingCampaigns', { taskQueue, workflowId, args: [{ campaigns: [campaign], slot }] });
  };

  beforeAll(async () => {
    servers = await startPrivateServers('mailing-outage', ['sftp']);
    sourceAdmin = createPool(servers.settings.postgres.sourceAdminUrl);
    target = createPool(servers.settings.postgres.databaseUrl);
    await sourceAdmin.query(`DROP TABLE IF EXISTS ${TABLE}; ${partnersTableSql(TABLE)}`);
    await generatePartnerCustomers(sourceAdmin, { table: TABLE, count: 1000, seed: 7 });
    const sftp = await connectSftp(servers.settings.sftp);
    await sftp.mkdir(folder, true);
    await sftp.end();
    // CASE evaluates in order: rows before the 500th pass at once, the others wait for the lock (read-only: a shared one).
    const dir = writeCampaigns([{ name: campaign, sftpFolder: folder, columns: [{ source: 'phone', header: 'TELEFONE', format: 'phone' }],
      sql: `SELECT phone FROM (SELECT id, phone FROM ${TABLE} ORDER BY id) s `
        + `WHERE CASE WHEN s.id < 500 THEN true ELSE pg_advisory_xact_lock_shared(${LOCK_KEY})::text = '' END` }]);
    worker = spawnWorker({ ...servers.settings, mailing: { campaignsDir: dir } });
    client = await connectClient(servers.settings);
  });
  afterAll(async () => {
    for (const id of started) await client?.workflow.getHandle(id).terminate('test over').catch(() => undefined);
    worker?.kill('SIGKILL');
    await client?.connection.close();
    await sourceAdmin?.end();
    await target?.end();
    await servers?.stop();
  });

  it('down for 10 s mid-upload: the delivery is retried and the dialer gets the undisturbed run\'s file, once, with no temporary file left', async () => {
    const undisturbedSlot = '2025-03-12T08:00:00-03:00';
    const undisturbed = await worker.orDeath((await deliver(undisturbedSlot)).result()) as MailingResult;
    assert.equal(undisturbed.campaigns[0].status, 'delivered');

    const slot = '2025-03-12T09:00:00-03:00';
    const blocker = await sourceAdmin.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
      const handle = await deliver(slot);
      await worker.orDeath(waitForAdvisoryLockWait(sourceAdmin, LOCK_KEY));
      assert.ok((await listFolder()).some((name) => name.startsWith('.')), 'part of the file is uploaded under its temporary name');
      const down = Date.now();
      await servers.crash('sftp');
      await blocker.query('COMMIT');
      assert.ok(await worker.orDeath(waitForFailedAttempt(handle, /./)), 'the delivery failed an attempt while the server was down, and is retried');
      await restoreAfter(servers, 'sftp', down, 10_000);
      const result = await worker.orDeath(handle.result()) as MailingResult;
      assert.equal(worker.exitCode, null, 'the worker process is alive');
      assert.equal(result.campaigns[0].status, 'delivered');
    } finally {
      blocker.release();
    }

    const [before] = await journal(undisturbedSlot);
    const after = await journal(slot);
    assert.equal(after.length, 1, 'one journal row for the slot');
    assert.deepEqual({ ...after[0], file_name: undefined }, { ...before, file_name: undefined });
    const files = await listFolder();
    assert.deepEqual(files, [before.file_name, after[0].file_name].sort(), 'the two final files, no temporary one');
    assert.equal(await sha256Of(after[0].file_name), await sha256Of(before.file_name));
    assert.equal(await sha256Of(after[0].file_name), after[0].sha256);
  });
});
