import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, it } from '@jest/globals';
import { Worker } from '@temporalio/worker';
import { dataConverter } from '../../lib/temporal/connection';
import { projectRoot } from '../../lib/config/env';
import type { EnrichmentResult } from '../../lib/contracts/marketing-enrichment';
import { findPipeline } from '../../lib/pipelines';
import { settingsToEnv } from '../../lib/config/settings';
import { startWorkers } from '../../workers';
import { openTestContext, settings, uniqueId, workflowBundle, type TestContext } from '../helpers/env';
import { FakeGemini } from '../helpers/fake-gemini';
import { exportFolder, geminiSettings, tempDir, writeCustomers } from '../helpers/marketing-enrichment';
import { describeFault } from '../helpers/gates';

const CUSTOMERS = 300;
const BATCH = 10;
const PARALLEL = 2;

// In `npm run test:faults` (ETL_FAULT_TESTS=1), not in the default `npm test`: the heartbeat timeout that notices the
// dead worker makes it 30-45 s, over CI's budget. A worker killed mid-run stays in `npm test` through the
// incrementalSync crash test and the multi-worker test.

describeFault('a worker killed in the middle of an enrichment', () => {
  let ctx: TestContext;
  let workerProcess: ChildProcess | undefined;
  const dir = tempDir('marketing-crash');
  const fake = new FakeGemini({ apiKey: 'test-key', latencyMs: 150 });

  beforeAll(async () => {
    await fake.start();
    ctx = await openTestContext('marketing-crash', { worker: false });
  });
  afterAll(async () => {
    workerProcess?.kill('SIGKILL');
    await ctx?.close();
    await fake.stop();
  });

  it('completes on another worker: every customer enriched exactly once, only the in-flight batches asked again', async () => {
    const workerSettings = geminiSettings(fake);
    // The real `etl worker` command, in its own process, so it can die the way a machine does.
    workerProcess = spawn(process.execPath, [path.join(projectRoot, 'bin/etl.js'), 'worker'],
      { stdio: 'ignore', env: { ...process.env, ...settingsToEnv(workerSettings), LOG_LEVEL: 'warn' } });
    const workflowId = uniqueId('mkt-crash');
    const handle = await ctx.client.workflow.start('marketingEnrichment', {
      taskQueue: findPipeline('marketing-enrichment').taskQueue,
      workflowId,
      args: [{ customers: writeCustomers(dir, 'CRS', CUSTOMERS), campaign: 'crash', batchSize: BATCH, maxParallelRequests: PARALLEL,
        outputs: { folder: exportFolder('crash').folder } }],
    });
    const stored = async () => Number((await ctx.target.query(
      `SELECT count(*) FROM marketing_messages WHERE campaign = 'crash' AND workflow_id = $1`, [workflowId])).rows[0].count);
    let atKill = 0;
    for (let i = 0; i < 600 && atKill < 60; i++) {
      await sleep(50);
      atKill = await stored();
    }
    assert.ok(atKill >= 60 && atKill < CUSTOMERS, `killed mid-run (after ${atKill} messages)`);
    const progress = await handle.query('progress') as { step: string; done: number; total: number };
    assert.equal(progress.step, 'writing messages');
    assert.equal(progress.total, CUSTOMERS);
    workerProcess.kill('SIGKILL');

    const replacement = await startWorkers(workerSettings, { workflowBundle, tuning: { shutdownGraceTime: '1s' } });
    try {
      const result = await handle.result() as EnrichmentResult;
      assert.equal(result.enriched, CUSTOMERS);
      assert.equal(result.failed, 0);
      const { rows: [counts] } = await ctx.target.query(
        `SELECT count(*)::int AS rows, count(DISTINCT customer_id)::int AS customers, count(*) FILTER (WHERE status = 'enriched')::int AS enriched
           FROM marketing_messages WHERE campaign = 'crash'`);
      assert.deepEqual(counts, { rows: CUSTOMERS, customers: CUSTOMERS, enriched: CUSTOMERS });
      const asked = fake.timesAsked();
      assert.equal(asked.size, CUSTOMERS, 'no customer was lost');
      const askedTwice = [...asked.values()].filter((n) => n > 1).length;
      assert.ok(askedTwice <= BATCH * PARALLEL, `only the batches in flight at the kill were asked again (${askedTwice} customers)`);
      assert.ok([...asked.values()].every((n) => n <= 2));
      const history = await handle.fetchHistory();
      await Worker.runReplayHistory({ workflowBundle, dataConverter: dataConverter(settings) }, history, workflowId);
    } finally {
      await replacement.shutdown();
    }
  });
});
