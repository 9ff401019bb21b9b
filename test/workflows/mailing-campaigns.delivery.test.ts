import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { utils } from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import { deliverCampaign, type DeliveryDeps } from '../../activities/mailing-campaigns/deliver-campaign';
import { connectSftp, SftpUpload } from '../../lib/io/sftp';
import { exportCampaign } from '../../activities/mailing-campaigns/campaign-export';
import { planMailingRun } from '../../activities/mailing-campaigns/plan-mailing-run';
import { createPool } from '../../lib/io/postgres';
import { migrate } from '../../lib/io/migrate';
import type { MailingResult, PlannedDelivery } from '../../lib/contracts/mailing-campaigns';
import { generateEd25519KeyPair } from '../../lib/stack/storage';
import { freePort } from '../../lib/stack/processes';
import type { RunningWorkers } from '../../workers';
import { openTestContext, settings, startOptions, type TestContext } from '../helpers/env';
import { listFolder, makeFolders, seedPartners, startMailingWorkers, withCampaigns, withSftp, writeCampaigns } from '../helpers/mailing-campaigns';

const TABLE = 'public.mailing_delivery_customers';
const ROOT = `/delivery-${randomUUID().slice(0, 8)}`;
const FOLDER = `${ROOT}/gamma`;

/**
 * A server that creates an upload's file late, every time instead of in some runs (then after the cleanup of a failed
 * export, an empty temporary file was left behind): the OPEN of an upload reaches the server only once the caller
 * waits for the file to be open ('ready'), or else just before the caller closes the session, after everything else
 * it sent.
 */
async function withLateOpens<T>(work: () => Promise<T>): Promise<T> {
  const { _construct: construct } = SftpUpload.prototype;
  const { end } = SftpClient.prototype;
  const pendingOpens = new WeakMap<object, () => Promise<void>>();
  const opening = jest.spyOn(SftpUpload.prototype, '_construct').mockImplementation(function (this: SftpUpload, callback) {
    let send: () => void = () => undefined;
    const opened = new Promise<void>((resolve) => {
      let sent = false;
      send = () => {
        if (sent) return;
        sent = true;
        construct.call(this, (err?: Error | null) => (callback(err), resolve()));
      };
    });
    if (this.listenerCount('ready')) send();
    else this.on('newListener', (event: string | symbol) => event === 'ready' && send());
    pendingOpens.set((this as unknown as { sftp: object }).sftp, () => (send(), opened));
  });
  const ending = jest.spyOn(SftpClient.prototype, 'end').mockImplementation(async function (this: SftpClient) {
    await pendingOpens.get((this as unknown as { sftp: object }).sftp)?.();
    return end.call(this);
  });
  try {
    return await work();
  } finally {
    opening.mockRestore();
    ending.mockRestore();
  }
}

describe('one delivery, exactly once, whatever happens to it', () => {
  let ctx: TestContext;
  let reader: ReturnType<typeof createPool>;
  let deps: DeliveryDeps;
  let campaignsDir: string;
  let slotHour = 8;
  /** A fresh slot each time, so that each test starts with nothing delivered. */
  const plan = (): PlannedDelivery => planMailingRun({ campaignsDir, timeZone: settings.timezone },
    { campaigns: ['gamma'], time: `2025-03-12T${String(slotHour++).padStart(2, '0')}:00:00-03:00`, slotSource: 'input' }).deliveries[0];
  const run = { workflowId: 'delivery-test', runId: randomUUID() };
  const journal = async (delivery: PlannedDelivery) => (await ctx.target.query(
    'SELECT status, rows::int FROM mailing_deliveries WHERE campaign = $1 AND slot = $2', [delivery.campaign.name, delivery.slot])).rows;

  beforeAll(async () => {
    ctx = await openTestContext('mailing-delivery', { worker: false });
    await migrate(ctx.target);
    await seedPartners(ctx, TABLE, 1000);
    await makeFolders([FOLDER]);
    campaignsDir = writeCampaigns([{ name: 'gamma', sftpFolder: FOLDER, columns: [{ source: 'phone', header: 'TELEFONE', format: 'phone' }],
      sql: `SELECT phone FROM ${TABLE} ORDER BY id` }]);
    reader = createPool(settings.postgres.sourceDatabaseUrl);
    deps = { source: reader, target: ctx.target, sftp: settings.sftp, timeZone: settings.timezone };
  });
  afterAll(async () => {
    await reader?.end();
    await ctx?.close();
  });

  for (const crashAt of ['afterUpload', 'beforeRename'] as const) {
    it(`a crash between upload and rename (${crashAt}) leaves no final file; the retry cleans up and delivers one`, async () => {
      const delivery = plan();
      const crash = async () => {
        throw new Error('worker died');
      };
      await assert.rejects(deliverCampaign(deps, delivery, run, { attempt: 1, [crashAt]: crash }), /worker died/);
      const leftover = await listFolder(FOLDER);
      assert.ok(leftover.includes(`.${delivery.fileName}.part-${run.runId.slice(0, 8)}-1`), 'the temporary file is there');
      assert.ok(!leftover.includes(delivery.fileName), 'the dialer saw nothing');
      assert.deepEqual(await journal(delivery), crashAt === 'beforeRename' ? [{ status: 'renaming', rows: 1000 }] : []);

      const receipt = await deliverCampaign(deps, delivery, run, { attempt: 2 });
      assert.equal(receipt.status, 'delivered');
      assert.equal(receipt.rows, 1000);
      const files = (await listFolder(FOLDER)).filter((f) => f.includes(delivery.fileName));
      assert.deepEqual(files, [delivery.fileName], 'one final file, no temporary one');
      assert.deepEqual(await journal(delivery), [{ status: 'delivered', rows: 1000 }]);
    });
  }

  it('a campaign failing mid-export (a value its encoding cannot hold) leaves no file, temporary or final, and names the row', async () => {
    const folder = `${ROOT}/delta`;
    await makeFolders([folder]);
    // Row 2 holds an emoji, which Latin-1 cannot: the export fails at once.
    const dir = writeCampaigns([{ name: 'delta', sftpFolder: folder, encoding: 'LATIN1',
      columns: [{ source: 'id', header: 'ID' }, { source: 'nome', header: 'NOME' }],
      sql: `SELECT id, CASE WHEN id = 2 THEN 'Zoë 😀' ELSE 'Zoë' END AS nome FROM generate_series(1, 50) id ORDER BY id` }]);
    const delivery = planMailingRun({ campaignsDir: dir, timeZone: settings.timezone },
      { campaigns: ['delta'], time: '2025-03-13T08:00:00-03:00', slotSource: 'input' }).deliveries[0];
    const error = await withLateOpens(() => deliverCampaign(deps, delivery, run, { attempt: 1 })).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ApplicationFailure && error.nonRetryable, String(error));
    assert.match(error.message, /campaign delta: row 2 of the query \(line 3 of the file\), column NOME, holds a character encoding LATIN1 cannot represent/);
    assert.deepEqual(await listFolder(folder), [], 'nothing left in the dialer\'s folder');
  });

  it('a retried delivery finds its file and does not upload it again, even after the dialer took it away', async () => {
    const delivery = plan();
    const first = await deliverCampaign(deps, delivery, run);
    const stat = await withSftp((sftp) => sftp.stat(delivery.remotePath));
    const again = await deliverCampaign(deps, delivery, { ...run, runId: randomUUID() });
    assert.equal(again.status, 'already-delivered');
    assert.deepEqual([again.rows, again.bytes, again.sha256], [first.rows, first.bytes, first.sha256]);
    assert.equal((await withSftp((sftp) => sftp.stat(delivery.remotePath))).modifyTime, stat.modifyTime);
    // Dialers move a file away once they start it; the slot must still not be sent twice.
    await withSftp((sftp) => sftp.delete(delivery.remotePath));
    assert.equal((await deliverCampaign(deps, delivery, run)).status, 'already-delivered');
    assert.ok(!(await listFolder(FOLDER)).includes(delivery.fileName));
  });

  it('a file of the same name put there by someone else is left alone', async () => {
    const delivery = plan();
    await withSftp((sftp) => sftp.put(Buffer.from('manual upload\n'), delivery.remotePath));
    const receipt = await deliverCampaign(deps, delivery, run);
    assert.equal(receipt.status, 'already-present');
    assert.equal((await withSftp((sftp) => sftp.get(delivery.remotePath))).toString(), 'manual upload\n');
  });

  it('runs the query read-only (even as a user who may write) and stops it at its statement timeout', async () => {
    const campaign = { ...plan().campaign, statementTimeoutSeconds: 1 };
    await ctx.sourceAdmin.query('CREATE SEQUENCE IF NOT EXISTS mailing_test_seq');
    const consume = async (csv: NodeJS.ReadableStream) => {
      for await (const chunk of csv) void chunk;
    };
    const writing = await exportCampaign(ctx.sourceAdmin, { ...campaign, sql: `SELECT nextval('mailing_test_seq')::text AS phone` }, settings.timezone, consume)
      .catch((e: unknown) => e);
    assert.ok(writing instanceof ApplicationFailure && writing.nonRetryable);
    assert.match(writing.message, /cannot execute nextval\(\) in a read-only transaction/);
    const slow = await exportCampaign(reader, { ...campaign, sql: 'SELECT pg_sleep(5)::text AS phone' }, settings.timezone, consume)
      .catch((e: unknown) => e);
    assert.ok(slow instanceof ApplicationFailure);
    assert.equal(slow.type, 'QueryTimeout');
    assert.match(slow.message, /campaign gamma, query campaigns\/sql\/gamma\.sql: canceling statement due to statement timeout \(statementTimeoutSeconds is 1\)/);
  });

  it('an unreachable server is an error to retry; a wrong host key or refused login fails at once', async () => {
    const down = await connectSftp({ ...settings.sftp, port: await freePort() }).catch((e: unknown) => e);
    assert.ok(!(down instanceof ApplicationFailure), 'retryable');
    assert.match(String((down as Error).message), /cannot reach the SFTP server/);

    const hostKey = utils.parseKey(readFileSync(path.join(settings.dataDir, 'keys', 'host_ed25519')));
    assert.ok(!(hostKey instanceof Error));
    const pinned = `ssh-ed25519 ${hostKey.getPublicSSH().toString('base64')}`;
    await (await connectSftp({ ...settings.sftp, hostKey: pinned })).end();
    const otherKey = utils.parseKey(generateEd25519KeyPair().public);
    assert.ok(!(otherKey instanceof Error));
    const mismatch = await connectSftp({ ...settings.sftp, hostKey: `ssh-ed25519 ${otherKey.getPublicSSH().toString('base64')}` }).catch((e: unknown) => e);
    assert.ok(mismatch instanceof ApplicationFailure && mismatch.nonRetryable);
    assert.equal(mismatch.type, 'HostKeyMismatch');
  });
});

describe('an SFTP login the server refuses', () => {
  let ctx: TestContext;
  let workers: RunningWorkers;

  beforeAll(async () => {
    ctx = await openTestContext('mailing-auth', { worker: false });
    await seedPartners(ctx, TABLE, 100);
    const wrongKey = path.join(settings.dataDir, `wrong-key-${randomUUID().slice(0, 8)}`);
    writeFileSync(wrongKey, generateEd25519KeyPair().private, { mode: 0o600 });
    const dir = writeCampaigns([{ name: 'gamma', sftpFolder: FOLDER, columns: [{ source: 'phone', header: 'TELEFONE' }],
      sql: `SELECT phone FROM ${TABLE}` }]);
    workers = await startMailingWorkers(ctx, withCampaigns(dir, { privateKeyFile: wrongKey }));
  });
  afterAll(async () => {
    await workers?.shutdown();
    await ctx?.close();
  });

  it('fails the campaign at once, naming the user, host and key, without retrying', async () => {
    const started = Date.now();
    const handle = await ctx.client.workflow.start('mailingCampaigns', { ...startOptions(ctx, 'auth'), args: [{ campaigns: ['gamma'] }] });
    const error = await handle.result().catch((e: unknown) => e);
    assert.ok(error instanceof WorkflowFailedError);
    const result = (error.cause as ApplicationFailure).details?.[0] as MailingResult;
    assert.equal(result.campaigns[0].errorType, 'AuthenticationError');
    assert.match(result.campaigns[0].error!, new RegExp(`SFTP login refused for ${settings.sftp.user}@${settings.sftp.host}:${settings.sftp.port} with the key .*wrong-key-`));
    const attempts = ((await handle.fetchHistory()).events ?? []).filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 0) > 1);
    assert.equal(attempts.length, 0);
    assert.ok(Date.now() - started < 10_000);
  });
});
