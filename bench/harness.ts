// What every benchmark shares: the --rounds flag, medians, peak memory of the worker and of Postgres, and
// one JSON line at the end with the same keys everywhere (wall_s, rows_per_s, ratio_to_copy, peak_rss_mb).
import { readFileSync, readdirSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import type pg from 'pg';

/** `--rounds N` (or BENCH_ROUNDS): how many times each timed load runs; figures are medians. */
export function benchRounds(fallback = 3): number {
  const flag = process.argv.indexOf('--rounds');
  const value = Number(flag >= 0 ? process.argv[flag + 1] : process.env.BENCH_ROUNDS ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--rounds must be a positive integer, got ${process.argv[flag + 1]}`);
  return value;
}

export const median = (values: number[]): number => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
export const seconds = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e9;
export const perSecond = (rows: number, s: number): number => Math.round(rows / s);
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

/** Time spent inside activities, from the run's own history: the rest of the wall time is what Temporal adds. */
export async function activitySeconds(handle: WorkflowHandle): Promise<number> {
  const events = (await handle.fetchHistory()).events ?? [];
  const spans: [number, number][] = [];
  const startedAt = new Map<number, number>();
  for (const event of events) {
    const at = Number(event.eventTime?.seconds ?? 0) + (event.eventTime?.nanos ?? 0) / 1e9;
    if (event.activityTaskStartedEventAttributes) startedAt.set(Number(event.eventId), at);
    const done = event.activityTaskCompletedEventAttributes;
    if (done) spans.push([startedAt.get(Number(done.startedEventId)) ?? at, at]);
  }
  // Deliveries overlap: the union of their spans is the time some activity was running.
  spans.sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [from, to] = spans[0] ?? [0, 0];
  for (const [start, end] of spans.slice(1)) {
    if (start > to) {
      total += to - from;
      [from, to] = [start, end];
    } else to = Math.max(to, end);
  }
  return total + (to - from);
}

/** Resident memory of a process in bytes; for Postgres, proportional (PSS), so shared buffers count once. */
function residentBytes(pid: number, proportional: boolean): number {
  try {
    if (proportional) {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      return Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) * 1024;
    }
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0; // the process ended between listing and reading
  }
}

/** A process's parent pid: the 4th field of its stat, after the command name in parentheses (which may hold spaces). */
function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The postmaster and every process it started (backends, walwriter, autovacuum...). */
function postgresProcesses(postmaster: number): number[] {
  const children = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number).filter((pid) => {
    try {
      return parentPid(pid) === postmaster;
    } catch {
      return false; // the process ended between listing and reading
    }
  });
  return [postmaster, ...children];
}

/** The postmaster's pid, from a backend of it. */
export async function postmasterPid(pool: pg.Pool): Promise<number> {
  const { rows: [{ pid }] } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return parentPid(pid);
}

export interface MemoryPeaks {
  /** This process: the worker, its activities and the benchmark's client. */
  peak_rss_mb: number;
  /** All of Postgres's processes together (PSS). */
  postgres_peak_rss_mb: number;
}

/** Samples memory every 100 ms from now until stop(); the peaks are what a host must have free. */
export function sampleMemory(postmaster: number): { stop(): MemoryPeaks } {
  let worker = 0;
  let postgres = 0;
  const sample = () => {
    worker = Math.max(worker, process.memoryUsage().rss);
    postgres = Math.max(postgres, postgresProcesses(postmaster).reduce((sum, pid) => sum + residentBytes(pid, true), 0));
  };
  sample();
  const timer = setInterval(sample, 100);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { peak_rss_mb: mb(worker), postgres_peak_rss_mb: mb(postgres) };
    },
  };
}

/** The keys every benchmark's last line has, for its headline measurement (the workflow end to end). */
export interface HeadlineFigures extends MemoryPeaks {
  pipeline: string;
  rounds: number;
  rows: number;
  wall_s: number;
  rows_per_s: number;
  /** Raw COPY time / this time, both in the same round; null where the benchmark has no COPY baseline. */
  ratio_to_copy: number | null;
}

/** Prints the human table, then the figures as one JSON line (always last, for bench:scale and scripts). */
export function printFigures(table: string[], figures: HeadlineFigures & Record<string, unknown>): void {
  console.log(table.join('\n'));
  const round = (value: unknown) => (typeof value === 'number' && !Number.isInteger(value) ? +value.toFixed(3) : value);
  console.log(JSON.stringify(Object.fromEntries(Object.entries(figures).map(([key, value]) => [key, round(value)]))));
}
