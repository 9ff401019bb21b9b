// npm run bench:features — 5,000,000 transactions for 200,000 users (half in a source table, half in lake files:
// Parquet, CSV and JSON lines in S3) through the crmFeatures workflow on the embedded stack: extraction, cleaning,
// features, the quality gate and a merge load with backup. Baseline measured in the same run: a raw COPY of the same
// 5M rows into one staging table (the floor for moving the rows at all). Ends with one JSON line of the figures.
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { CrmFeaturesResult } from '../lib/contracts/crm-features';
import { createPool } from '../lib/io/postgres';
import { FEATURE_COLUMNS } from '../activities/crm-features/transform';
import { installWorkerLogging } from '../lib/temporal/logging';
import { migrate } from '../lib/io/migrate';
import { createS3Client } from '../lib/io/s3';
import { createTransactionsTable, parquetColumnData, putLakeFile, TRANSACTION_COLUMNS, type TransactionRow } from '../lib/sample-data/crm-features';
import { connectClient } from '../lib/temporal/connection';
import { startWorkers } from '../workers';
import { bundleWorkflows, startBenchStack } from './bench-stack';
import { benchRounds, median, postmasterPid, printFigures, sampleMemory, seconds } from './harness';

const TRANSACTIONS = Number(process.env.BENCH_TRANSACTIONS ?? 5_000_000);
const USERS = Number(process.env.BENCH_USERS ?? 200_000);
const LAKE_FILES = 6; // two of each format
const PARQUET_ROW_GROUP = 100_000;
const TABLE = 'bench_transactions';
const PREFIX = 'bench/lake/';
const AS_OF = '2026-03-16T12:00:00';
const NEXT_DAY = '2026-03-17T12:00:00';
const INCREMENTAL_NEW = Number(process.env.BENCH_INCREMENTAL_NEW ?? 50_000);
const INCREMENTAL_USERS = Number(process.env.BENCH_INCREMENTAL_USERS ?? 10_000);

// A full run takes over a minute at 5M transactions: one round unless asked (the COPY baseline is measured once).
const ROUNDS = benchRounds(1);

/** Set-based generation: the same rows every run (setseed), users spread evenly, all five game types, four channels. */
const rowsSql = (from: number, to: number) => `SELECT md5(g::text || 'tx')::uuid AS transaction_id,
    'U' || lpad(((g % ${USERS}) + 1)::text, 7, '0') AS user_id,
    round((5 + random() * 300)::numeric, 2) AS amount,
    (ARRAY['deposit', 'withdrawal', 'bet', 'bet', 'bet', 'bet', 'win'])[1 + (g % 7)] AS transaction_type,
    CASE WHEN g % 53 = 0 THEN 'pending' ELSE 'completed' END AS status,
    date_trunc('second', timestamp '${AS_OF}' - random() * interval '30 days') AS created_at,
    CASE WHEN g % 7 >= 2 THEN (ARRAY['crash', 'cassino', 'esportes', 'poker', 'slots'])[1 + ((g / 7 + g / ${USERS}) % 5)] END AS game_type,
    (ARRAY['email', 'sms', 'push', 'whatsapp'])[1 + (g % ${USERS}) % 4] AS channel
  FROM generate_series(${from}, ${to}) g`;

async function copyOut(pool: pg.Pool, sql: string): Promise<Buffer> {
  const client = await pool.connect();
  const chunks: Buffer[] = [];
  try {
    await pipeline(client.query(copyTo(sql)), new Writable({ write(chunk: Buffer, _e, done) { chunks.push(chunk); done(); } }));
    return Buffer.concat(chunks);
  } finally {
    client.release();
  }
}

async function main() {
  installWorkerLogging('WARN');
  const stack = await startBenchStack('bench-crm');
  const { settings } = stack;
  const admin = createPool(settings.postgres.sourceAdminUrl, 2);
  const target = createPool(settings.postgres.databaseUrl, 2);
  const s3 = createS3Client(settings.s3);
  try {
    await migrate(target);
    const half = Math.floor(TRANSACTIONS / 2);
    let t = process.hrtime.bigint();
    await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await createTransactionsTable(admin, TABLE);
    await admin.query('SELECT setseed(0.42)');
    await admin.query(`INSERT INTO ${TABLE} ${rowsSql(1, half)}`);
    await admin.query(`VACUUM ANALYZE ${TABLE}`);
    console.error(`# source: ${half} rows in ${seconds(t).toFixed(1)} s`);

    // The lake half: generated in SQL, written out as files with COPY (CSV, JSON lines) or from columns (Parquet).
    t = process.hrtime.bigint();
    await target.query('DROP TABLE IF EXISTS bench_lake');
    await target.query('SELECT setseed(0.24)');
    await target.query(`CREATE UNLOGGED TABLE bench_lake AS ${rowsSql(half + 1, TRANSACTIONS)}`);
    await target.query('CREATE INDEX ON bench_lake (transaction_id)');
    const rowsOf = (offset: number, limit: number) => `SELECT ${TRANSACTION_COLUMNS.join(', ')} FROM bench_lake ORDER BY transaction_id OFFSET ${offset} LIMIT ${limit}`;
    const { ByteWriter, ParquetWriter, schemaFromColumnData } = await import('hyparquet-writer');
    const formats = ['parquet', 'csv', 'json'];
    const per = Math.ceil((TRANSACTIONS - half) / LAKE_FILES);
    for (let i = 0; i < LAKE_FILES; i++) {
      const format = formats[i % 3];
      const slice = rowsOf(i * per, per);
      let body: Buffer;
      if (format === 'csv') body = await copyOut(target, `COPY (${slice}) TO STDOUT WITH (FORMAT csv, HEADER)`);
      else if (format === 'json') body = await copyOut(target, `COPY (SELECT row_to_json(x)::text FROM (${slice}) x) TO STDOUT`);
      else {
        // Written a row group at a time, so this process never holds a whole file's rows: its memory before the
        // timed runs (its peak_rss_mb counts the worker's) stays the same at any size.
        const writer = new ByteWriter();
        let parquet: InstanceType<typeof ParquetWriter> | undefined;
        for (let offset = 0; offset < per; offset += PARQUET_ROW_GROUP) {
          const lines = (await copyOut(target, `COPY (${rowsOf(i * per + offset, Math.min(PARQUET_ROW_GROUP, per - offset))}) TO STDOUT`))
            .toString('utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
          if (!lines.length) break;
          const columnData = parquetColumnData(lines.map((l) =>
            Object.fromEntries(TRANSACTION_COLUMNS.map((name, c) => [name, l[c] === '\\N' ? null : l[c]])) as unknown as TransactionRow));
          parquet ??= new ParquetWriter({ writer, schema: schemaFromColumnData({ columnData }) });
          await parquet.write({ columnData: columnData.map(({ name, data }) => ({ name, data })), rowGroupSize: PARQUET_ROW_GROUP });
        }
        await parquet!.finish();
        body = Buffer.from(writer.getBuffer());
      }
      await putLakeFile(s3, settings.s3.bucket, `${PREFIX}part-${i}.${format === 'json' ? 'jsonl' : format}`, body);
    }
    console.error(`# lake: ${TRANSACTIONS - half} rows in ${LAKE_FILES} files in ${seconds(t).toFixed(1)} s`);

    // Baseline: a raw COPY of the same 5M rows (source table over the wire + the lake half) into one unlogged table.
    t = process.hrtime.bigint();
    await target.query(`DROP TABLE IF EXISTS bench_copy; CREATE UNLOGGED TABLE bench_copy (LIKE bench_lake)`);
    {
      const reader = createPool(settings.postgres.sourceDatabaseUrl, 1);
      const from = await reader.connect();
      const into = await target.connect();
      await pipeline(from.query(copyTo(`COPY ${TABLE} TO STDOUT`)), into.query(copyFrom('COPY bench_copy FROM STDIN')));
      from.release();
      into.release();
      await reader.end();
      await target.query('INSERT INTO bench_copy SELECT * FROM bench_lake');
    }
    const copyS = seconds(t);
    await target.query('DROP TABLE bench_copy, bench_lake');
    console.error(`# baseline raw COPY of ${TRANSACTIONS} rows: ${copyS.toFixed(1)} s`);

    const workflowBundle = await bundleWorkflows();
    const taskQueue = `bench-${randomUUID().slice(0, 8)}`;
    const workers = await startWorkers(settings, { workflowBundle, taskQueue });
    const client = await connectClient(settings);
    // What this process holds before the timed runs (data generation, the stack's clients): the floor under peak_rss_mb.
    const rssBeforeRunsMb = Math.round(process.memoryUsage().rss / 2 ** 20);
    console.error(`# this process before the timed runs: ${rssBeforeRunsMb} MB resident`);
    const memory = sampleMemory(await postmasterPid(target));
    const fulls: { result: CrmFeaturesResult; wallS: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const started = process.hrtime.bigint();
      const run = await client.workflow.execute('crmFeatures', {
        taskQueue, workflowId: `bench-crm-${randomUUID()}`,
        args: [{ sourceTable: TABLE, lakePrefix: `s3:${PREFIX}`, asOf: AS_OF, loadStrategy: 'merge' }],
      }) as CrmFeaturesResult;
      fulls.push({ result: run, wallS: seconds(started) });
    }
    const wallS = median(fulls.map((f) => f.wallS));
    const result = fulls.find((f) => f.wallS === wallS)!.result;

    // The next day, incremental: a first incremental run builds the stored state (a full recompute), then
    // INCREMENTAL_NEW new transactions for INCREMENTAL_USERS users arrive in the source table and the next day's run
    // recomputes only them. BENCH_VERIFY=0 skips the check against a full recompute (EXCEPT both ways).
    const runCrm = async (input: Record<string, unknown>) => client.workflow.execute('crmFeatures', {
      taskQueue, workflowId: `bench-crm-${randomUUID()}`, args: [{ sourceTable: TABLE, lakePrefix: `s3:${PREFIX}`, loadStrategy: 'merge', ...input }],
    }) as Promise<CrmFeaturesResult>;
    t = process.hrtime.bigint();
    const rebuild = await runCrm({ asOf: AS_OF, mode: 'incremental' });
    const rebuildS = seconds(t);
    console.error(`# incremental state built (${rebuild.mode}: ${rebuild.fullReason}) in ${rebuildS.toFixed(1)} s`);
    await admin.query(`INSERT INTO ${TABLE} SELECT md5(g::text || 'new')::uuid, 'U' || lpad(((g % ${INCREMENTAL_USERS}) * 7 % ${USERS} + 1)::text, 7, '0'),
        round((5 + random() * 300)::numeric, 2), (ARRAY['deposit', 'withdrawal', 'bet', 'bet', 'bet', 'bet', 'win'])[1 + (g % 7)], 'completed',
        timestamp '${AS_OF}' + (g % 86400) * interval '1 second', 'slots', 'sms'
      FROM generate_series(1, ${INCREMENTAL_NEW}) g`);
    const nextDay = NEXT_DAY;
    t = process.hrtime.bigint();
    const daily = await runCrm({ asOf: nextDay, mode: 'incremental' });
    const incrementalS = seconds(t);
    let equal: boolean | undefined;
    if (process.env.BENCH_VERIFY !== '0') {
      const cols = FEATURE_COLUMNS.join(', ');
      await target.query(`DROP TABLE IF EXISTS bench_incremental; CREATE UNLOGGED TABLE bench_incremental AS SELECT ${cols} FROM ml_features.user_features`);
      await runCrm({ asOf: nextDay, mode: 'full' });
      const { rows: [diff] } = await target.query<{ n: number }>(`SELECT count(*)::int AS n FROM (
          (TABLE bench_incremental EXCEPT SELECT ${cols} FROM ml_features.user_features)
          UNION ALL (SELECT ${cols} FROM ml_features.user_features EXCEPT TABLE bench_incremental)) d`);
      equal = diff.n === 0;
      await target.query('DROP TABLE bench_incremental');
    }
    const peaks = memory.stop();
    await client.connection.close();
    await workers.shutdown();

    const step = (name: string) => result.steps.find((s) => s.step === name)!;
    const rate = (rows: number, ms: number) => Math.round(rows / (ms / 1000));
    const figures = {
      pipeline: 'crmFeatures',
      rounds: ROUNDS,
      rows: TRANSACTIONS,
      wall_s: wallS,
      rows_per_s: Math.round(TRANSACTIONS / wallS),
      ratio_to_copy: copyS / wallS,
      ...peaks,
      rss_before_runs_mb: rssBeforeRunsMb,
      transactions: TRANSACTIONS,
      users: USERS,
      lake_files: LAKE_FILES,
      rows_extracted: result.recordsExtracted,
      rows_quarantined: result.recordsQuarantined,
      users_loaded: result.recordsLoaded,
      quality_grade: result.quality?.grade,
      extract_s: +(step('extract').durationMs / 1000).toFixed(2),
      extract_rows_per_s: rate(result.recordsExtracted, step('extract').durationMs),
      clean_s: +(step('clean').durationMs / 1000).toFixed(2),
      clean_rows_per_s: rate(result.recordsExtracted, step('clean').durationMs),
      features_s: +(step('features').durationMs / 1000).toFixed(2),
      features_rows_per_s: rate(result.recordsCleaned, step('features').durationMs),
      validate_s: +(step('validate').durationMs / 1000).toFixed(2),
      load_s: +(step('load').durationMs / 1000).toFixed(2),
      load_users_per_s: rate(result.recordsLoaded, step('load').durationMs),
      raw_copy_s: copyS,
      goal_s: 90,
      incremental_rebuild_s: +rebuildS.toFixed(2),
      incremental_new_rows: INCREMENTAL_NEW,
      incremental_users_recomputed: daily.usersRecomputed,
      incremental_mode: daily.mode,
      incremental_wall_s: +incrementalS.toFixed(2),
      incremental_steps_s: Object.fromEntries(daily.steps.map((s) => [s.step, +(s.durationMs / 1000).toFixed(2)])),
      incremental_equal_to_full: equal,
      incremental_goal_s: 10,
    };
    printFigures([
      `(full run: median of ${ROUNDS} rounds)`,
      `crmFeatures  ${TRANSACTIONS} transactions, ${USERS} users (half tbl_transactions, half ${LAKE_FILES} lake files)`,
      `extract    ${figures.extract_s} s  ${figures.extract_rows_per_s} rows/s`,
      `clean      ${figures.clean_s} s  ${figures.clean_rows_per_s} rows/s  (${figures.rows_quarantined} quarantined)`,
      `features   ${figures.features_s} s  ${figures.features_rows_per_s} rows/s`,
      `validate   ${figures.validate_s} s  (grade ${figures.quality_grade})`,
      `load       ${figures.load_s} s  ${figures.load_users_per_s} users/s (merge + backup)`,
      `end to end ${wallS.toFixed(2)} s  ${figures.rows_per_s} rows/s  (goal < ${figures.goal_s} s)`,
      `raw COPY   ${copyS.toFixed(2)} s for the same rows into one table (${(copyS / wallS).toFixed(3)}x of the workflow's wall time)`,
      `next day   ${figures.incremental_wall_s} s incremental (${INCREMENTAL_NEW} new rows, ${figures.incremental_users_recomputed} users recomputed, `
        + `mode ${figures.incremental_mode}; goal < 10 s), equal to a full recompute: ${equal ?? 'not checked'}; state built in ${figures.incremental_rebuild_s} s`,
      `peak memory: worker ${peaks.peak_rss_mb} MB, Postgres ${peaks.postgres_peak_rss_mb} MB`,
    ], figures);
  } finally {
    s3.destroy();
    await Promise.all([admin.end(), target.end()]);
    await stack.stop();
  }
}


main().catch((error) => {
  console.error(error);
  process.exit(1);
});
