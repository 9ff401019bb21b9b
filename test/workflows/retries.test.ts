import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createSyncActivities } from '../../activities/load/sync';
import { createPool } from '../../lib/db';
import { freePort } from '../../lib/stack/processes';
import { dataConverter, temporalConnectionOptions } from '../../lib/temporal';
import { openTestContext, settings, uniqueId, workflowBundle, type TestContext } from '../helpers/env';

describe('a source database that is down', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await openTestContext('retries', { worker: false });
  });
  after(async () => ctx?.close());

  it('is retried with backoff, not failed: the run waits for the database to come back', async () => {
    // Nothing listens on this port: every connection is refused, as when the source is restarting.
    const downUrl = `postgres://etl_reader:etl_reader@127.0.0.1:${await freePort()}/etl_source`;
    const source = createPool(downUrl);
    const connection = await NativeConnection.connect(temporalConnectionOptions(settings));
    const worker = await Worker.create({
      dataConverter: dataConverter(settings),
      connection, taskQueue: ctx.taskQueue, workflowBundle,
      activities: createSyncActivities({ source, target: ctx.target, sourceUrl: downUrl }),
    });
    const workflowId = uniqueId('retries');
    await worker.runUntil(async () => {
      const handle = await ctx.client.workflow.start('incrementalSync', { taskQueue: ctx.taskQueue, workflowId, args: [{}] });
      let pending: { attempt?: number | null; lastFailure?: { message?: string | null } | null } | undefined;
      for (let i = 0; i < 100 && !(pending?.attempt && pending.attempt >= 3); i++) {
        await sleep(100);
        pending = (await handle.describe()).raw.pendingActivities?.[0];
      }
      assert.ok(pending?.attempt && pending.attempt >= 3, `the activity was retried (attempt ${pending?.attempt})`);
      assert.match(String(pending.lastFailure?.message), /ECONNREFUSED/);
      assert.equal((await handle.describe()).status.name, 'RUNNING', 'the run is still waiting, not failed');
      await handle.terminate('test done');
    });
    await connection.close();
    await source.end();
  });
});
