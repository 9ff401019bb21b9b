// npm run bench:scale — incrementalSync, salesWarehouse and crmFeatures at three sizes each. Every size runs
// its pipeline's own benchmark once (--rounds 1) in a fresh process with a fresh stack, and this prints, per
// pipeline and size, the end-to-end seconds and the peak memory of the worker process and of Postgres, then
// how the cost grows per 10x rows. The worker's memory must stay flat: rows are streamed, never held whole.
//   --only sync,crm            some pipelines only
//   BENCH_SCALE_SYNC=100000,1000000,5000000 (and BENCH_SCALE_SALES, BENCH_SCALE_CRM): other sizes
import { spawn } from 'node:child_process';
import path from 'node:path';
import { printFigures } from './harness';

interface Pipeline {
  name: string;
  script: string;
  sizes: number[];
  /** The environment that makes its benchmark move `rows` rows. */
  env: (rows: number) => Record<string, string>;
}

const sizes = (variable: string, fallback: number[]) => (process.env[variable] ? process.env[variable]!.split(',').map(Number) : fallback);

const PIPELINES: Pipeline[] = [
  { name: 'sync', script: 'incremental-sync.bench.ts', sizes: sizes('BENCH_SCALE_SYNC', [100_000, 1_000_000, 5_000_000]),
    env: (rows) => ({ BENCH_ROWS: String(rows), BENCH_CHANGED: String(rows / 10) }) },
  { name: 'sales', script: 'sales-warehouse.bench.ts', sizes: sizes('BENCH_SCALE_SALES', [100_000, 300_000, 1_000_000]),
    env: (rows) => ({ BENCH_ROWS: String(rows) }) },
  // The bench's own proportion: 25 transactions per user.
  { name: 'crm', script: 'crm-features.bench.ts', sizes: sizes('BENCH_SCALE_CRM', [100_000, 1_000_000, 5_000_000]),
    env: (rows) => ({ BENCH_TRANSACTIONS: String(rows), BENCH_USERS: String(Math.max(1, Math.round(rows / 25))), BENCH_VERIFY: '0' }) },
];

interface Point {
  rows: number;
  wall_s: number;
  peak_rss_mb: number;
  postgres_peak_rss_mb: number;
}

/** Runs one benchmark in its own process and returns the figures of its last line. */
function runBenchmark(script: string, env: Record<string, string>): Promise<Point & Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, path.join(__dirname, script), '--rounds', '1'], {
      env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      if (code !== 0) return reject(new Error(`${script} ${JSON.stringify(env)} exited with ${code}`));
      try {
        const figures = JSON.parse(last);
        for (const key of ['wall_s', 'peak_rss_mb', 'postgres_peak_rss_mb']) {
          if (typeof figures[key] !== 'number') throw new Error(`no ${key}`);
        }
        resolve(figures);
      } catch (error) {
        reject(new Error(`${script}: its last line is not the harness's figures (${(error as Error).message}): ${last.slice(0, 200)}`));
      }
    });
  });
}

/** How many times the cost grows when the rows grow 10x, from the smallest and largest size (a power law fit through both). */
const growthPer10x = (a: number, b: number, rowsA: number, rowsB: number) => (b / a) ** (1 / Math.log10(rowsB / rowsA));

async function main() {
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1].split(',') : undefined;
  const chosen = PIPELINES.filter((p) => !only || only.includes(p.name));
  const table: string[] = ['pipeline  rows        seconds   worker MB  Postgres MB'];
  const results: Record<string, unknown> = {};
  for (const pipeline of chosen) {
    const points: Point[] = [];
    for (const rows of pipeline.sizes) {
      console.error(`# ${pipeline.name}: ${rows} rows`);
      const figures = await runBenchmark(pipeline.script, pipeline.env(rows));
      const point = { rows, wall_s: figures.wall_s, peak_rss_mb: figures.peak_rss_mb, postgres_peak_rss_mb: figures.postgres_peak_rss_mb };
      points.push(point);
      table.push(`${pipeline.name.padEnd(8)}  ${String(rows).padEnd(10)}  ${point.wall_s.toFixed(2).padStart(7)}   ${String(point.peak_rss_mb).padStart(9)}  ${String(point.postgres_peak_rss_mb).padStart(11)}`);
    }
    const [first, last] = [points[0], points.at(-1)!];
    const timeGrowth = growthPer10x(first.wall_s, last.wall_s, first.rows, last.rows);
    const memoryGrowth = growthPer10x(first.peak_rss_mb, last.peak_rss_mb, first.rows, last.rows);
    table.push(`${pipeline.name.padEnd(8)}  per 10x rows: time x${timeGrowth.toFixed(2)}, worker memory x${memoryGrowth.toFixed(2)}`);
    results[pipeline.name] = { points, time_growth_per_10x: timeGrowth, worker_memory_growth_per_10x: memoryGrowth };
  }
  const points = (Object.values(results) as { points: Point[] }[]).flatMap((r) => r.points);
  const rows = points.reduce((sum, p) => sum + p.rows, 0);
  const wall = points.reduce((sum, p) => sum + p.wall_s, 0);
  printFigures(table, {
    pipeline: 'scale',
    rounds: 1,
    rows,
    wall_s: wall,
    rows_per_s: Math.round(rows / wall),
    ratio_to_copy: null,
    peak_rss_mb: Math.max(...points.map((p) => p.peak_rss_mb)),
    postgres_peak_rss_mb: Math.max(...points.map((p) => p.postgres_peak_rss_mb)),
    ...results,
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
