import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, it } from '@jest/globals';
import { projectRoot } from '../../lib/config/env';
import type { SyncResult } from '../../lib/contracts/incremental-sync';
import { findPipeline } from '../../lib/pipelines';
import { seedConversations } from '../../lib/sample-data/incremental-sync';
import { Worker } from '@temporalio/worker';
import { dataConverter } from '../../lib/temporal/connection';
import { startWorkers } from '../../workers';
import { openTestContext, settings, uniqueId, workflowBundle, type TestContext } from '../helpers/env';
import { describeFault } from '../helpers/gates';

const TABLE = 'public.conv_crash';
const ROWS = 150_000;

// In `npm run test:faults` (ETL_FAULT_TESTS=1), not in the default `npm test` (about 40 s), beside the SIGKILL of one
// of several workers in test/e2e/platform.multi-worker.test.ts.

describeFault('a worker killed in the middle of a load', () => {
  let ctx: TestContext;
  let workerProcess: ChildProcess | undefined;

  beforeAll(async () => {
    ctx = await openTestContext('crash', { worker: false });
    await seedConversations(ctx.sourceAdmin, ctx.target, ROWS, TABLE);
  });
  afterAll(async () => {
    workerProcess?.kill('SIGKILL');
    await ctx?.close();
  });

  it('resumes on another worker after the last committed batch: exact source state, nothing loaded twice', async () => {
    // The real `etl worker` command, in its own process, so it can die the way a machine does.
    workerProcess = spawn(process.execPath, [path.join(projectRoot, 'bin/etl.js'), 'worker'], { stdio: 'ignore', env: process.env });
    const { taskQueue } = findPipeline('incremental-sync');
    const workflowId = uniqueId('crash');
    const handle = await ctx.client.workflow.start('incrementalSync', {
      taskQueue, workflowId, args: [{ sourceTable: TABLE, batchSize: 1500 }],
    });
    let committedAtKill = 0;
    for (let i = 0; i < 1200 && committedAtKill < 15_000; i++) {
      await sleep(50);
      const { rows } = await ctx.target.query('SELECT rows_extracted::int AS n FROM etl_control WHERE workflow_id = $1', [workflowId]);
      committedAtKill = rows[0]?.n ?? 0;
    }
    assert.ok(committedAtKill >= 15_000 && committedAtKill < ROWS, `killed mid-load (after ${committedAtKill} rows)`);
    assert.deepEqual(await handle.query('progress'), { step: 'copying changed rows', mode: 'full' });
    workerProcess.kill('SIGKILL');

    const replacement = await startWorkers(settings, { workflowBundle, tuning: { shutdownGraceTime: '1s' } });
    try {
      const result = (await handle.result()) as SyncResult;
      assert.equal(result.rowsExtracted, ROWS, 'committed batches were not read again');
      assert.equal(result.rowsInserted, ROWS);
      assert.equal(result.rowsUpdated + result.rowsUnchanged, 0);
      const { rows: [target] } = await ctx.target.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids, sum(messages)::bigint AS m FROM ${TABLE}`);
      const { rows: [source] } = await ctx.sourceAdmin.query(`SELECT count(*)::int AS n, sum(messages)::bigint AS m FROM ${TABLE}`);
      assert.deepEqual(target, { n: source.n, ids: source.n, m: source.m });
      const history = await handle.fetchHistory();
      const attempts = (history.events ?? [])
        .map((e) => e.activityTaskStartedEventAttributes?.attempt)
        .filter((a): a is number => Boolean(a));
      assert.ok(attempts.includes(2), 'the copy ran a second attempt on the new worker');
      // The retry path replays deterministically too.
      await Worker.runReplayHistory({ workflowBundle, dataConverter: dataConverter(settings) }, history, workflowId);
    } finally {
      await replacement.shutdown();
    }
  });
});
