// The one way activities heartbeat. `reportProgress` records what is done (rows, the last key, a file) and beats
// at once; `withHeartbeat` (or `beating`, for a whole activity) keeps beating every few seconds while work runs, so
// an activity that is one long statement, COPY or model request still shows it is alive. A dead worker is noticed
// after the activity's heartbeat timeout and the step retried elsewhere. The SDK throttles the beats it sends.
//
// A beat says the attempt makes progress, so the timer does not beat for an attempt that is stuck: when nothing was
// reported for a whole heartbeat window and every database statement the attempt holds waits on a lock (or sits idle
// in its transaction), the beats stop, Temporal times the attempt out, its connections are terminated (its locks go
// with them) and the retry starts clean. A statement that runs (not waiting on a lock) counts as progress. Waits
// outside the database (a model request, an S3 read) are bounded by their start-to-close timeouts instead.
import { Context } from '@temporalio/activity';
import pg from 'pg';
import { heldConnections } from '../io/postgres';

const HEARTBEAT_INTERVAL_MS = 2_000;
const latestProgress = new WeakMap<Context, unknown>();
const lastProgressAt = new WeakMap<Context, number>();

/** The current activity's progress, sent with this heartbeat and every later one until the next report. */
export function reportProgress(details: unknown): void {
  const context = Context.current();
  latestProgress.set(context, details);
  lastProgressAt.set(context, Date.now());
  context.heartbeat(details);
}

/** Runs `work` heartbeating at once and every 2 s, each beat carrying the last progress reported. */
export async function withHeartbeat<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const window = context.info.heartbeatTimeoutMs || 0;
  lastProgressAt.set(context, Date.now());
  const beat = () => context.heartbeat(latestProgress.get(context));
  const tick = async () => {
    const quietFor = Date.now() - (lastProgressAt.get(context) ?? 0);
    if (window && quietFor >= window) {
      const working = await statementsRunning().catch(() => true);
      if (working === false) return; // stuck: no beat
      if (working) lastProgressAt.set(context, Date.now());
    }
    beat();
  };
  beat();
  const timer = setInterval(() => void tick().catch(() => undefined), HEARTBEAT_INTERVAL_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** An activity function that heartbeats while it runs (`withHeartbeat` around each call). */
export function beating<A extends unknown[], R>(work: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return (...args: A) => withHeartbeat(() => work(...args));
}

/** One small pool per database, for looking at what an attempt's statements are doing. */
const statusPools = new Map<string, pg.Pool>();
const statusPool = (url: string) => {
  let pool = statusPools.get(url);
  if (!pool) {
    pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 5_000, allowExitOnIdle: true });
    pool.on('error', () => undefined);
    statusPools.set(url, pool);
  }
  return pool;
};

/**
 * Whether a database statement of the current attempt runs (true), or every one it holds waits on a lock or idles in
 * its transaction (false); undefined when it holds none (not a database wait: the timer keeps beating).
 */
async function statementsRunning(): Promise<boolean | undefined> {
  const backends = heldConnections.getStore()?.backends();
  if (!backends?.size) return undefined;
  for (const [url, pids] of backends) {
    const { rows } = await statusPool(url).query<{ running: boolean }>(
      `SELECT bool_or(state = 'active' AND wait_event_type IS DISTINCT FROM 'Lock') AS running
         FROM pg_stat_activity WHERE pid = ANY($1::int[])`, [pids]);
    if (rows[0]?.running) return true;
  }
  return false;
}
