// The one way activities heartbeat. `reportProgress` records what is done (rows, the last key, a file) and beats
// at once; `withHeartbeat` (or `beating`, for a whole activity) keeps beating every few seconds while work runs, so
// an activity that is one long statement, COPY or model request still shows it is alive. A dead worker is noticed
// after the activity's heartbeat timeout and the step retried elsewhere. The SDK throttles the beats it sends.
import { Context } from '@temporalio/activity';

const HEARTBEAT_INTERVAL_MS = 2_000;
const latestProgress = new WeakMap<Context, unknown>();

/** The current activity's progress, sent with this heartbeat and every later one until the next report. */
export function reportProgress(details: unknown): void {
  const context = Context.current();
  latestProgress.set(context, details);
  context.heartbeat(details);
}

/** Runs `work` heartbeating at once and every 2 s, each beat carrying the last progress reported. */
export async function withHeartbeat<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const beat = () => context.heartbeat(latestProgress.get(context));
  beat();
  const timer = setInterval(beat, HEARTBEAT_INTERVAL_MS);
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
