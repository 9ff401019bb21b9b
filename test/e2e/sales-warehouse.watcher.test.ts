// The event trigger: `etl watch start` runs a watcher of a lake prefix that starts one salesWarehouse run per new
// file (a new key, or a new ETag of a key), never two for the same key and ETag, continues as new, and `etl watch
// stop` ends it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { type LakeWatcherProgress, watcherId } from '../../lib/contracts/sales-warehouse-watcher';
import { createS3Client } from '../../lib/io/s3';
import { startWorkers, type RunningWorkers } from '../../workers';
import { etl } from '../helpers/cli';
import { openTestContext, settings, workflowBundle, type TestContext } from '../helpers/env';
import { csvExport, LOOSE } from '../helpers/sales-warehouse';

describe('salesWarehouse started by files arriving in the lake', () => {
  let ctx: TestContext;
  let workers: RunningWorkers;
  const s3 = createS3Client(settings.s3);
  const prefix = `lake-watch-${randomUUID().slice(0, 8)}/incoming/`;
  const put = (key: string, body: string) => s3.send(new PutObjectCommand({ Bucket: settings.s3.bucket, Key: `${prefix}${key}`, Body: body }));
  const started = async () => (await ctx.target.query<{ key: string; etag: string; workflow_id: string }>(
    'SELECT key, etag, workflow_id FROM sales_etl.lake_files WHERE key LIKE $1 ORDER BY started_at, key', [`${prefix}%`])).rows;
  const until = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
    for (let i = 0; i < 600; i++) {
      const value = await probe();
      if (value !== undefined) return value;
      await sleep(100);
    }
    throw new Error(`gave up waiting for ${what}`);
  };
  const resultOf = (workflowId: string) => ctx.client.workflow.getHandle(workflowId).result() as Promise<SalesWarehouseResult>;

  beforeAll(async () => {
    ctx = await openTestContext('sales-watch', { worker: false });
    workers = await startWorkers(settings, { workflowBundle, tuning: { shutdownGraceTime: '1s' } });
  });
  afterAll(async () => {
    await workers?.shutdown();
    s3.destroy();
    await ctx?.close();
  });

  it('one run per new file or new version, none twice, continuing as new; stopped from the CLI', async () => {
    await put('vendas-1.csv', csvExport);
    const start = await etl(['watch', 'start', '--prefix', prefix, '--poll-seconds', '1',
      '--input', JSON.stringify({ pollsPerRun: 3, run: { asOf: '2024-02-20', thresholds: LOOSE } })]);
    assert.equal(start.code, 0, start.stderr);
    assert.equal((start.json as { workflowId: string }).workflowId, watcherId(prefix));
    const again = await etl(['watch', 'start', '--prefix', prefix]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already running/);

    const [first] = await until('the first file\'s run', async () => (await started())[0] ? await started() : undefined);
    assert.match(first.workflow_id, /^sales-lake-.*vendas-1\.csv-[0-9a-f]{16}$/);
    const one = await resultOf(first.workflow_id);
    assert.equal(one.loadStrategy, 'merge');
    assert.deepEqual(one.sources.lake.rawKeys.length, 1);
    assert.equal(one.rowsLoaded, 3, 'S4, S5 and S2 of the export; two rows are quarantined');

    // A second file, and the first one replaced (a new ETag): two more runs, each with its own id.
    await put('vendas-2.csv', csvExport.replaceAll(/^S(\d)/gm, 'T$1'));
    await put('vendas-1.csv', `${csvExport}S12;07/02/2024;C3;Carla Dias;P-001;Smartphone X;Eletrônicos;Recife;PE;loja;1;100;0;BRL;\r\n`);
    const files = await until('three runs', async () => ((await started()).length === 3 ? started() : undefined));
    assert.equal(new Set(files.map((f) => f.workflow_id)).size, 3);
    assert.deepEqual(files.map((f) => f.key.slice(prefix.length)).sort(), ['vendas-1.csv', 'vendas-1.csv', 'vendas-2.csv']);
    for (const file of files) assert.equal((await resultOf(file.workflow_id)).pipeline, 'salesWarehouse');

    // The watcher crashed after starting a run but before recording it: the start is repeated, and refused.
    const second = files.find((f) => f.key.endsWith('vendas-2.csv'))!;
    await ctx.target.query('DELETE FROM sales_etl.lake_files WHERE workflow_id = $1', [second.workflow_id]);
    const watcher = ctx.client.workflow.getHandle(watcherId(prefix));
    const progress = await until('the repeated start', async () => {
      const p = await watcher.query<LakeWatcherProgress>('progress');
      return p.lastFiles.some((f) => f.workflowId === second.workflow_id && f.status === 'already-started') ? p : undefined;
    });
    assert.equal(progress.filesStarted, 3);
    let count = 0;
    for await (const run of ctx.client.workflow.list({ query: `WorkflowId = '${second.workflow_id}'` })) count += run.workflowId === second.workflow_id ? 1 : 0;
    assert.equal(count, 1, 'the file was loaded once');

    // Every 3 listings the watcher continued as new: its first run's history ends there.
    // (A fast machine gets here before the third listing: wait for it.)
    const firstRunHandle = ctx.client.workflow.getHandle(watcherId(prefix), (start.json as { runId: string }).runId);
    const firstRun = await until('the first run continued as new', async () => {
      const events = (await firstRunHandle.fetchHistory()).events ?? [];
      return events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes ? events : undefined;
    });
    assert.ok(firstRun.at(-1)?.workflowExecutionContinuedAsNewEventAttributes, 'continued as new');

    const status = await etl(['watch', 'status', '--prefix', prefix]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal((status.json as { status: string }).status, 'running');
    const stop = await etl(['watch', 'stop', '--prefix', prefix]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.deepEqual(stop.json, { stopped: true, polls: (stop.json as { polls: number }).polls, filesStarted: 3 });
  });
});
