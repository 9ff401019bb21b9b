// What an operator relies on around a run: the real `etl worker` logging JSON with workflow, run and activity ids
// and serving Prometheus metrics; `etl rerun` of a failed run; `etl replay --all` of recent runs.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { WorkflowFailedError } from '@temporalio/client';
import { decodeOptionalSinglePayload } from '@temporalio/common/lib/internal-non-workflow';
import { projectRoot } from '../../lib/config/env';
import type { SyncResult } from '../../lib/contracts/incremental-sync';
import { findPipeline } from '../../lib/pipelines';
import { seedConversations } from '../../lib/sample-data/incremental-sync';
import { freePort } from '../../lib/stack/processes';
import { etl } from '../helpers/cli';
import { openTestContext, uniqueId, type TestContext } from '../helpers/env';

const TABLE = 'public.conv_operating';

describe('operating a pipeline', () => {
  let ctx: TestContext;
  let worker: ChildProcess;
  let metricsUrl: string;
  let workerOutput = '';
  // Kept, not printed: at info level the worker logs its workflow bundle's webpack build there too.
  let workerErrors = '';
  const { taskQueue } = findPipeline('incremental-sync');

  beforeAll(async () => {
    ctx = await openTestContext('operating', { worker: false });
    const metricsAddress = `127.0.0.1:${await freePort()}`;
    metricsUrl = `http://${metricsAddress}/metrics`;
    worker = spawn(process.execPath, [path.join(projectRoot, 'bin/etl.js'), 'worker'], {
      env: { ...process.env, ETL_METRICS_ADDRESS: metricsAddress, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout!.on('data', (chunk: Buffer) => (workerOutput += chunk.toString()));
    worker.stderr!.on('data', (chunk: Buffer) => (workerErrors += chunk.toString()));
  });
  afterAll(async () => {
    worker?.kill('SIGKILL');
    await ctx?.close();
  });

  const logLines = () => workerOutput.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);

  it('a failed run, fixed, is rerun with the same input under a linked id', async () => {
    const workflowId = uniqueId('operating');
    const failed = await ctx.client.workflow.execute('incrementalSync', { taskQueue, workflowId, args: [{ sourceTable: TABLE, batchSize: 100 }] })
      .then(() => undefined, (error: unknown) => error);
    assert.ok(failed instanceof WorkflowFailedError, 'the source table does not exist yet');

    await seedConversations(ctx.sourceAdmin, ctx.target, 500, TABLE);
    const rerun = await etl(['rerun', workflowId]);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, new RegExp(`started incrementalSync ${workflowId}-rerun-1 `));
    assert.equal((rerun.json as SyncResult).rowsInserted, 500);
    const described = await ctx.client.workflow.getHandle(`${workflowId}-rerun-1`).describe();
    assert.deepEqual(described.searchAttributes.EtlRerunOf, [workflowId]);
    assert.deepEqual(described.searchAttributes.EtlOutcome, ['success']);
    assert.equal((await described.memo?.rerunOf as { status: string }).status, 'failed');

    // Each activity's event carries a one-line summary of what it acted on, shown in the Web UI.
    const history = await ctx.client.workflow.getHandle(`${workflowId}-rerun-1`).fetchHistory();
    const summaries = await Promise.all((history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => decodeOptionalSinglePayload<string>(ctx.client.options.loadedDataConverter, e.userMetadata?.summary)));
    assert.deepEqual(summaries, [`check ${TABLE} -> ${TABLE}`, `copy ${TABLE} -> ${TABLE} (full)`, `rows of ${TABLE} gone from ${TABLE}`,
      `etl_control: ${TABLE} success`]);

    // Rerunning again finds the rows committed and loads nothing twice.
    const again = await etl(['rerun', `${workflowId}-rerun-1`]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`started incrementalSync ${workflowId}-rerun-2 `));
    assert.equal((again.json as SyncResult).rowsInserted, 0);

    const unknown = await etl(['rerun', 'no-such-run']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr.trim(), 'etl: there is no workflow no-such-run');
  });

  it('the worker logs JSON lines with the workflow id, run id and activity', async () => {
    const batch = logLines().find((line) => line.msg === 'batch merged');
    assert.ok(batch, `${workerOutput.slice(0, 2000)}\n${workerErrors.slice(-2000)}`);
    assert.match(String(batch.workflowId), /^operating-.*-rerun-1$/);
    assert.equal(batch.activityType, 'copyChangedRows');
    assert.equal(batch.workflowType, 'incrementalSync');
    assert.ok(batch.workflowRunId && batch.time, 'run id and time on every line');
  });

  it('the worker serves Prometheus metrics of what it ran', async () => {
    let text = '';
    for (let i = 0; i < 50 && !/workflow_completed/.test(text); i++) {
      text = await fetch(metricsUrl).then((r) => r.text());
      if (!/workflow_completed/.test(text)) await sleep(200);
    }
    assert.match(text, /^temporal_workflow_completed_total\{.*workflow_type="incrementalSync".*\} [2-9]/m);
    assert.match(text, /^temporal_workflow_failed_total\{.*workflow_type="incrementalSync".*\} 1/m);
    assert.match(text, /^temporal_activity_execution_latency_bucket\{.*activity_type="copyChangedRows"/m);
  });

  it('replay --all replays every recent closed run of a type against the current code', async () => {
    const result = await etl(['replay', '--all', '--since', '1h', '--type', 'incrementalSync']);
    assert.equal(result.code, 0, result.stderr);
    const report = result.json as { replayed: number; failed: number; results: { workflowId: string; ok: boolean }[] };
    assert.ok(report.replayed >= 3, `replayed ${report.replayed}`);
    assert.equal(report.failed, 0);
    assert.ok(report.results.some((r) => r.workflowId.endsWith('-rerun-2')));
    const badSince = await etl(['replay', '--all', '--since', 'yesterday']);
    assert.equal(badSince.code, 2);
    assert.match(badSince.stderr, /--since yesterday: not a duration/);
  });
});
