import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createSyncActivities } from '../../activities/incremental-sync';
import { createPool } from '../../lib/io/postgres';
import { freePort } from '../../lib/stack/processes';
import { decodeOptionalFailureToOptionalError, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import { dataConverter, temporalConnectionOptions } from '../../lib/temporal/connection';
import { openTestContext, settings, uniqueId, workflowBundle, type TestContext } from '../helpers/env';

describe('a source database that is down', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await openTestContext('retries', { worker: false });
  });
  afterAll(async () => ctx?.close());

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
      let pending: temporal.api.workflow.v1.IPendingActivityInfo | undefined;
      for (let i = 0; i < 100 && !(pending?.attempt && pending.attempt >= 3); i++) {
        await sleep(100);
        pending = (await handle.describe()).raw.pendingActivities?.[0];
      }
      assert.ok(pending?.attempt && pending.attempt >= 3, `the activity was retried (attempt ${pending?.attempt})`);
      // The message is in the failure's encrypted attributes: read it as our client does, with the key.
      const lastFailure = await decodeOptionalFailureToOptionalError(loadDataConverter(dataConverter(settings)), pending.lastFailure);
      assert.match(String(lastFailure?.message), /ECONNREFUSED/);
      assert.equal((await handle.describe()).status.name, 'RUNNING', 'the run is still waiting, not failed');
      await handle.terminate('test done');
    });
    await connection.close();
    await source.end();
  });
});
