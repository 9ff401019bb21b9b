// The SFTP server going down, Postgres restarting, or the worker killed (SIGKILL) while mailingCampaigns uploads a
// campaign's file (part of it already written under its temporary name), with the real `etl worker` in its own process
// and servers of the test's own: the worker outlives its lost connections (or a second worker takes over from the
// killed one), the delivery is retried, and the dialer's folder ends with the file an undisturbed run delivers (same
// bytes), one journal row, and no temporary file.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, it } from '@jest/globals';
import type { WorkflowHandle } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { MailingResult } from '../../lib/contracts/mailing-campaigns';
import { connectSftp } from '../../lib/io/sftp';
import { generatePartnerCustomers, partnersTableSql } from '../../lib/sample-data/mailing-campaigns';
import { uniqueId } from '../helpers/env';
import { endsWithin, openFaultStack, restoreAfter, spawnWorker, waitForAdvisoryLockWait, waitForFailedAttempt, type FaultStack } from '../helpers/faults';
import { writeCampaigns } from '../helpers/mailing-campaigns';
import { describeFault } from '../helpers/gates';

const TABLE = 'public.mailing_outage_customers';
/** The campaign's query waits on this advisory lock from its 500th row on, while the test holds it. */
const LOCK_KEY = 5_140_014;
/** An outage (10 s at most) plus the delivery's retries' backoff (5 s, doubling to 1 min), generously. */
const OUTAGE_BOUND_MS = 120_000;
/** A killed worker's attempt is noticed at its heartbeat timeout (1 min); then the backoff, generously. */
const KILL_BOUND_MS = 180_000;

// In `npm run test:faults` (ETL_FAULT_TESTS=1), not in the default `npm test`: an SFTP outage of 10 s, a Postgres
// restart of 3 s, and a kill noticed at the delivery's heartbeat timeout (1 min): about 105 s in all.

describeFault('SFTP going down, Postgres restarting, the worker killed, under a running mailingCampaigns delivery', () => {
  let stack: FaultStack;
  const campaign = uniqueId('outage').replace('-', '_');
  const folder = `/${campaign}`;

  const listFolder = async () => {
    const sftp = await connectSftp(stack.servers.settings.sftp);
    try {
      return (await sftp.list(folder)).filter((f) => f.type === '-').map((f) => f.name).sort();
    } finally {
      await sftp.end();
    }
  };
  const sha256Of = async (name: string) => {
    const sftp = await connectSftp(stack.servers.settings.sftp);
    try {
      const { createHash } = await import('node:crypto');
      return createHash('sha256').update((await sftp.get(`${folder}/${name}`)) as Buffer).digest('hex');
    } finally {
      await sftp.end();
    }
  };
  const journal = async (slot: string) => (await stack.target.query(
    `SELECT status, file_name, rows::int, bytes::int, sha256 FROM mailing_deliveries WHERE campaign = $1 AND slot = $2`, [campaign, slot])).rows;
  const deliver = (slot: string) => stack.start('mailingCampaigns', 'mailing-outage', { campaigns: [campaign], slot });

  beforeAll(async () => {
    // CASE evaluates in order: rows before the 500th pass at once, the others wait for the lock (read-only: a shared one).
    const dir = writeCampaigns([{ name: campaign, sftpFolder: folder, columns: [{ source: 'phone', header: 'TELEFONE', format: 'phone' }],
      sql: `SELECT phone FROM (SELECT id, phone FROM ${TABLE} ORDER BY id) s `
        + `WHERE CASE WHEN s.id < 500 THEN true ELSE pg_advisory_xact_lock_shared(${LOCK_KEY})::text = '' END` }]);
    stack = await openFaultStack('mailing-outage', ['postgres', 'sftp'], (settings) => ({ ...settings, mailing: { campaignsDir: dir } }));
    await stack.sourceAdmin.query(`DROP TABLE IF EXISTS ${TABLE}; ${partnersTableSql(TABLE)}`);
    await generatePartnerCustomers(stack.sourceAdmin, { table: TABLE, count: 1000, seed: 7 });
    const sftp = await connectSftp(stack.servers.settings.sftp);
    await sftp.mkdir(folder, true);
    await sftp.end();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const undisturbedSlot = '2025-03-12T08:00:00-03:00';
  let undisturbed: Promise<MailingResult> | undefined;

  /**
   * Delivers `slot` with the campaign's query held mid-file (part of the file uploaded under its temporary name), runs
   * `fault` there, and checks the slot ends like an undisturbed run's: the same file by sha256, one journal row alike,
   * no temporary file, one final file per delivered slot, the worker alive, within `boundMs` of the fault.
   */
  async function deliverThrough(slot: string, boundMs: number, fault: (handle: WorkflowHandle, blocker: pg.PoolClient) => Promise<void>) {
    undisturbed ??= deliver(undisturbedSlot).then((handle) => stack.worker.orDeath(handle.result()) as Promise<MailingResult>);
    assert.equal((await undisturbed).campaigns[0].status, 'delivered');

    const blocker = await stack.sourceAdmin.connect();
    blocker.on('error', () => undefined); // Postgres may be crashed under it
    let released = false;
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
      const handle = await deliver(slot);
      await stack.worker.orDeath(waitForAdvisoryLockWait(stack.sourceAdmin, LOCK_KEY));
      assert.ok((await listFolder()).some((name) => name.startsWith('.')), 'part of the file is uploaded under its temporary name');
      const faultAt = Date.now();
      await fault(handle, blocker);
      released = true;
      const result = await stack.worker.orDeath(endsWithin(handle.result(), faultAt, boundMs)) as MailingResult;
      assert.equal(stack.worker.exitCode, null, 'the worker process is alive');
      assert.equal(result.campaigns[0].status, 'delivered');
    } finally {
      blocker.release(released);
    }

    const [before] = await journal(undisturbedSlot);
    const after = await journal(slot);
    assert.equal(after.length, 1, 'one journal row for the slot');
    assert.deepEqual({ ...after[0], file_name: undefined }, { ...before, file_name: undefined });
    const files = await listFolder();
    assert.ok(files.includes(after[0].file_name), 'the slot\'s file is delivered');
    assert.deepEqual(files.filter((name) => name.startsWith('.')), [], 'no temporary file left');
    const { rows: delivered } = await stack.target.query(`SELECT file_name FROM mailing_deliveries WHERE campaign = $1 AND status = 'delivered'`, [campaign]);
    assert.deepEqual(files, delivered.map((row) => row.file_name).sort(), 'one file per delivered slot, nothing else');
    assert.equal(await sha256Of(after[0].file_name), await sha256Of(before.file_name));
    assert.equal(await sha256Of(after[0].file_name), after[0].sha256);
  }

  it('SFTP down for 10 s mid-upload: the delivery is retried and the dialer gets the undisturbed run\'s file, once, with no temporary file left', async () => {
    await deliverThrough('2025-03-12T09:00:00-03:00', OUTAGE_BOUND_MS, async (handle, blocker) => {
      const down = Date.now();
      await stack.servers.crash('sftp');
      await blocker.query('COMMIT');
      assert.ok(await stack.worker.orDeath(waitForFailedAttempt(handle, /./)), 'the delivery failed an attempt while the server was down, and is retried');
      await restoreAfter(stack.servers, 'sftp', down, 10_000);
    });
    // The failed attempt's query ended with it: no transaction left open on the source, holding the query's locks.
    const { rows: open } = await stack.sourceAdmin.query(
      `SELECT state, left(query, 60) AS query FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`);
    assert.deepEqual(open, [], 'no transaction left open on the source');
  });

  it('Postgres restarting mid-upload (its query cut off mid-file): the delivery is retried and the dialer gets the undisturbed run\'s file, once, with no temporary file left', async () => {
    await deliverThrough('2025-03-12T10:00:00-03:00', OUTAGE_BOUND_MS, async () => {
      await stack.servers.crash('postgres');
      await sleep(3000); // an outage of a few seconds: the delivery's attempts fail to connect meanwhile
      await stack.servers.start('postgres');
    });
  });

  it('the worker killed (SIGKILL) mid-upload: a second worker delivers the undisturbed run\'s file, once, whole, with no temporary file left', async () => {
    await deliverThrough('2025-03-12T11:00:00-03:00', KILL_BOUND_MS, async (_, blocker) => {
      const killed = stack.worker;
      killed.kill('SIGKILL');
      while (killed.exitCode === null && killed.signalCode === null) await sleep(20);
      assert.equal(killed.signalCode, 'SIGKILL', 'the first worker died of the kill, not before');
      stack.worker = spawnWorker(stack.workerSettings);
      await blocker.query('COMMIT');
    });
  });
});
