// mailing_deliveries: the record operations query, and the journal that makes a delivery exactly-once.
import type pg from 'pg';
import type { DeliveryReceipt, DeliveryStatus, PlannedDelivery } from '../../lib/contracts/mailing-campaigns';
import type { RunRef } from '../../lib/contracts/run';
export type { RunRef };


export type JournalStatus = 'renaming' | 'delivered' | 'already-present' | 'empty-not-sent' | 'failed' | 'invalid' | 'cancelled';

export interface JournalRow {
  status: JournalStatus;
  rows: number | null;
  bytes: number | null;
  sha256: string | null;
}

type Queryable = pg.Pool | pg.PoolClient;

export async function readJournal(db: Queryable, delivery: PlannedDelivery): Promise<JournalRow | undefined> {
  const { rows } = await db.query(
    `SELECT status, rows::float8 AS rows, bytes::float8 AS bytes, sha256 FROM mailing_deliveries WHERE campaign = $1 AND slot = $2`,
    [delivery.campaign.name, delivery.slot]);
  return rows[0] as JournalRow | undefined;
}

export async function writeJournal(
  db: Queryable, delivery: PlannedDelivery, run: RunRef,
  entry: { status: JournalStatus; rows?: number | null; bytes?: number | null; sha256?: string | null; error?: string },
): Promise<void> {
  const finished = entry.status === 'renaming' ? null : 'now()';
  await db.query(
    `INSERT INTO mailing_deliveries (campaign, slot, status, file_name, remote_path, rows, bytes, sha256, sql_file,
                                     workflow_id, run_id, error_message, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, ${finished ?? 'NULL'})
     ON CONFLICT (campaign, slot) DO UPDATE SET
       status = EXCLUDED.status, file_name = EXCLUDED.file_name, remote_path = EXCLUDED.remote_path,
       rows = coalesce(EXCLUDED.rows, mailing_deliveries.rows), bytes = coalesce(EXCLUDED.bytes, mailing_deliveries.bytes),
       sha256 = coalesce(EXCLUDED.sha256, mailing_deliveries.sha256), sql_file = EXCLUDED.sql_file,
       workflow_id = EXCLUDED.workflow_id, run_id = EXCLUDED.run_id, error_message = EXCLUDED.error_message,
       finished_at = EXCLUDED.finished_at`,
    [delivery.campaign.name, delivery.slot, entry.status, delivery.fileName, delivery.remotePath, entry.rows ?? null,
      entry.bytes ?? null, entry.sha256 ?? null, delivery.campaign.sqlFile, run.workflowId, run.runId, entry.error ?? null],
  );
}

/** Journal states that mean the slot's file is settled: a failure reported for it would be false. */
const SETTLED: Partial<Record<JournalStatus, DeliveryStatus>> = {
  delivered: 'delivered', 'already-present': 'already-present', 'empty-not-sent': 'empty-not-sent',
};

/**
 * Waits (up to `waitMs`) until no attempt delivers the slot's file any more, then runs `work` holding the slot's
 * delivery lock (or without it when the wait ran out: the journal is read and written all the same).
 */
export async function afterDeliveries<T>(pool: pg.Pool, delivery: PlannedDelivery, waitMs: number, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let locked = false;
  try {
    await client.query(`SELECT set_config('lock_timeout', $1, false)`, [`${waitMs}ms`]);
    locked = await client.query(`SELECT pg_advisory_lock(hashtextextended($1, 0))`, [lockKey(delivery)]).then(() => true, () => false);
    await client.query('RESET lock_timeout');
    return await work(client);
  } finally {
    if (locked) await unlockDelivery(client, delivery).catch(() => undefined);
    client.release();
  }
}

/**
 * A failure is recorded only where nothing was delivered for the slot: it never hides a delivery. An attempt the
 * workflow gave up on (a timeout) may still be running and deliver the file afterwards, so this first waits (up to
 * `waitMs`) for the slot's delivery lock, then reads the journal: when the file was in fact delivered, that real
 * state is returned (and nothing is recorded); otherwise the failure is recorded and null returned.
 */
export async function recordFailure(
  pool: pg.Pool, delivery: PlannedDelivery, run: RunRef, error: string, waitMs = 45_000,
): Promise<DeliveryReceipt | null> {
  return afterDeliveries(pool, delivery, waitMs, async (client) => {
    const current = await readJournal(client, delivery);
    const settled = current && SETTLED[current.status];
    if (current && settled) {
      return { campaign: delivery.campaign.name, fileName: delivery.fileName, remotePath: delivery.remotePath, status: settled,
        rows: current.rows ?? 0, bytes: current.bytes ?? 0, sha256: current.sha256, remoteChecksum: null };
    }
    if (current && current.status !== 'failed' && current.status !== 'cancelled') return null;
    await writeJournal(client, delivery, run, { status: 'failed', error });
    return null;
  });
}

const lockKey = (delivery: PlannedDelivery) => `mailing:${delivery.campaign.name}:${delivery.slot}`;

/**
 * A campaign file that failed validation, recorded for the slot (no file name: its configuration could not be read).
 * Like a failure, it never replaces a row of something delivered for the slot.
 */
export async function recordInvalid(db: Queryable, invalid: { campaign: string; error: string }, slot: string, run: RunRef): Promise<void> {
  await db.query(
    `INSERT INTO mailing_deliveries (campaign, slot, status, workflow_id, run_id, error_message, finished_at)
     VALUES ($1, $2, 'invalid', $3, $4, $5, now())
     ON CONFLICT (campaign, slot) DO UPDATE SET status = 'invalid', file_name = NULL, remote_path = NULL, sql_file = NULL,
       workflow_id = EXCLUDED.workflow_id, run_id = EXCLUDED.run_id, error_message = EXCLUDED.error_message, finished_at = now()
     WHERE mailing_deliveries.status IN ('failed', 'invalid', 'cancelled')`,
    [invalid.campaign, slot, run.workflowId, run.runId, invalid.error]);
}

/**
 * One delivery of a campaign's slot at a time, across workers: a session advisory lock on the target
 * database, released when the client is released (or its connection dies with a crashed worker).
 */
export async function tryLockDelivery(client: pg.PoolClient, delivery: PlannedDelivery): Promise<boolean> {
  const { rows: [row] } = await client.query<{ locked: boolean }>(
    `SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked`, [lockKey(delivery)]);
  return row.locked;
}

export async function unlockDelivery(client: pg.PoolClient, delivery: PlannedDelivery): Promise<void> {
  await client.query(`SELECT pg_advisory_unlock(hashtextextended($1, 0))`, [lockKey(delivery)]);
}
