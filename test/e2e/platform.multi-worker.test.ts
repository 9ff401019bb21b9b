// Several workers share one run: three `etl worker` processes (no worker inside the test) against one Temporal server,
// in a namespace of their own, serving every pipeline's task queue. salesWarehouse (one activity per source),
// crmFeatures (its extract: one activity for the table and one per lake file) and a mailing run of three campaigns (one delivery activity each) run there, and their histories show
// activities started by more than one worker. With ETL_FAULT_TESTS=1 (`npm run test:faults`), one worker is then killed
// with SIGKILL while it runs a sales source, and the run completes on the others with the result of the undisturbed run. Last, `etl health` with the compose
// file's worker variables (servers given by variables, nothing embedded) reports these workers healthy.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import yaml from 'js-yaml';
import { projectRoot } from '../../lib/config/env';
import { withoutServerVariables } from '../../lib/config/settings';
import type { CrmFeaturesResult } from '../../lib/contracts/crm-features';
import type { MailingResult } from '../../lib/contracts/mailing-campaigns';
import type { SalesWarehouseInput, SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { createS3Client } from '../../lib/io/s3';
import { pipelines } from '../../lib/pipelines';
import { startSalesApi, type SalesApi } from '../../lib/sample-data/sales-warehouse-api';
import { connectClient } from '../../lib/temporal/connection';
import { etl } from '../helpers/cli';
import { AS_OF as CRM_AS_OF, handChecked, writeDataset } from '../helpers/crm-features';
import { openTestContext, settings, uniqueId, type TestContext } from '../helpers/env';
import { makeFolders, seedPartners, writeCampaigns } from '../helpers/mailing-campaigns';
import { apiSales, AS_OF, handCheckedSources, LOOSE, writeErpTables } from '../helpers/sales-warehouse';
import { itFault } from '../helpers/gates';

const SEARCH_ATTRIBUTES = { EtlPipeline: 'KEYWORD', EtlOutcome: 'KEYWORD', EtlRowsLoaded: 'INT', EtlQualityGrade: 'KEYWORD', EtlRerunOf: 'KEYWORD' } as const;
const MAILING_TABLE = 'public.mailing_multi_worker';
const ROOT = `/mw-${uniqueId('d').slice(2)}`;

interface WorkerProcess { child: ChildProcess; identity: string; stderr: string }

/** A namespace of our own with the pipelines' search attributes, ready to serve. */
async function registerNamespace(client: Client, namespace: string): Promise<void> {
  await client.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  for (let attempt = 1; ; attempt++) {
    try {
      await client.connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) =>
          [name, temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${type}`]])),
      });
      return;
    } catch (error) {
      // A namespace just registered is known to the server's caches within seconds.
      if (attempt >= 60) throw error;
      await sleep(500);
    }
  }
}

/** Who started each activity of a run (its ActivityTaskStarted events), by activity type. */
async function startedBy(handle: WorkflowHandle): Promise<Array<{ activity: string; identity: string; attempt: number }>> {
  const events = (await handle.fetchHistory()).events ?? [];
  const types = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes)
    .map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name!]));
  return events.filter((e) => e.activityTaskStartedEventAttributes).map((e) => ({
    activity: types.get(String(e.activityTaskStartedEventAttributes!.scheduledEventId)) ?? '?',
    identity: e.activityTaskStartedEventAttributes!.identity!,
    attempt: e.activityTaskStartedEventAttributes!.attempt!,
  }));
}

/** A REST API in front of the sales test API that can hold its requests until released (a source being read). */
async function holdingProxy(target: string) {
  let holding = false;
  let release = () => undefined as void;
  let held: Promise<void> = Promise.resolve();
  let arrived = () => undefined as void;
  let firstHeld = new Promise<void>((resolve) => (arrived = resolve));
  const server = http.createServer((req, res) => {
    void (async () => {
      if (holding) {
        arrived();
        await held;
      }
      const url = new URL(target);
      url.search = new URL(req.url ?? '/', 'http://proxy').search;
      const upstream = await fetch(url, { headers: { authorization: req.headers.authorization ?? '' } });
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold() {
      holding = true;
      held = new Promise<void>((resolve) => (release = resolve));
      firstHeld = new Promise<void>((resolve) => (arrived = resolve));
    },
    /** Resolves when a request is being held. */
    requestHeld: () => firstHeld,
    release() {
      holding = false;
      release();
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe('three etl worker processes share the runs', () => {
  let ctx: TestContext;
  let client: Client;
  let api: SalesApi;
  let proxy: Awaited<ReturnType<typeof holdingProxy>>;
  let sources: SalesWarehouseInput['sources'];
  const workers: WorkerProcess[] = [];
  const namespace = uniqueId('multi-worker');
  const s3 = createS3Client(settings.s3);
  const p = uniqueId('mw').slice(3);
  const campaignsDir = writeCampaigns(['one', 'two', 'three'].map((name) => ({
    name, sftpFolder: `${ROOT}/${name}`, columns: [{ source: 'phone', header: 'TELEFONE', format: 'phone' }, { source: 'full_name', header: 'NOME' }],
    sql: `SELECT phone, full_name FROM ${MAILING_TABLE} ORDER BY id`,
  })));
  const workerEnv = {
    TEMPORAL_NAMESPACE: namespace,
    MAILING_CAMPAIGNS_DIR: campaignsDir,
    SALES_TEST_API_TOKEN: 'test-token',
    // One activity at a time per worker and a short sticky wait: the runs' parallel steps must spread over the workers,
    // and a workflow whose cached worker died moves on quickly.
    ETL_WORKER_MAX_CONCURRENT_ACTIVITIES: '1',
    ETL_WORKER_STICKY_TIMEOUT: '2s',
    ETL_WORKFLOW_BUNDLE: process.env.ETL_TEST_WORKFLOW_BUNDLE!,
    ETL_METRICS_ADDRESS: 'off',
  };
  const salesRun = (id: string) => client.workflow.start('salesWarehouse', {
    taskQueue: 'etl-sales-warehouse', workflowId: uniqueId(id), args: [{ sources, asOf: AS_OF, thresholds: LOOSE, loadStrategy: 'full' }],
  });
  const warehouse = async () => (await ctx.target.query(`SELECT sale_id, sales_amount::text, quantity, source FROM sales_dw.sales_fact
    WHERE source IS NOT NULL ORDER BY sale_id, source`)).rows;

  beforeAll(async () => {
    ctx = await openTestContext('multi-worker', { worker: false });
    client = await connectClient({ ...settings, temporal: { ...settings.temporal, namespace } });
    await registerNamespace(ctx.client, namespace);
    api = await startSalesApi(apiSales, { token: 'test-token' });
    proxy = await holdingProxy(api.url);
    await writeErpTables(ctx.sourceAdmin, `erp_sales_${p}`);
    sources = await handCheckedSources({ s3, bucket: settings.s3.bucket, apiUrl: proxy.url, table: `erp_sales_${p}`, prefix: `sales-mw/${p}/` });
    await seedPartners(ctx, MAILING_TABLE, 300);
    await makeFolders(['one', 'two', 'three'].map((name) => `${ROOT}/${name}`));

    for (let i = 0; i < 3; i++) {
      const child = spawn(process.execPath, [path.join(projectRoot, 'bin/etl.js'), 'worker'], {
        env: { ...process.env, ...workerEnv, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'],
      });
      const worker: WorkerProcess = { child, identity: `${child.pid}@`, stderr: '' };
      child.stderr!.on('data', (chunk) => (worker.stderr += chunk));
      workers.push(worker);
    }
    // Every pipeline's activity queue has all three workers polling.
    for (const pipeline of pipelines) {
      for (let attempt = 1; ; attempt++) {
        const { pollers } = await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: pipeline.taskQueue },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY });
        const identities = new Set((pollers ?? []).map((poller) => poller.identity));
        if (workers.every((w) => [...identities].some((id) => id?.startsWith(w.identity)))) break;
        if (attempt > 240) throw new Error(`workers not polling ${pipeline.taskQueue}: ${workers.map((w) => w.stderr).join('\n')}`);
        await sleep(250);
      }
    }
  });
  afterAll(async () => {
    for (const { child } of workers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.all(workers.map(({ child }) => child.exitCode !== null || child.signalCode !== null
      ? undefined : new Promise((resolve) => child.once('exit', resolve))));
    await proxy?.close();
    await api?.close();
    s3.destroy();
    await client?.connection.close();
    await ctx?.close();
  });

  let undisturbed: { result: SalesWarehouseResult; facts: unknown[] };

  it('runs sales, crm and a three-campaign mailing run with activities on more than one worker', async () => {
    const table = `crm_mw_${p.slice(0, 8)}`;
    const prefix = `lake/mw-${p}-`;
    await writeDataset({ sourceAdmin: ctx.sourceAdmin, s3, bucket: settings.s3.bucket }, table, prefix, handChecked(`mw-${p}-`), ['parquet', 'csv', 'json']);
    const sales = await salesRun('sales');
    const mailing = await client.workflow.start('mailingCampaigns', {
      taskQueue: 'etl-mailing-campaigns', workflowId: uniqueId('mailing'),
      args: [{ campaigns: ['one', 'two', 'three'], slot: '2025-03-10T10:00:00-03:00' }],
    });
    const salesResult = await sales.result() as SalesWarehouseResult;
    const mailingResult = await mailing.result() as MailingResult;
    // crm once the others are done: its extract's copies (the table and three lake files) find every worker free.
    const crm = await client.workflow.start('crmFeatures', {
      taskQueue: 'etl-crm-features', workflowId: uniqueId('crm'), args: [{ sourceTable: table, lakePrefix: `s3:${prefix}`, asOf: CRM_AS_OF, allowHigh: true }],
    });
    const crmResult = await crm.result() as CrmFeaturesResult;
    assert.equal(crmResult.usersTransformed, 4);
    assert.equal(mailingResult.delivered, 3);
    assert.equal(mailingResult.rows, 3 * 300);
    undisturbed = { result: salesResult, facts: await warehouse() };
    assert.ok(salesResult.rowsLoaded > 0);

    const started = [...await startedBy(sales), ...await startedBy(crm), ...await startedBy(mailing)];
    const identities = new Set(started.map((s) => s.identity));
    assert.ok(identities.size > 1, `every activity ran on one worker: ${[...identities].join(', ')}`);
    for (const identity of identities) assert.ok(workers.some((w) => identity.startsWith(w.identity)), `${identity} is one of ours`);
    // The steps that are one activity per source or per campaign are shared, not only the runs.
    const perSource = new Set((await startedBy(sales)).filter((s) => s.activity === 'salesExtractSource').map((s) => s.identity));
    const perCampaign = new Set((await startedBy(mailing)).filter((s) => s.activity === 'deliverCampaign').map((s) => s.identity));
    assert.ok(perSource.size > 1 || perCampaign.size > 1, 'the per-source and per-campaign activities ran on more than one worker');
    const crmCopies = (await startedBy(crm)).filter((s) => ['crmExtractTable', 'crmExtractFiles'].includes(s.activity));
    assert.equal(crmCopies.length, 4, 'the crm extract: the table and each of the three lake files in an activity of its own');
    assert.ok(new Set(crmCopies.map((s) => s.identity)).size > 1, `the crm extract's copies ran on one worker: ${JSON.stringify(crmCopies)}`);
    assert.deepEqual(crmResult.bySource, { [table]: 11, [`${prefix}part-0.parquet`]: 5, [`${prefix}part-1.csv`]: 5, [`${prefix}part-2.json`]: 3 });
  });

  // In `npm run test:faults` (ETL_FAULT_TESTS=1) with the other kills and outages, for CI's budget (about 25 s).
  itFault('a worker killed with SIGKILL while it reads a source: the run completes on the others, with the same result', async () => {
    proxy.hold();
    const sales = await salesRun('sales-killed');
    await proxy.requestHeld();
    // The worker that runs the REST source's extract: the other sources are done once it is the only activity running
    // (one activity per worker, and the workflow waits for every source before it goes on).
    let victim: WorkerProcess | undefined;
    for (let attempt = 1; !victim; attempt++) {
      const pending = (await sales.describe()).raw.pendingActivities ?? [];
      const running = pending.filter((a) => a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED);
      if (pending.length === 1 && running.length === 1 && running[0].activityType?.name === 'salesExtractSource') {
        victim = workers.find((w) => running[0].lastWorkerIdentity?.startsWith(w.identity));
      }
      if (attempt > 200) throw new Error(`no worker is running the held extract alone: ${JSON.stringify(pending)}`);
      if (!victim) await sleep(100);
    }
    victim.child.kill('SIGKILL');
    await new Promise((resolve) => victim.child.once('exit', resolve));
    proxy.release();

    const result = await sales.result() as SalesWarehouseResult;
    // Timings and run-named keys differ by nature; customersResegmented counts changes since the previous run (0 now).
    const strip = (r: SalesWarehouseResult) => JSON.parse(JSON.stringify(r, (key, value: unknown) =>
      ['durationMs', 'rawKeys', 'steps', 'customersResegmented'].includes(key) ? undefined : value)) as unknown;
    assert.deepEqual(strip(result), strip(undisturbed.result));
    assert.deepEqual(await warehouse(), undisturbed.facts);
    const retried = (await startedBy(sales)).filter((s) => s.activity === 'salesExtractSource' && s.attempt > 1);
    assert.ok(retried.length >= 1, 'the killed worker\'s extract was retried');
    assert.ok(retried.every((s) => !s.identity.startsWith(victim.identity)), 'on a worker still alive');
  });

  it('etl health with the compose file\'s worker variables (servers by variables, nothing embedded) is healthy', async () => {
    const compose = yaml.load(readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8')) as {
      services: { worker: { environment: Record<string, string> } };
    };
    // The compose file's names, with this test stack's servers as the values (its SFTP takes a key, not a password).
    const stack: Record<string, string | undefined> = { ...process.env, TEMPORAL_NAMESPACE: namespace, SFTP_PASSWORD: undefined };
    const composeShaped = Object.fromEntries(Object.keys(compose.services.worker.environment)
      .map((name) => [name, stack[name]]).filter((entry): entry is [string, string] => entry[1] !== undefined));
    for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'SOURCE_DATABASE_URL', 'S3_ENDPOINT', 'SFTP_HOST']) assert.ok(composeShaped[name], name);
    const env = { ...withoutServerVariables(process.env), ...composeShaped, SFTP_PRIVATE_KEY_FILE: process.env.SFTP_PRIVATE_KEY_FILE!,
      ETL_METRICS_ADDRESS: 'off', ETL_DATA_DIR: process.env.ETL_DATA_DIR! };
    const applied = await etl(['schedules', 'apply'], env);
    assert.equal(applied.code, 0, applied.stderr);
    try {
      const health = await etl(['health', '--json'], env);
      const report = JSON.parse(health.stdout) as { healthy: boolean; checks: { name: string; ok: boolean; detail: string }[] };
      // Healthy; the only warnings are the schedules that wait, paused, for their input (as on any fresh stack: exit 1),
      // and what etl_control holds from the other test files sharing this database (no failed run in this namespace).
      const warnings = report.checks.filter((c) => !c.ok);
      assert.ok(report.healthy && health.code <= 1, `${health.stdout}\n${health.stderr}`);
      for (const check of warnings) {
        assert.match(`${check.name}: ${check.detail}`,
          /^(schedule \S+: paused: |failures \S+: 0 failed run\(s\) in 24 h; etl_control: \d+ failed$|table \S+ -> \S+: )/);
      }
      for (const name of ['Temporal', 'target database', 'source database', 'S3 bucket', 'SFTP']) {
        assert.equal(report.checks.find((c) => c.name === name)?.ok, true, name);
      }
      assert.ok(report.checks.filter((c) => c.name.startsWith('worker ')).length >= pipelines.length);
    } finally {
      for await (const schedule of client.schedule.list()) await client.schedule.getHandle(schedule.scheduleId).delete();
    }
  });
});
