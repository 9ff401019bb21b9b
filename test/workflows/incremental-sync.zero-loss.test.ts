// The defects that lost rows while runs reported success, each tried through the real workflow on the real stack.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import pg from 'pg';
import type { SyncInput, SyncResult } from '../../lib/contracts/incremental-sync';
import { openTestContext, settings, startOptions, type TestContext } from '../helpers/env';
import { syncedRowsDiffer } from '../helpers/incremental-sync';

describe('incrementalSync loses no row', () => {
  let ctx: TestContext;
  const sync = (input: SyncInput) =>
    ctx.client.workflow.execute('incrementalSync', { ...startOptions(ctx, 'zero-loss'), args: [input] }) as Promise<SyncResult>;
  const source = (sql: string) => ctx.sourceAdmin.query(sql);
  const differ = (table: string, key = 'id') => syncedRowsDiffer(ctx.sourceAdmin, ctx.target, table, { key });

  beforeAll(async () => {
    ctx = await openTestContext('sync-zero-loss');
  });
  afterAll(async () => ctx?.close());

  it('a key without a unique index keeps its newest version when its rows straddle batches', async () => {
    const table = 'public.zl_versions';
    await source(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int, v text, updated_at timestamptz);
      INSERT INTO ${table} SELECT id, 'version ' || n, timestamptz '2026-01-01' + make_interval(days => n)
        FROM generate_series(1, 20) id, generate_series(1, 3) n`);
    for (const batchSize of [4, 1]) {
      const result = await sync({ sourceTable: table, batchSize, full: true });
      assert.equal(result.rowsExtracted, 60, `batchSize ${batchSize}: every row read`);
      assert.deepEqual(await differ(table), [], `batchSize ${batchSize}: target holds each key's newest version`);
      await ctx.target.query(`TRUNCATE ${table}`);
    }
  });

  it('text keys ordered differently by the source collation (ICU) and the target (C) page once each', async () => {
    const table = 'public.zl_icu_keys';
    // ICU sorts a < B < c < é < Z; C sorts B < Z < a < c < é.
    await source(`DROP TABLE IF EXISTS ${table};
      CREATE TABLE ${table} (k text COLLATE "und-x-icu" PRIMARY KEY, v int, updated_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO ${table} (k, v) SELECT k, ord::int FROM unnest(ARRAY['a','B','c','D','é','É','e','Z','z','10','9','ä','A','b']) WITH ORDINALITY AS u(k, ord)`);
    const first = await sync({ sourceTable: table, keyColumns: ['k'], batchSize: 3 });
    assert.equal(first.mode, 'full');
    assert.equal(first.rowsInserted, 14);
    assert.deepEqual(await differ(table, 'k'), []);
    await source(`UPDATE ${table} SET v = v + 100, updated_at = now() WHERE k IN ('B', 'é', 'z')`);
    for (const changeDetection of ['snapshot', 'updated_at'] as const) {
      const next = await sync({ sourceTable: table, keyColumns: ['k'], batchSize: 2, changeDetection });
      assert.equal(next.rowsInserted, 0, changeDetection);
      assert.equal(next.rowsUpdated, changeDetection === 'snapshot' ? 3 : 0, `${changeDetection}: each changed row merged once`);
      assert.deepEqual(await differ(table, 'k'), []);
    }
  });

  it('a commit later than the overlap arrives in snapshot mode; updated_at mode warns that it may miss it', async () => {
    const table = 'public.zl_late';
    await source(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY, v text, updated_at timestamptz);
      INSERT INTO ${table} SELECT id, 'initial', now() - interval '1 day' FROM generate_series(1, 50) id`);
    await sync({ sourceTable: table });
    // A batch job: its transaction began two hours ago (its rows say so), and commits after the next runs.
    const late = new pg.Client({ connectionString: settings.postgres.sourceAdminUrl });
    await late.connect();
    try {
      await late.query('BEGIN');
      await late.query(`INSERT INTO ${table} VALUES (51, 'late insert', now() - interval '2 hours')`);
      await late.query(`UPDATE ${table} SET v = 'late update', updated_at = now() - interval '2 hours' WHERE id = 7`);
      await source(`UPDATE ${table} SET v = 'on time', updated_at = now() WHERE id = 8`);
      const during = await sync({ sourceTable: table, overlapSeconds: 60 });
      assert.equal(during.changeDetection, 'snapshot');
      assert.equal(during.rowsUpdated, 1);
      const warned = await sync({ sourceTable: table, overlapSeconds: 0, changeDetection: 'updated_at' });
      assert.match(warned.warnings.join('\n'), /a source transaction has been open/);
      const { rows: [control] } = await ctx.target.query('SELECT warnings FROM etl_control WHERE id = $1', [warned.controlId]);
      assert.deepEqual(control.warnings, warned.warnings);
      await late.query('COMMIT');
    } finally {
      await late.end();
    }
    const after = await sync({ sourceTable: table, overlapSeconds: 60 });
    assert.equal(after.rowsInserted, 1);
    assert.equal(after.rowsUpdated, 1);
    assert.deepEqual(await differ(table), []);
  });

  it('a row dated in the future loads and is counted, but the watermark stays at the source clock', async () => {
    const table = 'public.zl_future';
    await source(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY, v text, updated_at timestamptz);
      INSERT INTO ${table} SELECT id, 'initial', now() - interval '1 hour' FROM generate_series(1, 10) id;
      INSERT INTO ${table} VALUES (11, 'skewed clock', '2099-01-01')`);
    const first = await sync({ sourceTable: table, changeDetection: 'updated_at' });
    assert.equal(first.rowsInserted, 11);
    assert.equal(first.rowsFutureDated, 1);
    assert.ok(Date.parse(first.watermark!) < Date.now() + 60_000, `watermark ${first.watermark} is not in the future`);
    await source(`UPDATE ${table} SET v = 'changed', updated_at = now() WHERE id = 3`);
    const next = await sync({ sourceTable: table, changeDetection: 'updated_at' });
    assert.equal(next.rowsUpdated, 1, 'a change after the skewed row is still seen');
    assert.deepEqual(await differ(table), []);
  });

  it('a change whose updated_at is not newer than the target\'s copy is named by the incremental run and applied by a full one', async () => {
    const table = 'public.zl_restamped';
    await source(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY, v text, updated_at timestamptz);
      INSERT INTO ${table} SELECT id, 'initial', now() - interval '1 hour' FROM generate_series(1, 10) id;
      INSERT INTO ${table} VALUES (11, 'skewed clock', '2099-01-01')`);
    await sync({ sourceTable: table });
    await source(`UPDATE ${table} SET v = 'clock put right', updated_at = now() WHERE id = 11;
      UPDATE ${table} SET v = 'backdated', updated_at = updated_at - interval '1 day' WHERE id = 1;
      UPDATE ${table} SET v = 'not stamped' WHERE id = 2;
      UPDATE ${table} SET v = 'stamp cleared', updated_at = NULL WHERE id = 3;
      UPDATE ${table} SET v = 'stamped', updated_at = now() WHERE id = 4`);
    const next = await sync({ sourceTable: table });
    assert.equal(next.rowsUpdated, 1);
    assert.deepEqual(next.warnings, [`4 rows changed at the source but not applied, updated_at not newer than the target's (keys 1; 2; 3; 11): ${
      'a clock put right after a future date, a backdated, cleared or unstamped change, or a row edited in the target; a run with full: true applies them'}`]);
    const { rows: [control] } = await ctx.target.query('SELECT warnings FROM etl_control WHERE id = $1', [next.controlId]);
    assert.deepEqual(control.warnings, next.warnings);
    const full = await sync({ sourceTable: table, full: true });
    assert.equal(full.rowsUpdated, 4);
    assert.deepEqual(await differ(table), []);
  });

  it('snapshot mode reads rows whose updated_at is NULL or older than the watermark', async () => {
    const table = 'public.zl_undated';
    await source(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY, v text, updated_at timestamptz);
      INSERT INTO ${table} SELECT id, 'initial', now() FROM generate_series(1, 10) id`);
    await sync({ sourceTable: table });
    await source(`INSERT INTO ${table} VALUES (11, 'no date', NULL), (12, 'backdated', '2001-01-01')`);
    const next = await sync({ sourceTable: table });
    assert.equal(next.mode, 'incremental');
    assert.equal(next.rowsInserted, 2);
    assert.deepEqual(await differ(table), []);
  });

  it('records who started the run and where the next one starts', async () => {
    const table = 'public.zl_undated';
    const result = await sync({ sourceTable: table });
    assert.equal(result.triggeredBy, 'api');
    const { rows: [control] } = await ctx.target.query(
      'SELECT triggered_by, get_last_successful_watermark($2, $2)::text AS next_from FROM etl_control WHERE id = $1', [result.controlId, table]);
    assert.deepEqual(control, { triggered_by: 'api', next_from: result.watermark });
    const next = await sync({ sourceTable: table });
    assert.equal(next.watermarkFrom, control.next_from, 'the run starts where the function says');
  });

  it('a full load into an empty table loses nothing when the target refuses a value halfway: the row is quarantined, the rest arrive', async () => {
    const table = 'public.zl_refused';
    // The pandas export: dates as text ('NaT', '' for none), scores with NaN. Row 33's date cannot load.
    await source(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY, closed_at text, score float8, updated_at timestamptz NOT NULL);
      INSERT INTO ${table} SELECT id,
          CASE id WHEN 5 THEN 'NaT' WHEN 6 THEN '' WHEN 33 THEN '31/02/2026' ELSE ('2026-01-01'::date + id)::text END,
          CASE id WHEN 12 THEN 'NaN'::float8 ELSE id / 4.0 END, timestamptz '2026-01-01' + make_interval(hours => id)
        FROM generate_series(1, 50) id`);
    await ctx.target.query(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY, closed_at date, score float8, updated_at timestamptz NOT NULL)`);
    const result = await sync({ sourceTable: table, batchSize: 10 });
    assert.equal(result.mode, 'full');
    assert.deepEqual([result.rowsExtracted, result.rowsInserted, result.rowsQuarantined, result.valuesNulled], [50, 49, 1, 3]);
    const { rows: [loaded] } = await ctx.target.query(`SELECT count(*)::int AS rows, count(*) FILTER (WHERE closed_at IS NULL)::int AS no_date,
        count(*) FILTER (WHERE score IS NULL)::int AS no_score, max(updated_at) = timestamptz '2026-01-03 02:00Z' AS newest FROM ${table}`);
    assert.deepEqual(loaded, { rows: 49, no_date: 2, no_score: 1, newest: true });
    assert.equal(result.watermark && new Date(result.watermark).toISOString(), '2026-01-03T02:00:00.000Z');
    const { rows: quarantined } = await ctx.target.query(`SELECT q.row_data->>'id' AS id, q.reason FROM etl_quarantine q
        JOIN etl_control c ON (c.workflow_id, c.run_id) = (q.workflow_id, q.run_id) WHERE c.id = $1`, [result.controlId]);
    assert.equal(quarantined.length, 1);
    assert.equal(quarantined[0].id, '33');
    assert.match(quarantined[0].reason, /column closed_at: '31\/02\/2026' is not a valid date/);
  });
});
