// A worker killed in the middle of a salesWarehouse full load: another worker finishes the run after the heartbeat
// timeout, and the warehouse ends identical to the one an uninterrupted run built.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, it } from '@jest/globals';
import { projectRoot } from '../../lib/config/env';
import { findPipeline } from '../../lib/pipelines';
import type { SalesWarehouseInput, SalesWarehouseProgress, SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { createS3Client } from '../../lib/io/s3';
import { startSalesApi, type SalesApi } from '../../lib/sample-data/sales-warehouse-api';
import { settingsToEnv } from '../../lib/config/settings';
import { startWorkers } from '../../workers';
import { openTestContext, settings, uniqueId, workflowBundle, type TestContext } from '../helpers/env';
import { apiSales, AS_OF, handCheckedSources, LOOSE, warehouseSnapshot, writeErpTables } from '../helpers/sales-warehouse';
import { describeFault } from '../helpers/gates';

// In `npm run test:faults` (ETL_FAULT_TESTS=1), not in the default `npm test`: the heartbeat timeout that notices the
// dead worker makes it 30-45 s, over CI's budget. A worker killed mid-run stays in `npm test` through the
// incrementalSync crash test and the multi-worker test.

describeFault('a worker killed in the middle of a salesWarehouse load', () => {
  let ctx: TestContext;
  let api: SalesApi;
  let workerProcess: ChildProcess | undefined;
  const s3 = createS3Client(settings.s3);
  const p = uniqueId('sc').slice(3);
  const taskQueue = findPipeline('sales-warehouse').taskQueue;
  let input: SalesWarehouseInput;
  const snapshot = () => warehouseSnapshot(ctx.target);

  beforeAll(async () => {
    process.env.SALES_TEST_API_TOKEN = 'test-token';
    ctx = await openTestContext('sales-crash', { worker: false });
    api = await startSalesApi(apiSales, { token: 'test-token' });
    const table = `erp_sales_${p}`;
    await writeErpTables(ctx.sourceAdmin, table);
    const sources = await handCheckedSources({ s3, bucket: settings.s3.bucket, apiUrl: api.url, table, prefix: `sales-crash/${p}/` });
    input = { sources, asOf: AS_OF, thresholds: LOOSE, loadStrategy: 'full' };
  });
  afterAll(async () => {
    workerProcess?.kill('SIGKILL');
    await api?.close();
    s3.destroy();
    await ctx?.close();
  });

  it('the retried load starts over from scratch and the warehouse is the uninterrupted run\'s', async () => {
    const workers = await startWorkers(settings, { workflowBundle, tuning: { shutdownGraceTime: '1s' } });
    try {
      await ctx.client.workflow.execute('salesWarehouse', { taskQueue, workflowId: uniqueId('sales-uninterrupted'), args: [input] });
    } finally {
      await workers.shutdown();
    }
    const uninterrupted = await snapshot();

    // The real `etl worker` command, in its own process, so it can die the way a machine does.
    workerProcess = spawn(process.execPath, [path.join(projectRoot, 'bin/etl.js'), 'worker'],
      { stdio: 'ignore', env: { ...process.env, ...settingsToEnv(settings), LOG_LEVEL: 'warn' } });
    // Hold a dimension so the full build blocks half-way (sales_dw_next half made), where the kill is meant to land.
    const blocker = await ctx.target.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE sales_dw.dim_customer IN ACCESS EXCLUSIVE MODE');
    const handle = await ctx.client.workflow.start('salesWarehouse', { taskQueue, workflowId: uniqueId('sales-crash'), args: [input] });
    let step = '';
    for (let i = 0; i < 1200 && step !== 'loading'; i++) {
      await sleep(100);
      step = (await handle.query<SalesWarehouseProgress>('progress')).step;
    }
    assert.equal(step, 'loading');
    await sleep(500);
    workerProcess.kill('SIGKILL');
    await blocker.query('ROLLBACK');
    blocker.release();

    const replacement = await startWorkers(settings, { workflowBundle, tuning: { shutdownGraceTime: '1s' } });
    try {
      const result = await handle.result() as SalesWarehouseResult;
      assert.equal(result.rowsLoaded, 7);
    } finally {
      await replacement.shutdown();
    }
    const history = await handle.fetchHistory();
    const retried = history.events!.some((e) => e.activityTaskStartedEventAttributes && Number(e.activityTaskStartedEventAttributes.attempt) > 1);
    assert.ok(retried, 'the load was retried after the worker died');
    assert.deepEqual(await snapshot(), uninterrupted);
  });
});
