// npm run bench:sync — 1,000,000 rows initial load, then 100,000 changed rows incremental, on the embedded
// stack, against a raw COPY of the same rows into an unindexed table measured in the same run.
// Ends with one JSON line of the figures.
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { createSyncActivities, type SyncPlan } from '../activities/incremental-sync';
import { createPool } from '../lib/io/postgres';
import type { SyncOptions, SyncResult } from '../lib/contracts/incremental-sync';
import { installWorkerLogging } from '../lib/temporal/logging';
import { migrate } from '../lib/io/migrate';
import { generateConversations, sourceTableSql, targetTableSql } from '../lib/sample-data/incremental-sync';
import { connectClient } from '../lib/temporal/connection';
import { startWorkers } from '../workers';
import { bundleWorkflows, startBenchStack } from './bench-stack';
import { activitySeconds, benchRounds, median, perSecond, postmasterPid, printFigures, sampleMemory, seconds } from './harness';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const CHANGED = Number(process.env.BENCH_CHANGED ?? 100_000);
const SOURCE = 'public.bench_conversations';
const ROUNDS = benchRounds();

async function main() {
  installWorkerLogging('WARN');
  const stack = await startBenchStack('bench');
  const { settings } = stack;
  const source = createPool(settings.postgres.sourceAdminUrl, 2);
  const reader = createPool(settings.postgres.sourceDatabaseUrl, 4);
  const target = createPool(settings.postgres.databaseUrl, 6);
  try {
    await migrate(target);
    await source.query(`DROP TABLE IF EXISTS ${SOURCE}; ${sourceTableSql(SOURCE)}`);
    const t = process.hrtime.bigint();
    await generateConversations(source, { table: SOURCE, count: ROWS });
    await source.query(`VACUUM ANALYZE ${SOURCE}`);
    console.error(`# generated ${ROWS} source rows in ${seconds(t).toFixed(1)} s`);

    // Each timed load starts from a settled server: no autovacuum or checkpoint of the previous load running.
    const settle = async () => {
      await target.query('VACUUM ANALYZE');
      await target.query('CHECKPOINT');
    };

    // Baseline: the same rows, source COPY TO piped into COPY FROM an unindexed table.
    const rawCopy = async () => {
      const unindexed = sourceTableSql('bench_raw_copy').split(';')[0].replace(' PRIMARY KEY', '');
      await target.query(`DROP TABLE IF EXISTS bench_raw_copy; ${unindexed}`);
      await settle();
      const started = process.hrtime.bigint();
      const sourceClient = await reader.connect();
      const targetClient = await target.connect();
      await pipeline(sourceClient.query(copyTo(`COPY ${SOURCE} TO STDOUT`)), targetClient.query(copyFrom('COPY bench_raw_copy FROM STDIN')));
      sourceClient.release();
      targetClient.release();
      return seconds(started);
    };

    // The same load through the activities called directly, without Temporal.
    const activities = createSyncActivities({ source: reader, target, sourceUrl: settings.postgres.sourceDatabaseUrl });
    const direct = async () => {
      await target.query(`DROP TABLE IF EXISTS bench_direct; ${targetTableSql('bench_direct')}`);
      await settle();
      const started = process.hrtime.bigint();
      const options: SyncOptions = { sourceTable: SOURCE, targetTable: 'bench_direct', keyColumns: ['id'], updatedAtColumn: 'updated_at',
        full: false, deleteMissing: false, batchSize: 50_000, overlapSeconds: 300, changeDetection: 'auto' };
      const env = new MockActivityEnvironment();
      const plan: SyncPlan = await env.run(activities.prepareSync, options, { workflowId: `bench-direct-${randomUUID()}`, runId: randomUUID() });
      await env.run(activities.copyChangedRows, plan);
      if (plan.mode === 'full') await env.run(activities.reconcileMissingRows, plan);
      const result = (await env.run(activities.finishSync, plan, { status: 'success' as const })) as SyncResult;
      return { result, s: seconds(started) };
    };

    // The workflow, end to end: start, worker, activities, result.
    const workflowBundle = await bundleWorkflows();
    const taskQueue = `bench-${randomUUID().slice(0, 8)}`;
    const workers = await startWorkers(settings, { workflowBundle, taskQueue });
    const client = await connectClient(settings);
    const runWorkflow = async (input: object) => {
      const started = process.hrtime.bigint();
      const workflowId = `bench-${randomUUID()}`;
      const result = await client.workflow.execute('incrementalSync', { taskQueue, workflowId, args: [input] }) as SyncResult;
      const s = seconds(started);
      return { result, s, activityS: await activitySeconds(client.workflow.getHandle(workflowId)) };
    };
    const initialLoad = async () => {
      await target.query(`DROP TABLE IF EXISTS bench_target; ${targetTableSql('bench_target')}`);
      await settle();
      return runWorkflow({ sourceTable: SOURCE, targetTable: 'bench_target' });
    };

    // Single runs on 2 cores vary by ±20 % and drift over a session: each load runs ROUNDS times, the
    // three side by side in every round (direct and workflow swap places every other round), and the
    // ratios are taken within a round, then their median.
    const memory = sampleMemory(await postmasterPid(target));
    const copies: number[] = [];
    const directs: { result: SyncResult; s: number }[] = [];
    const initials: { result: SyncResult; s: number; activityS: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      copies.push(await rawCopy());
      if (round % 2 === 0) {
        directs.push(await direct());
        initials.push(await initialLoad());
      } else {
        initials.push(await initialLoad());
        directs.push(await direct());
      }
      console.error(`# round ${round + 1}: raw COPY ${copies[round].toFixed(2)} s, direct ${directs[round].s.toFixed(2)} s, workflow ${initials[round].s.toFixed(2)} s (${initials[round].activityS.toFixed(2)} s in activities)`);
    }
    const copyS = median(copies);
    const directS = median(directs.map((d) => d.s));
    const initial = initials.find((i) => i.s === median(initials.map((x) => x.s)))!;
    const directResult = directs[0].result;
    const ratioToCopy = median(initials.map((run, i) => copies[i] / run.s));
    const overVersusDirect = median(initials.map((run, i) => run.s / directs[i].s - 1));

    // 100k rows change at the source; the next run moves only them.
    await source.query(`UPDATE ${SOURCE} SET messages = messages + 1, updated_at = now() WHERE id % ${Math.round(ROWS / CHANGED)} = 0`);
    await source.query(`VACUUM ANALYZE ${SOURCE}`);
    await settle();
    const incremental = await runWorkflow({ sourceTable: SOURCE, targetTable: 'bench_target' });
    const nothingNew = await runWorkflow({ sourceTable: SOURCE, targetTable: 'bench_target', overlapSeconds: 0 });
    const peaks = memory.stop();
    await client.connection.close();
    await workers.shutdown();

    const figures = {
      pipeline: 'incrementalSync',
      rounds: ROUNDS,
      rows: ROWS,
      wall_s: initial.s,
      rows_per_s: perSecond(ROWS, initial.s),
      ratio_to_copy: ratioToCopy,
      ...peaks,
      rows_changed: incremental.result.rowsUpdated,
      raw_copy_s: +copyS.toFixed(2),
      raw_copy_rows_per_s: perSecond(ROWS, copyS),
      direct_initial_s: +directS.toFixed(2),
      workflow_overhead_pct: +(overVersusDirect * 100).toFixed(1),
      temporal_share_pct: +(((initial.s - initial.activityS) / initial.s) * 100).toFixed(1),
      incremental_s: +incremental.s.toFixed(2),
      incremental_rows_per_s: perSecond(incremental.result.rowsExtracted, incremental.s),
      incremental_rows_read: incremental.result.rowsExtracted,
      no_change_s: +nothingNew.s.toFixed(2),
    };
    if (directResult.rowsInserted !== ROWS || initial.result.rowsInserted !== ROWS) throw new Error('a load did not insert every row');
    printFigures([
      `(medians of ${ROUNDS} rounds; ratios within each round)`,
      `initial load      ${ROWS} rows  ${initial.s.toFixed(2)} s  ${figures.rows_per_s} rows/s  (${ratioToCopy.toFixed(3)}x raw COPY)`,
      `raw COPY          ${ROWS} rows  ${figures.raw_copy_s} s  ${figures.raw_copy_rows_per_s} rows/s`,
      `without Temporal  ${ROWS} rows  ${figures.direct_initial_s} s  (workflow vs direct ${figures.workflow_overhead_pct} %)`,
      `Temporal's share  ${figures.temporal_share_pct} % of the workflow's wall time was outside activities`,
      `incremental       ${figures.rows_changed} changed (${figures.incremental_rows_read} read)  ${figures.incremental_s} s  ${figures.incremental_rows_per_s} rows/s`,
      `nothing new       ${figures.no_change_s} s`,
      `peak memory       worker ${peaks.peak_rss_mb} MB, Postgres ${peaks.postgres_peak_rss_mb} MB`,
    ], figures);
  } finally {
    await Promise.all([source.end(), reader.end(), target.end()]);
    await stack.stop();
  }
}


main().catch((error) => {
  console.error(error);
  process.exit(1);
});
