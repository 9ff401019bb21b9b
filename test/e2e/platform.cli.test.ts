import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { SyncResult } from '../../lib/contracts/incremental-sync';
import { seedConversations } from '../../lib/sample-data/incremental-sync';
import { startWorkers, type RunningWorkers } from '../../workers';
import { etl } from '../helpers/cli';
import { openTestContext, settings, workflowBundle, type TestContext } from '../helpers/env';

const TABLE = 'public.conv_cli';

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

  it('schedules apply creates the schedules, and a second apply changes nothing', async () => {
    const first = await etl(['schedules', 'apply']);
    assert.equal(first.code, 0, first.stderr);
    const ids = ['incremental-sync-daily', 'mailing-campaigns-hourly', 'marketing-enrichment-weekly', 'crm-features-daily', 'sales-warehouse-hourly'];
    const changes = (result: unknown) => (result as { scheduleId: string; change: string }[]).map((a) => [a.scheduleId, a.change]);
    // Created, or already there when another test file applied them first in this namespace.
    assert.deepEqual(changes(first.json).map(([id]) => id), ids);
    assert.ok(changes(first.json).every(([, change]) => change === 'created' || change === 'unchanged'), JSON.stringify(first.json));
    const again = await etl(['schedules', 'apply']);
    assert.deepEqual(changes(again.json), ids.map((scheduleId) => [scheduleId, 'unchanged']));
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
    assert.equal(output.triggeredBy, `cli:${userInfo().username}`, 'etl_control.triggered_by says who ran it');
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

  it('health with a worker polling and the schedules in place: not critical; a schedule waiting for its input is a warning', async () => {
    const result = await etl(['health']);
    // Other test files' failed runs of the same workflow types may add warnings; nothing here is critical.
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, /ok\s+worker etl-incremental-sync\s+\d+ workflow and \d+ activity poller\(s\)/);
    assert.match(result.stdout, /warn\s+schedule incremental-sync-daily\s+paused: input not configured: set sourceTable/);
    assert.match(result.stdout, /ok\s+last success incrementalSync\s+cli-run-nowait \d+ min ago/);
    assert.match(result.stdout, /^healthy, with warnings$/m);
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
    const result = await etl(['run', 'incremental-sync'], { DATABASE_URL: 'localhost:5432/etl' });
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
    assert.equal(result.code, 2);
    assert.match(result.stdout, new RegExp(`FAIL\\s+schedule incremental-sync-daily\\s+last scheduled run ${lastRun.workflowId} failed`));
    assert.match(result.stdout, /^UNHEALTHY$/m);
  });

  it('an unknown pipeline names the known ones', async () => {
    const result = await etl(['run', 'nope']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /unknown pipeline "nope"; known pipelines: incremental-sync/);
  });
});
