// What mailing_deliveries and the run's outcome say must be what the dialer got: a slow query's file delivered after
// the workflow gave up on its attempt is reported delivered; a file already there is counted in rows; a campaign file
// that does not validate is recorded; CRLF files when the campaign asks for them.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { MockActivityEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { createMailingActivities } from '../../activities/mailing-campaigns';
import { deliverCampaign } from '../../activities/mailing-campaigns/deliver-campaign';
import { recordFailure } from '../../activities/mailing-campaigns/deliveries-journal';
import { planMailingRun } from '../../activities/mailing-campaigns/plan-mailing-run';
import { createPool } from '../../lib/io/postgres';
import type { DeliveryReceipt, MailingResult } from '../../lib/contracts/mailing-campaigns';
import type { RunningWorkers } from '../../workers';
import { openTestContext, settings, startOptions, type TestContext } from '../helpers/env';
import { makeFolders, readRemote, seedPartners, startMailingWorkers, withCampaigns, withSftp, writeCampaigns } from '../helpers/mailing-campaigns';

const TABLE = 'public.mailing_journal_customers';
const ROOT = `/journal-${randomUUID().slice(0, 8)}`;
const columns = [{ source: 'phone', header: 'TELEFONE', format: 'phone' }, { source: 'full_name', header: 'NOME' }];

describe('mailing_deliveries and the outcome tell the real state', () => {
  let ctx: TestContext;
  let reader: ReturnType<typeof createPool>;
  let workers: RunningWorkers;
  let campaignsDir: string;
  const journal = async (campaign: string, slot: string) => (await ctx.target.query(
    `SELECT status, rows::int, bytes::int, file_name, error_message FROM mailing_deliveries WHERE campaign = $1 AND slot = $2`, [campaign, slot])).rows;

  beforeAll(async () => {
    ctx = await openTestContext('mailing-journal', { worker: false });
    await seedPartners(ctx, TABLE, 200);
    await makeFolders([`${ROOT}/crlf`, `${ROOT}/manual`, `${ROOT}/slow`]);
    campaignsDir = writeCampaigns([
      { name: 'crlf', sftpFolder: `${ROOT}/crlf`, columns, lineEnding: 'CRLF', sql: `SELECT phone, full_name FROM ${TABLE} ORDER BY id LIMIT 50` },
      { name: 'manual', sftpFolder: `${ROOT}/manual`, columns, sql: `SELECT phone, full_name FROM ${TABLE} ORDER BY id` },
      // Its first row comes after 4.5 s: longer than two heartbeat intervals.
      { name: 'slow', sftpFolder: `${ROOT}/slow`, columns, sql: `SELECT phone, full_name FROM ${TABLE}, pg_sleep(4.5) ORDER BY id LIMIT 5` },
      { name: 'broken', sftpFolder: `${ROOT}/manual`, columns, lineEnding: 'CR', sql: 'SELECT 1' },
    ]);
    reader = createPool(settings.postgres.sourceDatabaseUrl);
    workers = await startMailingWorkers(ctx, withCampaigns(campaignsDir));
  });
  afterAll(async () => {
    await workers?.shutdown();
    await reader?.end();
    await ctx?.close();
  });

  it('records an invalid campaign file, counts the rows of a file already there, and writes CRLF when asked', async () => {
    const slot = '2025-04-07T11:00:00-03:00';
    const slotIso = new Date(slot).toISOString();
    // Someone put a file under manual's name: a header and three rows, the last without a line break.
    await withSftp((sftp) => sftp.put(Buffer.from('TELEFONE;NOME\n1;a\n2;b\n3;c'), `${ROOT}/manual/mailing_manual_07-04_11-00.csv`));
    const handle = await ctx.client.workflow.start('mailingCampaigns', {
      ...startOptions(ctx, 'journal'), args: [{ campaigns: ['crlf', 'manual', 'broken'], slot }],
    });
    const error = await handle.result().catch((e: unknown) => e);
    assert.ok(error instanceof WorkflowFailedError, 'broken fails the run');
    const result = (error.cause as ApplicationFailure).details?.[0] as MailingResult;
    const byName = Object.fromEntries(result.campaigns.map((c) => [c.campaign, c]));

    assert.deepEqual(await journal('broken', slotIso), [{
      status: 'invalid', rows: null, bytes: null, file_name: null, error_message: byName.broken.error,
    }]);
    assert.match(byName.broken.error!, /lineEnding/);

    assert.equal(byName.manual.status, 'already-present');
    assert.equal(byName.manual.rows, 3);
    assert.deepEqual((await journal('manual', slotIso)).map((r) => [r.status, r.rows, r.bytes]), [['already-present', 3, 25]]);

    const crlf = (await readRemote(byName.crlf.remotePath!)).toString('utf8');
    assert.equal(byName.crlf.rows, 50);
    assert.equal(crlf.split('\r\n').length, 52, 'header, 50 rows, and the empty string after the last CRLF');
    assert.ok(!/[^\r]\n/.test(crlf), 'no bare LF');
    assert.equal(byName.crlf.bytes, Buffer.byteLength(crlf));
  });

  it('heartbeats while a slow query has not sent its first row yet', async () => {
    const delivery = planMailingRun({ campaignsDir, timeZone: settings.timezone },
      { campaigns: ['slow'], time: '2025-04-07T12:00:00-03:00', slotSource: 'input' }).deliveries[0];
    const activities = createMailingActivities({ source: reader, target: ctx.target, sftp: settings.sftp, campaignsDir, timeZone: settings.timezone });
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => beats.push(details));
    const receipt: DeliveryReceipt = await env.run(activities.deliverCampaign, delivery, { workflowId: 'journal-test', runId: randomUUID() });
    assert.equal(receipt.status, 'delivered');
    // Beats before any byte carry no progress yet; before the fix there were none (the only beats came with bytes).
    assert.ok(beats.filter((d) => d === undefined).length >= 2, `beats while the query ran: ${JSON.stringify(beats)}`);
  });

  it('a failure reported while an attempt still delivers is replaced by the real state', async () => {
    const delivery = planMailingRun({ campaignsDir, timeZone: settings.timezone },
      { campaigns: ['slow'], time: '2025-04-07T13:00:00-03:00', slotSource: 'input' }).deliveries[0];
    const run = { workflowId: 'journal-test', runId: randomUUID() };
    const deps = { source: reader, target: ctx.target, sftp: settings.sftp, timeZone: settings.timezone };
    // The attempt the workflow gave up on, still running its query ...
    const stillRunning = deliverCampaign(deps, delivery, run);
    await waitForLock(ctx, `mailing:slow:${delivery.slot}`);
    // ... while the workflow records the campaign as failed: it waits for that attempt and reports what it did.
    const real = await recordFailure(ctx.target, delivery, run, 'Activity task timed out');
    const delivered = await stillRunning;
    assert.equal(real?.status, 'delivered');
    assert.deepEqual([real?.rows, real?.bytes, real?.sha256], [delivered.rows, delivered.bytes, delivered.sha256]);
    assert.deepEqual((await journal('slow', delivery.slot)).map((r) => [r.status, r.rows, r.error_message]), [['delivered', 5, null]]);
  });
});

/** Waits until some session holds the delivery's advisory lock (the attempt has started). */
async function waitForLock(ctx: TestContext, key: string): Promise<void> {
  for (;;) {
    const { rows: [row] } = await ctx.target.query(`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
      AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)) AS held`, [key]);
    if (row.held) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
