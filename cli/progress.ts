// What `etl run` shows while it waits: the run's progress query (its step, and done/total where the pipeline counts
// them), with the rows and batches of the step running now from its activity's last heartbeat. On a terminal, one line
// rewritten in place with the rate and, where the total is known, the time left; elsewhere (a log, a pipe), a plain
// line each time the step changes.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';

export interface ProgressSnapshot {
  step: string;
  /** Rows done in the current step (heartbeat: rowsDone, rows, rowsRead). */
  rows?: number;
  batches?: number;
  /** Items done out of a known total (marketingEnrichment: customers). */
  done?: number;
  total?: number;
}

const POLL_MS = 1000;

const numberIn = (from: Record<string, unknown> | undefined, ...keys: string[]): number | undefined => {
  for (const key of keys) if (typeof from?.[key] === 'number') return from[key] as number;
  return undefined;
};

export function snapshotOf(query: Record<string, unknown>, heartbeat: Record<string, unknown> | undefined): ProgressSnapshot {
  return {
    step: typeof query.step === 'string' ? query.step : '?',
    rows: numberIn(heartbeat, 'rowsDone', 'rows', 'rowsRead'),
    batches: numberIn(heartbeat, 'batches') ?? numberIn(query, 'batches'),
    done: numberIn(query, 'done'),
    total: numberIn(query, 'total'),
  };
}

const count = (n: number) => n.toLocaleString('en-US');
const seconds = (s: number) => (s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);

/** `copying changed rows · 120,000 rows · 3 batches · 40,000 rows/s`, with `· ETA 12 s` when a total is known. */
export function progressLine(now: ProgressSnapshot, rate?: { perSecond: number; unit: string }): string {
  const parts = [now.step];
  if (now.total !== undefined && now.done !== undefined) parts.push(`${count(now.done)}/${count(now.total)}`);
  if (now.rows !== undefined) parts.push(`${count(now.rows)} rows`);
  if (now.batches !== undefined) parts.push(`${count(now.batches)} batches`);
  if (rate && rate.perSecond > 0) {
    parts.push(`${count(Math.round(rate.perSecond))} ${rate.unit}/s`);
    if (rate.unit !== 'rows' && now.total !== undefined && now.done !== undefined && now.total > now.done) {
      parts.push(`ETA ${seconds((now.total - now.done) / rate.perSecond)}`);
    }
  }
  return parts.join(' · ');
}

/** The run's progress, every second, until `stop()`; never fails the wait (a query that cannot answer is skipped). */
export function followProgress(client: Client, handle: WorkflowHandle, out: { tty: boolean; write(text: string): void }): { stop(): void } {
  let stopped = false;
  let lastStep = '';
  let stepStart: { at: number; snapshot: ProgressSnapshot } | undefined;
  let shown = false;
  const tick = async () => {
    const [query, heartbeat] = await Promise.all([
      handle.query<Record<string, unknown>>('progress').catch(() => undefined),
      currentHeartbeat(client, handle).catch(() => undefined),
    ]);
    if (stopped || !query) return;
    const snapshot = snapshotOf(query, heartbeat);
    const at = Date.now();
    if (!out.tty) {
      if (snapshot.step !== lastStep) out.write(`step: ${snapshot.step}\n`);
      lastStep = snapshot.step;
      return;
    }
    // The rate since the step began (or since this command started watching it).
    if (!stepStart || stepStart.snapshot.step !== snapshot.step) stepStart = { at, snapshot };
    const elapsed = (at - stepStart.at) / 1000;
    const from = stepStart.snapshot;
    const rate = elapsed <= 0 ? undefined
      : snapshot.done !== undefined && from.done !== undefined ? { perSecond: (snapshot.done - from.done) / elapsed, unit: 'items' }
        : snapshot.rows !== undefined && from.rows !== undefined ? { perSecond: (snapshot.rows - from.rows) / elapsed, unit: 'rows' }
          : undefined;
    out.write(`\r\x1b[2K${progressLine(snapshot, rate)}`);
    shown = true;
  };
  const timer = setInterval(() => void tick(), POLL_MS);
  void tick();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      if (shown) out.write('\r\x1b[2K');
    },
  };
}

/** The last heartbeat details of the run's running activity, decoded (they may be encrypted). */
async function currentHeartbeat(client: Client, handle: WorkflowHandle): Promise<Record<string, unknown> | undefined> {
  const { raw } = await handle.describe();
  const payloads = raw.pendingActivities?.find((a) => a.heartbeatDetails?.payloads?.length)?.heartbeatDetails?.payloads;
  if (!payloads) return undefined;
  const details = await decodeFromPayloadsAtIndex<unknown>(client.options.loadedDataConverter, 0, payloads);
  return typeof details === 'object' && details !== null ? details as Record<string, unknown> : undefined;
}
