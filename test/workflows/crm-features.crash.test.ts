import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, it } from '@jest/globals';
import { Worker } from '@temporalio/worker';
import { dataConverter } from '../../lib/temporal/connection';
import { projectRoot } from '../../lib/config/env';
import type { CrmFeaturesProgress, CrmFeaturesResult } from '../../lib/contracts/crm-features';
import { findPipeline } from '../../lib/pipelines';
import { createS3Client } from '../../lib/io/s3';
import { settingsToEnv } from '../../lib/config/settings';
import { startWorkers } from '../../workers';
import { AS_OF, expectedFeatures, handChecked, loadedFeatures, writeDataset } from '../helpers/crm-features';
import { openTestContext, settings, uniqueId, workflowBundle, type TestContext } from '../helpers/env';
import { describeFault } from '../helpers/gates';

// In `npm run test:faults` (ETL_FAULT_TESTS=1), not in the default `npm test`: the heartbeat timeout that notices the
// dead worker makes it 30-45 s, over CI's budget. A worker killed mid-run stays in `npm test` through the
// incrementalSync crash test and the multi-worker test.

describeFault('a worker killed in the middle of a crmFeatures load', () => {
  let ctx: TestContext;
  let workerProcess: ChildProcess | undefined;
  const s3 = createS3Client(settings.s3);

  beforeAll(async () => {
    ctx = await openTestContext('crm-crash', { worker: false });
  });
  afterAll(async () => {
    workerProcess?.kill('SIGKILL');
    s3.destroy();
    await ctx?.close();
  });

  it('the dead worker\'s transaction is rolled back, another worker loads once after the heartbeat timeout', async () => {
    const p = `${uniqueId('kc')}-`;
    const table = `crm_kc_${p.slice(3, 11)}`;
    await writeDataset({ sourceAdmin: ctx.sourceAdmin, s3, bucket: settings.s3.bucket }, table, `lake/${p}`, handChecked(p), ['json']);
    // The real `etl worker` command, in its own process, so it can die the way a machine does.
    workerProcess = spawn(process.execPath, [path.join(projectRoot, 'bin/etl.js'), 'worker'],
      { stdio: 'ignore', env: { ...process.env, ...settingsToEnv(settings), LOG_LEVEL: 'warn' } });
    // Hold the features table so the load blocks mid-transaction, where the kill is meant to land.
    const blocker = await ctx.target.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE ml_features.user_features IN ACCESS EXCLUSIVE MODE');
    const workflowId = uniqueId('crm-crash');
    const handle = await ctx.client.workflow.start('crmFeatures', {
      taskQueue: findPipeline('crm-features').taskQueue, workflowId,
      args: [{ sourceTable: table, lakePrefix: `s3:lake/${p}`, asOf: AS_OF, allowHigh: true }],
    });
    let step = '';
    for (let i = 0; i < 600 && step !== 'loading'; i++) {
      await sleep(100);
      step = (await handle.query('progress') as CrmFeaturesProgress).step;
    }
    assert.equal(step, 'loading');
    await sleep(300);
    workerProcess.kill('SIGKILL');
    await blocker.query('ROLLBACK');
    blocker.release();

    const replacement = await startWorkers(settings, { workflowBundle, tuning: { shutdownGraceTime: '1s' } });
    try {
      const result = await handle.result() as CrmFeaturesResult;
      assert.equal(result.recordsLoaded, 4);
      assert.deepEqual(await loadedFeatures(ctx.target, p), expectedFeatures(p));
      const history = await handle.fetchHistory();
      const loadAttempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes
        && history.events!.find((s) => s.eventId?.toString() === e.activityTaskStartedEventAttributes!.scheduledEventId?.toString())
          ?.activityTaskScheduledEventAttributes?.activityType?.name === 'crmLoad');
      assert.equal(loadAttempts.at(-1)?.activityTaskStartedEventAttributes?.attempt, 2, 'the load ran again on the new worker');
      await Worker.runReplayHistory({ workflowBundle, dataConverter: dataConverter(settings) }, history, workflowId);
    } finally {
      await replacement.shutdown();
    }
  });
});
