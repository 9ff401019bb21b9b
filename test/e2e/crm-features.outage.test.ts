// Postgres crashing under a running crmFeatures (immediate shutdown: crash recovery at restart, as after a power cut),
// with the real `etl worker` in its own process: the worker must outlive every connection it loses, the step retry
// once Postgres is back, and the run end exactly like an undisturbed one. Servers of the test's own, so the crash
// touches nobody else.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe } from '@jest/globals';
import type { Client } from '@temporalio/client';
import type { CrmFeaturesResult } from '../../lib/contracts/crm-features';
import { createPool } from '../../lib/io/postgres';
import { createS3Client } from '../../lib/io/s3';
import { findPipeline } from '../../lib/pipelines';
import { connectClient } from '../../lib/temporal/connection';
import { AS_OF, expectedFeatures, handChecked, loadedFeatures, writeDataset } from '../helpers/crm-features';
import { restoreAfter, spawnWorker, startPrivateServers, waitForFailedAttempt, waitForLockWait, type PrivateServers, type WorkerProcess } from '../helpers/faults';
import { uniqueId } from '../helpers/env';
import { itFault } from '../helpers/gates';

// In `npm run test:faults` (ETL_FAULT_TESTS=1), not in the default `npm test`: the crashes add about 25 s, the outages a minute.

describe('Postgres crashing, S3 going down, under a running crmFeatures', () => {
  let servers: PrivateServers;
  let worker: WorkerProcess;
  let client: Client;
  const started: string[] = [];

  beforeAll(async () => {
    servers = await startPrivateServers('crm-outage');
    worker = spawnWorker(servers.settings);
    client = await connectClient(servers.settings);
    // The worker migrates the target at its start: the tests lock its tables.
    const target = createPool(servers.settings.postgres.databaseUrl);
    try {
      for (let i = 0; i < 1200 && !(await target.query(`SELECT to_regclass('ml_features.user_features') AS t`)).rows[0].t; i++) await sleep(100);
    } finally {
      await target.end();
    }
  });
  afterAll(async () => {
    // A run left behind by a failed assertion would be picked up by the next file's worker on the same task queue.
    for (const id of started) await client?.workflow.getHandle(id).terminate('test over').catch(() => undefined);
    worker?.kill('SIGKILL');
    await client?.connection.close();
    await servers?.stop();
  });

  /** Starts a run on a fresh dataset, holds `lock` from the `database` side, crashes Postgres once the run waits on it. */
  async function runThroughCrash(label: string, lock: (p: string, table: string) => { database: 'source' | 'target'; table: string; relname: string }) {
    const p = `${uniqueId(label)}-`;
    const table = `crm_${label}_${p.slice(label.length + 1, label.length + 9)}`;
    const s3 = createS3Client(servers.settings.s3);
    const sourceAdmin = createPool(servers.settings.postgres.sourceAdminUrl);
    const target = createPool(servers.settings.postgres.databaseUrl);
    try {
      await writeDataset({ sourceAdmin, s3, bucket: servers.settings.s3.bucket }, table, `lake/${p}`, handChecked(p), ['json', 'csv']);
      const held = lock(p, table);
      const blocker = await (held.database === 'source' ? sourceAdmin : target).connect();
      blocker.on('error', () => undefined);
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE ${held.table} IN ACCESS EXCLUSIVE MODE`);
      const workflowId = uniqueId(`crm-${label}`);
      started.push(workflowId);
      const handle = await client.workflow.start('crmFeatures', {
        taskQueue: findPipeline('crm-features').taskQueue, workflowId,
        // The document's 3 attempts (1 s, 2 s) are shorter than this outage: the steps hit get the budget an operator
        // expecting restarts would give them.
        args: [{ sourceTable: table, lakePrefix: `s3:lake/${p}`, asOf: AS_OF, allowHigh: true,
          operations: { extract: { maxAttempts: 10 }, validate: { maxAttempts: 10 }, load: { maxAttempts: 10 } } }],
      });
      await waitForLockWait(held.database === 'source' ? sourceAdmin : target, held.relname);
      await servers.crash('postgres');
      blocker.release(true);
      await sleep(3000); // an outage of a few seconds: the step's attempts fail to connect meanwhile
      await servers.start('postgres');
      const result = await worker.orDeath(handle.result()) as CrmFeaturesResult;
      return { p, result, target, handle };
    } finally {
      s3.destroy();
      await sourceAdmin.end();
      // target is ended by the caller's checks below
    }
  }

  itFault('mid-extract (its COPY out of the source waiting): the worker lives on and the run loads what an undisturbed run loads', async () => {
    const { p, result, target, handle } = await runThroughCrash('ext', (_, table) => ({ database: 'source', table, relname: table }));
    try {
      assert.equal(worker.exitCode, null, `the worker process died:\n${worker.output()}`);
      assert.equal(result.recordsExtracted, 24);
      assert.equal(result.recordsLoaded, 4);
      assert.deepEqual(await loadedFeatures(target, p), expectedFeatures(p));
      const attempts = ((await handle.fetchHistory()).events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
      assert.ok(Math.max(...attempts) > 1, 'the extract ran again once Postgres was back');
    } finally {
      await target.end();
    }
  });

  itFault('mid-load, after the staging tables were filled: they survive crash recovery, so the load retried loads every user', async () => {
    const { p, result, target } = await runThroughCrash('load', () => ({ database: 'target', table: 'ml_features.user_features', relname: 'user_features' }));
    try {
      assert.equal(worker.exitCode, null, `the worker process died:\n${worker.output()}`);
      assert.equal(result.recordsLoaded, 4);
      assert.deepEqual(await loadedFeatures(target, p), expectedFeatures(p));
    } finally {
      await target.end();
    }
  });

  itFault('S3 down for 10 s as the extract starts (the lake unreachable): the extract is retried and the run loads what an undisturbed run loads', async () => {
    const p = `${uniqueId('s3')}-`;
    const table = `crm_s3_${p.slice(3, 11)}`;
    const s3 = createS3Client(servers.settings.s3);
    const sourceAdmin = createPool(servers.settings.postgres.sourceAdminUrl);
    const target = createPool(servers.settings.postgres.databaseUrl);
    try {
      await writeDataset({ sourceAdmin, s3, bucket: servers.settings.s3.bucket }, table, `lake/${p}`, handChecked(p), ['json', 'csv']);
      const down = Date.now();
      await servers.crash('s3');
      const workflowId = uniqueId('crm-s3');
      started.push(workflowId);
      // The document's 3 attempts (1 s, 2 s) give up within 3 s of a 10 s outage (docs/architecture.md, Faults): the
      // extract gets the budget an operator expecting restarts would give it.
      const handle = await client.workflow.start('crmFeatures', {
        taskQueue: findPipeline('crm-features').taskQueue, workflowId,
        args: [{ sourceTable: table, lakePrefix: `s3:lake/${p}`, asOf: AS_OF, allowHigh: true, operations: { extract: { maxAttempts: 10 } } }],
      });
      const failure = await worker.orDeath(waitForFailedAttempt(handle, /./));
      assert.ok(failure, 'the extract failed an attempt while S3 was down, and is retried');
      await restoreAfter(servers, 's3', down, 10_000);
      const result = await worker.orDeath(handle.result()) as CrmFeaturesResult;
      assert.equal(worker.exitCode, null, `the worker process died:\n${worker.output()}`);
      assert.equal(result.recordsExtracted, 24);
      assert.equal(result.recordsLoaded, 4);
      assert.deepEqual(await loadedFeatures(target, p), expectedFeatures(p));
    } finally {
      s3.destroy();
      await sourceAdmin.end();
      await target.end();
    }
  });
});
