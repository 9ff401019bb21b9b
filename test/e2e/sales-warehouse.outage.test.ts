// Postgres crashing (immediate shutdown, crash recovery at restart) while a salesWarehouse full load waits on a lock,
// with the real `etl worker` in its own process on servers of the test's own: the worker outlives its lost
// connections, the staging the load reads survives crash recovery, and the warehouse ends identical to the one an
// undisturbed run built.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe } from '@jest/globals';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { SalesWarehouseInput, SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { createPool } from '../../lib/io/postgres';
import { createS3Client } from '../../lib/io/s3';
import { findPipeline } from '../../lib/pipelines';
import { startSalesApi, type SalesApi } from '../../lib/sample-data/sales-warehouse-api';
import { connectClient } from '../../lib/temporal/connection';
import { uniqueId } from '../helpers/env';
import { restoreAfter, spawnWorker, startPrivateServers, waitForFailedAttempt, waitForLockWait, type PrivateServers, type WorkerProcess } from '../helpers/faults';
import { apiSales, AS_OF, handCheckedSources, LOOSE, warehouseSnapshot, writeErpTables } from '../helpers/sales-warehouse';
import { itFault } from '../helpers/gates';

// In `npm run test:faults` (ETL_FAULT_TESTS=1), not in the default `npm test`: the crash adds about 20 s, the outages a minute.

describe('Postgres crashing under a salesWarehouse load', () => {
  let servers: PrivateServers;
  let worker: WorkerProcess;
  let client: Client;
  const started: string[] = [];
  let api: SalesApi;
  let target: pg.Pool;
  let input: SalesWarehouseInput;
  let undisturbed: Awaited<ReturnType<typeof warehouseSnapshot>>;
  const erpTable = 'erp_sales_outage';
  const taskQueue = findPipeline('sales-warehouse').taskQueue;

  beforeAll(async () => {
    process.env.SALES_TEST_API_TOKEN = 'test-token';
    servers = await startPrivateServers('sales-outage', ['postgres', 's3']);
    worker = spawnWorker(servers.settings);
    client = await connectClient(servers.settings);
    api = await startSalesApi(apiSales, { token: 'test-token' });
    const s3 = createS3Client(servers.settings.s3);
    const sourceAdmin = createPool(servers.settings.postgres.sourceAdminUrl);
    try {
      await writeErpTables(sourceAdmin, erpTable);
      const sources = await handCheckedSources({ s3, bucket: servers.settings.s3.bucket, apiUrl: api.url, table: erpTable, prefix: 'sales-outage/' });
      input = { sources, asOf: AS_OF, thresholds: LOOSE, loadStrategy: 'full' };
    } finally {
      s3.destroy();
      await sourceAdmin.end();
    }
    target = createPool(servers.settings.postgres.databaseUrl);
    await worker.orDeath(client.workflow.execute('salesWarehouse', { taskQueue, workflowId: uniqueId('sales-undisturbed'), args: [input] }));
    undisturbed = await warehouseSnapshot(target);
  });
  afterAll(async () => {
    // A run left behind by a failed assertion would be picked up by the next file's worker on the same task queue.
    for (const id of started) await client?.workflow.getHandle(id).terminate('test over').catch(() => undefined);
    worker?.kill('SIGKILL');
    await api?.close();
    await target?.end();
    await client?.connection.close();
    await servers?.stop();
  });

  itFault('the load retried once Postgres is back builds the undisturbed run\'s warehouse, and the worker lives on', async () => {
    const blocker = await target.connect();
    blocker.on('error', () => undefined);
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE sales_dw.dim_customer IN ACCESS EXCLUSIVE MODE');
    const workflowId = uniqueId('sales-outage');
    started.push(workflowId);
    const handle = await client.workflow.start('salesWarehouse', { taskQueue, workflowId, args: [input] });
    await waitForLockWait(target, 'dim_customer');
    await servers.crash('postgres');
    blocker.release(true);
    await sleep(3000);
    await servers.start('postgres');
    const result = await worker.orDeath(handle.result()) as SalesWarehouseResult;
    assert.equal(worker.exitCode, null, 'the worker process is alive');
    assert.equal(result.rowsLoaded, 7);
    assert.deepEqual(await warehouseSnapshot(target), undisturbed);
  });

  itFault('S3 down for 10 s mid-extract (the database source copied, its raw file not yet landed): the run rides it out and builds the same warehouse', async () => {
    const sourceAdmin = createPool(servers.settings.postgres.sourceAdminUrl);
    try {
      // The database source's extract waits on this lock, so S3 goes down while that step is in flight.
      const blocker = await sourceAdmin.connect();
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE ${erpTable} IN ACCESS EXCLUSIVE MODE`);
      const workflowId = uniqueId('sales-s3-outage');
      started.push(workflowId);
      const handle = await client.workflow.start('salesWarehouse', { taskQueue, workflowId, args: [input] });
      await waitForLockWait(sourceAdmin, erpTable);
      const down = Date.now();
      await servers.crash('s3');
      await blocker.query('COMMIT');
      blocker.release();
      const failure = await worker.orDeath(waitForFailedAttempt(handle, /./));
      assert.ok(failure, 'an extract attempt failed while S3 was down, and is retried');
      await restoreAfter(servers, 's3', down, 10_000);
      const result = await worker.orDeath(handle.result()) as SalesWarehouseResult;
      assert.equal(worker.exitCode, null, 'the worker process is alive');
      assert.equal(result.rowsLoaded, 7);
      assert.deepEqual(await warehouseSnapshot(target), undisturbed);
    } finally {
      await sourceAdmin.end();
    }
  });
});
