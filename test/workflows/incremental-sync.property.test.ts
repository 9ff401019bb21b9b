// Random histories of a source table, synced after every round; after each run nothing the source has committed
// may be missing from the target. Seeded and reproducible: SYNC_PROPERTY_SEED picks the seed, SYNC_PROPERTY_CASES
// how many tables (CI runs the default; a failure prints the seed and case to run again).
//
// What each case may do, as a writer of the source: insert new keys (dated now, in the past, in the future, not at
// all, or at one instant shared by the round's rows: ties), insert more rows under an existing key (tables without a
// unique index), update rows with a later updated_at that may still be older than the watermark, restamp a row
// (backdated, cleared or left as it was while its value changes), delete keys, and hold a transaction open across a
// run that commits backdated rows afterwards. Runs use random batch sizes, and now and then a full run that deletes
// what is gone. Text keys use an ICU collation on the source while the target's is C.
//
// The guarantee checked, in snapshot mode (the default): after every run, every key's newest committed source row
// is in the target as is, except a restamped row (its updated_at not newer than the target's copy), which the run
// names in its warnings; the target holds no row the source does not, except of deleted keys. After a full run with
// deleteMissing, source and target are equal both ways. In updated_at mode the same holds for writers that date
// their rows when they commit (no backdating, no held transactions): that mode's documented limit.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import pg from 'pg';
import { createSyncActivities, type SyncPlan } from '../../activities/incremental-sync';
import { syncInputSchema, type SyncInput, type SyncResult } from '../../lib/contracts/incremental-sync';
import { createPool } from '../../lib/io/postgres';
import { migrate } from '../../lib/io/migrate';
import { settings } from '../helpers/env';
import { syncedRowsDiffer } from '../helpers/incremental-sync';

const SEED = Number(process.env.SYNC_PROPERTY_SEED ?? 20261202);
const CASES = Number(process.env.SYNC_PROPERTY_CASES ?? 60);

/** mulberry32: a small seeded generator, so a failing case can be replayed. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)), chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]) => items[Math.floor(next() * items.length)] };
}

describe('incrementalSync property: the target never misses a committed source row', () => {
  let source: pg.Pool;
  let reader: pg.Pool;
  let target: pg.Pool;
  let activities: ReturnType<typeof createSyncActivities>;

  beforeAll(async () => {
    source = createPool(settings.postgres.sourceAdminUrl);
    reader = createPool(settings.postgres.sourceDatabaseUrl);
    target = createPool(settings.postgres.databaseUrl);
    await migrate(target);
    activities = createSyncActivities({ source: reader, target, sourceUrl: settings.postgres.sourceDatabaseUrl });
  });
  afterAll(async () => Promise.all([source?.end(), reader?.end(), target?.end()]));

  /** The activities the workflow runs, in its order, called directly: hundreds of runs fit in a few seconds. */
  async function run(input: SyncInput): Promise<SyncResult> {
    const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('WARN') });
    const options = syncInputSchema.parse(input);
    const plan = await env.run(activities.prepareSync, { ...options, targetTable: options.sourceTable },
      { workflowId: `property-${randomUUID()}`, runId: randomUUID(), triggeredBy: 'test' }) as SyncPlan;
    await env.run(activities.copyChangedRows, plan);
    if (plan.mode === 'full') await env.run(activities.reconcileMissingRows, plan);
    return await env.run(activities.finishSync, plan, { status: 'success' as const }) as SyncResult;
  }

  it(`holds for ${CASES} random histories (seed ${SEED})`, async () => {
    for (let i = 0; i < CASES; i++) {
      const rng = random(SEED + i);
      const where = `seed ${SEED + i} (SYNC_PROPERTY_SEED=${SEED + i} SYNC_PROPERTY_CASES=1)`;
      const table = `public.prop_${i}`;
      const textKeys = rng.chance(0.5);
      const unique = rng.chance(0.6);
      const changeDetection = rng.chance(0.75) ? 'auto' : 'updated_at';
      const honestWriters = changeDetection === 'updated_at';
      await source.query(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (
        id ${textKeys ? 'text COLLATE "und-x-icu"' : 'int'} ${unique ? 'PRIMARY KEY' : ''}, v int, updated_at timestamptz)`);
      await target.query(`DROP TABLE IF EXISTS ${table}`);
      await target.query(`DELETE FROM etl_control WHERE target_table = $1`, [table]);

      const keys: string[] = [];
      const deleted = new Set<string>();
      /** Keys restamped since the last full run: an incremental run names them instead of applying them. */
      const restamped = new Set<string>();
      const restampedSinceRun = new Set<string>();
      let tie = 'now()';
      let nextKey = 0;
      const newKey = () => {
        const n = nextKey++;
        // Mixed case and accents sort differently under ICU and C.
        return textKeys ? `${rng.pick(['a', 'B', 'é', 'Z', 'ä', 'b', 'E'])}${n}` : String(n);
      };
      const dated = () => honestWriters
        ? rng.pick(['now()', tie, `timestamptz '2099-01-01' + make_interval(secs => ${rng.int(0, 1000)})`])
        : rng.pick(['now()', tie, `now() - make_interval(hours => ${rng.int(1, 500)})`, 'NULL', `timestamptz '2099-01-01' + make_interval(secs => ${rng.int(0, 1000)})`]);
      // Always later than the key's newest row, so the merge's "newer wins" has one answer; maybe older than the watermark.
      const later = (key: string) => `(SELECT coalesce(max(updated_at), now()) + make_interval(secs => ${rng.int(1, 100)}) FROM ${table} WHERE id = ${pg.escapeLiteral(key)})`;

      /** After a run: source and target agree, but for what the run's mode documents (and names). */
      const check = async (result: SyncResult, full: boolean, context: string) => {
        if (full) restamped.clear();
        const differ = await syncedRowsDiffer(source, target, table);
        const keyOf = (line: string) => String((JSON.parse(line.replace(/^only in (source|target): /, '')) as { id: unknown }).id);
        const notApplied = differ.filter((line) => line.startsWith('only in source') && restamped.has(keyOf(line)));
        if (notApplied.some((line) => restampedSinceRun.has(keyOf(line)))) {
          assert.match(result.warnings.join('\n'), /changed at the source but not applied/, context);
        }
        restampedSinceRun.clear();
        // Incremental runs leave deleted keys in the target; nothing else may differ.
        const unexpected = differ.filter((line) => !notApplied.includes(line)
          && !(line.startsWith('only in target') && (deleted.has(keyOf(line)) || restamped.has(keyOf(line)))));
        assert.deepEqual(unexpected, [], context);
        if (full) deleted.clear();
      };

      let held: pg.Client | undefined;
      const locked = new Set<string>();
      for (let round = 0; round < rng.int(2, 5); round++) {
        tie = `timestamptz '${(await source.query<{ now: string }>('SELECT now()::text AS now')).rows[0].now}'`;
        for (let op = rng.int(3, 14); op > 0; op--) {
          const free = keys.filter((k) => !locked.has(k));
          const kind = rng.pick(['insert', 'insert', 'update', 'update', 'duplicate', 'delete', ...(unique && !honestWriters ? ['restamp'] : [])]);
          if (kind === 'insert' || !free.length) {
            const key = newKey();
            keys.push(key);
            await source.query(`INSERT INTO ${table} VALUES ($1, $2, ${dated()})`, [key, rng.int(0, 999)]);
          } else if (kind === 'update' || (kind === 'duplicate' && unique)) {
            const key = rng.pick(free);
            const when = honestWriters ? `greatest(now(), ${later(key)})` : later(key);
            await source.query(`UPDATE ${table} SET v = $2, updated_at = ${when} WHERE id = $1`, [key, rng.int(0, 999)]);
          } else if (kind === 'restamp') {
            const key = rng.pick(free);
            const when = rng.pick(['updated_at', 'NULL', `updated_at - make_interval(secs => ${rng.int(1, 100_000)})`]);
            await source.query(`UPDATE ${table} SET v = $2, updated_at = ${when} WHERE id = $1`, [key, rng.int(0, 999)]);
            restamped.add(key);
            restampedSinceRun.add(key);
          } else if (kind === 'duplicate') {
            const key = rng.pick(free);
            const when = honestWriters ? `greatest(now(), ${later(key)})` : later(key);
            await source.query(`INSERT INTO ${table} VALUES ($1, $2, ${when})`, [key, rng.int(0, 999)]);
          } else {
            const key = rng.pick(free);
            await source.query(`DELETE FROM ${table} WHERE id = $1`, [key]);
            keys.splice(keys.indexOf(key), 1);
            deleted.add(key);
          }
        }
        if (!honestWriters && !held && keys.length && rng.chance(0.4)) {
          // A long transaction: writes now, dated hours ago, commits only after the next run.
          held = new pg.Client({ connectionString: settings.postgres.sourceAdminUrl });
          await held.connect();
          await held.query('BEGIN');
          const key = newKey();
          await held.query(`INSERT INTO ${table} VALUES ($1, 1, now() - interval '3 hours')`, [key]);
          const updated = rng.pick(keys.filter((k) => !locked.has(k)));
          await held.query(`UPDATE ${table} SET v = -1, updated_at = ${later(updated)} WHERE id = $1`, [updated]);
          locked.add(key).add(updated);
          keys.push(key);
        } else if (held) {
          await held.query('COMMIT');
          await held.end();
          held = undefined;
          locked.clear();
        }
        const full = rng.chance(0.15);
        const batchSize = rng.int(1, 8);
        const result = await run({ sourceTable: table, batchSize, changeDetection, full, deleteMissing: full });
        await check(result, full, `${where}, round ${round}, ${full ? 'full' : result.mode} run, batchSize ${batchSize}, ${result.changeDetection}`);
      }
      if (held) {
        await held.query('COMMIT');
        await held.end();
        const result = await run({ sourceTable: table, changeDetection, batchSize: 3 });
        await check(result, false, `${where}: after the held transaction, ${result.mode}`);
      }
      await source.query(`DROP TABLE ${table}`);
      await target.query(`DROP TABLE ${table}`);
    }
  });
});
