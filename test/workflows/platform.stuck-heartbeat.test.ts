// An attempt stuck behind a lock stops heartbeating once a heartbeat window passes with no progress, so Temporal times
// it out (and its connections are terminated) instead of a timer beating for it forever; a statement that runs keeps
// its heartbeats going however long it takes.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, it } from '@jest/globals';
import { MockActivityEnvironment } from '@temporalio/testing';
import { withHeartbeat } from '../../lib/activity/heartbeat';
import { createPool, HeldConnections, heldConnections } from '../../lib/io/postgres';
import { settings } from '../helpers/env';
import { describeFault } from '../helpers/gates';

const TABLE = 'public.stuck_heartbeat';
const WINDOW_MS = 3_000;

// In `npm run test:faults` (ETL_FAULT_TESTS=1) with the other faults, for CI's budget (about 18 s).

describeFault('heartbeats report progress, not a timer', () => {
  const pool = createPool(settings.postgres.databaseUrl);
  beforeAll(async () => {
    await pool.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id int)`);
  });
  afterAll(async () => pool.end());

  /** Runs `sql` as an activity with a 3 s heartbeat window; returns when each beat came, counted from the start. */
  const attempt = (sql: string) => {
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: WINDOW_MS });
    const started = Date.now();
    const beats: number[] = [];
    env.on('heartbeat', () => beats.push(Date.now() - started));
    const done = env.run(() => heldConnections.run(new HeldConnections(), () => withHeartbeat(() => pool.query(sql))));
    return { env, beats, done };
  };

  it('stops beating when its only statement waits on a lock for a whole window, and beats on while a statement runs', async () => {
    const locker = await pool.connect();
    await locker.query(`BEGIN; LOCK TABLE ${TABLE} IN ACCESS EXCLUSIVE MODE`);
    const stuck = attempt(`SELECT count(*) FROM ${TABLE}`);
    // Wait until the beats have stopped: no new one over three intervals (they come every 2 s while it beats).
    let seen = -1;
    for (let i = 0; i < 5 && seen !== stuck.beats.length; i++) {
      seen = stuck.beats.length;
      await sleep(4_500);
    }
    const last = stuck.beats.at(-1)!;
    await locker.query('ROLLBACK');
    locker.release();
    await stuck.done;
    assert.ok(last < WINDOW_MS + 2_500, `a stuck attempt beat until ${last} ms (window ${WINDOW_MS} ms): ${stuck.beats.join(', ')}`);

    const running = attempt('SELECT pg_sleep(7)');
    await running.done;
    assert.ok(running.beats.some((at) => at > WINDOW_MS + 2_500), `a running statement beats past the window: ${running.beats.join(', ')}`);
  });
});
