import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { SyncResult } from '../../lib/contracts/incremental-sync';
import { seedConversations } from '../../lib/sample-data/incremental-sync';
import { startWorkers, type RunningWorkers } from '../../workers';
import { etl } from '../helpers/cli';
import { openTestContext, settings, uniqueId, workflowBundle, type TestContext } from '../helpers/env';

const TABLE = 'public.conv_cli';

interface HealthReport {
  healthy: boolean;
  checks: { name: string; ok: boolean; detail: string; required: boolean }[];
}

/**
 * A new namespace on the test server, once the server answers for it. Where no worker has ever polled: in the
 * shared namespace, other test files run workers on the pipelines' own task queues (`etl worker` in the crash
 * tests, the CLI tests), and the server lists a poller for minutes after it stopped, so whether a worker is
 * polling there depends on which files ran before.
 */
async function namespaceWithoutWorkers(ctx: TestContext): Promise<string> {
  const namespace = uniqueId('cli-health');
  await ctx.client.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: 'etl-incremental-sync' },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW });
      return namespace;
    } catch (error) {
      // A namespace just registered is known to the server's caches within seconds.
      if (attempt >= 60) throw error;
      await sleep(500);
    }
  }
}

describe('the etl command', () => {
  let ctx: TestContext;
  let workers: RunningWorkers | undefined;

  beforeAll(async () => {
    ctx = await openTestContext('cli', { worker: false });
    await seedConversations(ctx.sourceAdmin, ctx.target, 2000, TABLE);
  });
  afterAll(async () => {
    await workers?.shutdown();
    await ctx?.close();
  });

  it('health fails and names the task queue when no worker is polling', async () => {
    const result = await etl(['health', '--json'], { TEMPORAL_NAMESPACE: await namespaceWithoutWorkers(ctx) });
    assert.equal(result.code, 1);
    const report = result.json as HealthReport;
    assert.equal(report.healthy, false);
    const worker = report.checks.find((c) => c.name === 'worker etl-incremental-sync');
    assert.equal(worker?.ok, false);
    assert.match(worker!.detail, /no worker is polling task queue etl-incremental-sync/);
    assert.ok(report.checks.find((c) => c.name === 'Temporal')?.ok);
    assert.ok(report.checks.find((c) => c.name === 'source database')?.ok);
  });

  it('schedules apply creates the schedules, and a second apply changes nothing', async () => {
    const first = await etl(['schedules', 'apply']);
    assert.equal(first.code, 0, first.stderr);
    const ids = ['incremental-sync-daily', 'mailing-campaigns-hourly', 'marketing-enrichment-weekly', 'crm-features-daily', 'sales-warehouse-hourly'];
    assert.deepEqual(first.json, ids.map((scheduleId) => ({ scheduleId, change: 'created', diff: [] })));
    const again = await etl(['schedules', 'apply']);
    assert.deepEqual(again.json, ids.map((scheduleId) => ({ scheduleId, change: 'unchanged', diff: [] })));
    // The hourly mailing schedule must not fire into the other tests' workers at a full hour.
    await ctx.client.schedule.getHandle('mailing-campaigns-hourly').pause('tests');
    await ctx.client.schedule.getHandle('sales-warehouse-hourly').pause('tests');
    const manual = await ctx.client.schedule.getHandle('marketing-enrichment-weekly').describe();
    assert.equal(manual.state.paused, true, 'marketing-enrichment is manual: its schedule waits, paused');
    const described = await ctx.client.schedule.getHandle('incremental-sync-daily').describe();
    assert.equal(described.spec.timezone, 'America/Sao_Paulo');
    const next = described.info.nextActionTimes[0];
    // 03:00 in São Paulo (UTC-3, no daylight saving time since 2019) is 06:00 UTC.
    assert.equal(next.getUTCHours(), 6);
    assert.equal(next.getUTCMinutes(), 0);
  });

  it('run starts a pipeline, waits, and prints its result as JSON on the last line', async () => {
    workers = await startWorkers(settings, { workflowBundle, tuning: { shutdownGraceTime: '1s' } });
    const result = await etl(['run', 'incremental-sync', '--input', JSON.stringify({ sourceTable: TABLE }), '--id', 'cli-run-ok']);
    assert.equal(result.code, 0, result.stderr);
    const output = result.json as SyncResult;
    assert.equal(output.rowsInserted, 2000);
    assert.equal(output.targetTable, TABLE);
    assert.match(result.stderr, /started incrementalSync cli-run-ok \(http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/cli-run-ok\//);
    // The run is findable in the Web UI's list by our search attributes.
    const described = await ctx.client.workflow.getHandle('cli-run-ok').describe();
    assert.deepEqual(described.searchAttributes.EtlPipeline, ['incrementalSync']);
    assert.deepEqual(described.searchAttributes.EtlOutcome, ['success']);
    assert.deepEqual(described.searchAttributes.EtlRowsLoaded, [2000]);
  });

  it('run --no-wait returns at once with the ids and the link', async () => {
    const result = await etl(['run', 'incremental-sync', '--no-wait', '--input', JSON.stringify({ sourceTable: TABLE }), '--id', 'cli-run-nowait']);
    assert.equal(result.code, 0, result.stderr);
    const started = result.json as { workflowId: string; runId: string; url: string };
    assert.equal(started.workflowId, 'cli-run-nowait');
    assert.match(started.url, /\/workflows\/cli-run-nowait\//);
    await ctx.client.workflow.getHandle('cli-run-nowait').result();
  });

  it('health is green with a worker polling and the schedule in place', async () => {
    const result = await etl(['health']);
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /ok\s+schedule incremental-sync-daily\s+active, next run/);
    assert.match(result.stdout, /last run incrementalSync\s+cli-run-nowait completed/);
    assert.match(result.stdout, /^healthy$/m);
  });

  it('a failed run exits non-zero with the message, the failed activity and its attempt', async () => {
    const result = await etl(['run', 'incremental-sync', '--input', '{"sourceTable":"public.nope"}', '--id', 'cli-run-bad']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /failed: source table public\.nope does not exist on the source database/);
    assert.match(result.stderr, /activity: prepareSync \(attempt 1\)/);
    assert.match(result.stderr, /type: SchemaError \(not retried\)/);
  });

  it('reads the input from a file with @, and reports bad JSON in one line', async () => {
    const bad = await etl(['run', 'incremental-sync', '--input', '{sourceTable:']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^etl: --input is not valid JSON: /);
    const missing = await etl(['run', 'incremental-sync', '--input', '@/nonexistent.json']);
    assert.equal(missing.stderr.trim(), 'etl: cannot read input file /nonexistent.json');
  });

  it('an input too big for Temporal is refused before anything starts, with its size, the limit and what to do instead', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'etl-big-')), 'input.json');
    writeFileSync(file, JSON.stringify({ sourceTable: 'public.demo', note: 'x'.repeat(3 * 1024 * 1024) }));
    const result = await etl(['run', 'incremental-sync', '--input', `@${file}`, '--id', 'cli-run-too-big']);
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim(), 'etl: the input is 3.0 MB, over the 1.9 MB a workflow input may hold (Temporal\'s payload limit): '
      + 'pass large data by reference instead: a file path, a table name or an S3 key (s3://bucket/key) that the pipeline reads');
    await assert.rejects(ctx.client.workflow.getHandle('cli-run-too-big').describe(), /not found/i);
  });

  it('a malformed variable is one clear line, not a stack trace', async () => {
    const result = await etl(['health'], { DATABASE_URL: 'localhost:5432/etl' });
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(result.stderr, /^etl: invalid configuration: DATABASE_URL="localhost:5432\/etl": must be a postgres:\/\/ URL/);
  });

  it('replay checks a finished run against the current workflow code', async () => {
    const result = await etl(['replay', '--workflow-id', 'cli-run-ok']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /cli-run-ok: replayed with the current workflow code, deterministic/);
  });

  it('health fails when the last scheduled run failed, naming it', async () => {
    // On this stack the schedule's default input points at a table the source does not have.
    const schedule = ctx.client.schedule.getHandle('incremental-sync-daily');
    await schedule.trigger();
    let lastRun: { workflowId: string; firstExecutionRunId: string } | undefined;
    for (let i = 0; i < 100 && !lastRun; i++) {
      const action = (await schedule.describe()).info.recentActions.at(-1)?.action;
      if (action?.type === 'startWorkflow') lastRun = action.workflow;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(lastRun, 'the schedule started a run');
    await ctx.client.workflow.getHandle(lastRun.workflowId, lastRun.firstExecutionRunId).result().catch(() => undefined);
    const result = await etl(['health']);
    assert.equal(result.code, 1);
    assert.match(result.stdout, new RegExp(`FAIL\\s+schedule incremental-sync-daily\\s+last scheduled run ${lastRun.workflowId} failed`));
    assert.match(result.stdout, /^UNHEALTHY$/m);
  });

  it('an unknown pipeline names the known ones', async () => {
    const result = await etl(['run', 'nope']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /unknown pipeline "nope"; known pipelines: incremental-sync/);
  });
});
