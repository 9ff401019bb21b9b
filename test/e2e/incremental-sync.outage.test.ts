// Postgres restarting (immediate shutdown, crash recovery at its start, as after a power cut) under a running
// incrementalSync, mid-copy: some batches merged, the next one's merge waiting. With the real `etl worker` in its own
// process and a Postgres of the test's own: the worker outlives its lost connections, the copy resumes after its last
// committed batch once Postgres is back, and the target ends equal to the source with nothing loaded twice.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, it } from '@jest/globals';
import type { SyncResult } from '../../lib/contracts/incremental-sync';
import { seedConversations } from '../../lib/sample-data/incremental-sync';
import { holdAdvisoryLock, openFaultStack, waitForAdvisoryLockWait, type FaultStack } from '../helpers/faults';
import { syncedRowsDiffer } from '../helpers/incremental-sync';
import { describeFault } from '../helpers/gates';

const TABLE = 'public.conv_outage';
const ROWS = 6000;
/** The target's rows from this id on wait for this advisory lock as they are merged, while the test holds it. */
const FROM_ID = 3000;
const LOCK_KEY = 5_140_015;

// In `npm run test:faults` (ETL_FAULT_TESTS=1), not in the default `npm test`: about 12 s (a 3 s outage, retries' backoff).

describeFault('Postgres restarting under a running incrementalSync', () => {
  let stack: FaultStack;

  beforeAll(async () => {
    stack = await openFaultStack('sync-outage', ['postgres']);
    await seedConversations(stack.sourceAdmin, stack.target, ROWS, TABLE);
    // A merge reaching FROM_ID waits for the lock: the batches before it are committed, the crash lands in the next.
    await stack.target.query(`
      CREATE FUNCTION conv_outage_wait() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.id >= ${FROM_ID} THEN PERFORM pg_advisory_xact_lock_shared(${LOCK_KEY}); END IF; RETURN NEW; END $$;
      CREATE TRIGGER conv_outage_wait BEFORE INSERT OR UPDATE ON ${TABLE} FOR EACH ROW EXECUTE FUNCTION conv_outage_wait()`);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('mid-copy: the run rides it out, the target equals the source, nothing loaded twice, one success in etl_control', async () => {
    const { servers, worker, sourceAdmin, target } = stack;
    const blocker = await holdAdvisoryLock(target, LOCK_KEY);
    const handle = await stack.start('incrementalSync', 'sync-outage', { sourceTable: TABLE, batchSize: 500 });
    const { workflowId } = handle;
    await worker.orDeath(waitForAdvisoryLockWait(target, LOCK_KEY));
    const { rows: [atCrash] } = await target.query('SELECT rows_extracted::int AS n FROM etl_control WHERE workflow_id = $1', [workflowId]);
    assert.ok(atCrash.n > 0 && atCrash.n < ROWS, `crashed mid-copy (after ${atCrash.n} rows committed)`);
    assert.deepEqual(await handle.query('progress'), { step: 'copying changed rows', mode: 'full' });
    await servers.crash('postgres');
    blocker.release(true);
    await sleep(3000); // an outage of a few seconds: the copy's attempts fail to connect meanwhile
    await servers.start('postgres');

    const result = await worker.orDeath(handle.result()) as SyncResult;
    assert.equal(worker.exitCode, null, `the worker process died:\n${worker.output()}`);
    // The source is a pandas export: text dates with '' and 'NaT', NaN scores, which the target holds as NULL.
    const asLoaded = { closed_at: `NULLIF(NULLIF(t.closed_at, ''), 'NaT')::timestamptz`, sentiment_score: `NULLIF(t.sentiment_score, 'NaN')` };
    assert.deepEqual(await syncedRowsDiffer(sourceAdmin, target, TABLE, { sourceColumns: asLoaded }), [], 'the target equals the source');
    assert.equal(result.rowsExtracted, ROWS, 'committed batches were not read again');
    assert.equal(result.rowsInserted, ROWS);
    assert.equal(result.rowsUpdated + result.rowsUnchanged, 0, 'no row merged twice');
    const { rows: [counts] } = await target.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM ${TABLE}`);
    assert.deepEqual(counts, { n: ROWS, ids: ROWS });
    const { rows: control } = await target.query('SELECT status, rows_inserted::int AS inserted FROM etl_control WHERE workflow_id = $1', [workflowId]);
    assert.deepEqual(control, [{ status: 'success', inserted: ROWS }]);
    const attempts = ((await handle.fetchHistory()).events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
    assert.ok(Math.max(...attempts) > 1, 'the copy ran again once Postgres was back');
  });
});
