import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { SyncInput, SyncResult } from '../../lib/contracts/incremental-sync';
import { generateConversations, seedConversations, touchConversations } from '../../lib/sample-data/incremental-sync';
import { openTestContext, startOptions, type TestContext } from '../helpers/env';

const TABLE = 'public.conv_story';

describe('incrementalSync, one table through a day of changes', () => {
  let ctx: TestContext;
  const sync = (input: SyncInput = {}) =>
    ctx.client.workflow.execute('incrementalSync', {
      ...startOptions(ctx, 'sync'),
      args: [{ sourceTable: TABLE, batchSize: 700, ...input }],
    }) as Promise<SyncResult>;
  const targetCount = async () => Number((await ctx.target.query(`SELECT count(*) FROM ${TABLE}`)).rows[0].count);

  beforeAll(async () => {
    ctx = await openTestContext('sync-story');
    await seedConversations(ctx.sourceAdmin, ctx.target, 5000, TABLE);
  });
  afterAll(async () => ctx?.close());

  it('first run with no watermark is a full load of every row, in batches', async () => {
    const result = await sync();
    assert.equal(result.mode, 'full');
    assert.equal(result.rowsExtracted, 5000);
    assert.equal(result.rowsInserted, 5000);
    assert.equal(result.batches, Math.ceil(5000 / 700));
    assert.equal(await targetCount(), 5000);
    const { rows: [source] } = await ctx.sourceAdmin.query(`SELECT max(updated_at)::text AS newest, sum(messages)::int AS messages FROM ${TABLE}`);
    const { rows: [target] } = await ctx.target.query(`SELECT sum(messages)::int AS messages FROM ${TABLE}`);
    assert.equal(target.messages, source.messages);
    assert.equal(result.watermark, source.newest);
    const { rows: [control] } = await ctx.target.query('SELECT status, mode, rows_inserted FROM etl_control WHERE id = $1', [result.controlId]);
    assert.deepEqual(control, { status: 'success', mode: 'full', rows_inserted: '5000' });
  });

  it("turns pandas' NaT, empty strings and NaN into NULL and counts them", async () => {
    const { rows: [expected] } = await ctx.sourceAdmin.query(
      `SELECT count(*) FILTER (WHERE closed_at IN ('NaT', ''))::int AS dates,
              count(*) FILTER (WHERE sentiment_score = 'NaN')::int AS scores FROM ${TABLE}`);
    const { rows: [loaded] } = await ctx.target.query(
      `SELECT count(*) FILTER (WHERE closed_at IS NULL)::int AS null_dates,
              count(*) FILTER (WHERE sentiment_score IS NULL)::int AS null_scores,
              count(*) FILTER (WHERE sentiment_score = 'NaN')::int AS nan_scores FROM ${TABLE}`);
    const { rows: [control] } = await ctx.target.query(
      `SELECT values_nulled::int FROM etl_control WHERE target_table = $1 AND mode = 'full' ORDER BY id DESC LIMIT 1`, [TABLE]);
    assert.ok(expected.dates > 0 && expected.scores > 0, 'the sample data has NaT/empty dates and NaN scores');
    assert.equal(control.values_nulled, expected.dates + expected.scores);
    assert.equal(loaded.nan_scores, 0);
    assert.ok(loaded.null_dates >= expected.dates);
    assert.ok(loaded.null_scores >= expected.scores);
  });

  it('a run with nothing new changes nothing and keeps the watermark', async () => {
    const before = (await ctx.target.query(`SELECT max(watermark)::text AS w FROM etl_control WHERE target_table = $1 AND status = 'success'`, [TABLE])).rows[0].w;
    const result = await sync();
    assert.equal(result.mode, 'incremental');
    assert.equal(result.rowsInserted + result.rowsUpdated, 0);
    assert.equal(result.watermarkFrom, before);
    assert.equal(result.watermark, before);
  });

  it('inserts new rows and updates changed ones', async () => {
    await generateConversations(ctx.sourceAdmin, { table: TABLE, firstId: 5001, count: 120, updatedAt: new Date().toISOString() });
    const touched = await touchConversations(ctx.sourceAdmin, 80, 'now()', 7, TABLE);
    const result = await sync();
    assert.equal(result.rowsInserted, 120);
    assert.equal(result.rowsUpdated, touched);
    assert.equal(await targetCount(), 5120);
    const { rows: [diff] } = await ctx.target.query(`SELECT count(*)::int AS n FROM ${TABLE} WHERE id % 7 = 0 AND status = 'closed' AND id <= 560`);
    assert.equal(diff.n, 80);
  });

  it('an older source row never overwrites a newer target row', async () => {
    // The target got a newer version of row 14 some other way (a later sync from a replica, a manual fix).
    await ctx.target.query(`UPDATE ${TABLE} SET agent = 'edited in target', updated_at = now() + interval '1 hour' WHERE id = 14`);
    await ctx.sourceAdmin.query(`UPDATE ${TABLE} SET agent = 'older source edit', updated_at = now() WHERE id = 14`);
    const result = await sync();
    assert.equal(result.rowsUpdated, 0);
    assert.ok(result.rowsUnchanged >= 1);
    const { rows: [row] } = await ctx.target.query(`SELECT agent FROM ${TABLE} WHERE id = 14`);
    assert.equal(row.agent, 'edited in target');
    // Not silently: the run names the source change it did not apply (a full run applies it, below).
    assert.match(result.warnings.join('\n'), /^1 row changed at the source but not applied, updated_at not newer than the target's \(key 14\)/);
  });

  it('rows committed late with updated_at at or just behind the watermark are not lost', async () => {
    const watermark = (await ctx.target.query(
      `SELECT watermark::text AS w FROM etl_control WHERE target_table = $1 AND status = 'success' ORDER BY id DESC LIMIT 1`, [TABLE])).rows[0].w;
    // Two transactions that started before the last run but committed after it.
    await generateConversations(ctx.sourceAdmin, { table: TABLE, firstId: 9001, count: 1, updatedAt: watermark });
    const { rows: [late] } = await ctx.sourceAdmin.query(`SELECT ($1::timestamptz - interval '30 seconds')::text AS t`, [watermark]);
    await generateConversations(ctx.sourceAdmin, { table: TABLE, firstId: 9002, count: 1, updatedAt: late.t });
    const result = await sync();
    assert.equal(result.rowsInserted, 2);
    const { rows } = await ctx.target.query(`SELECT id FROM ${TABLE} WHERE id IN (9001, 9002) ORDER BY id`);
    assert.deepEqual(rows.map((r) => Number(r.id)), [9001, 9002]);
    assert.equal(result.watermark, watermark, 'the watermark does not move backwards');
  });

  it('quarantines a value that cannot become the target type, with the reason, and loads the rest', async () => {
    await generateConversations(ctx.sourceAdmin, { table: TABLE, firstId: 9100, count: 3, updatedAt: new Date().toISOString() });
    await ctx.sourceAdmin.query(`UPDATE ${TABLE} SET closed_at = 'ontem à tarde' WHERE id = 9101`);
    const result = await sync();
    assert.equal(result.rowsQuarantined, 1);
    assert.equal(result.rowsInserted, 2);
    const { rows } = await ctx.target.query(
      `SELECT reason, row_data->>'id' AS id FROM etl_quarantine WHERE source_table = $1 AND row_data->>'id' = '9101'`, [TABLE]);
    assert.equal(rows.length, 1);
    assert.match(rows[0].reason, /column closed_at: 'ontem à tarde' is not a valid timestamp with time zone/);
  });

  it('full mode reloads, reports rows gone from the source, and deletes them only when asked', async () => {
    await ctx.sourceAdmin.query(`DELETE FROM ${TABLE} WHERE id IN (1, 2, 3)`);
    const reported = await sync({ full: true });
    assert.equal(reported.mode, 'full');
    assert.equal(reported.rowsMissingAtSource, 3);
    assert.equal(reported.rowsDeleted, 0);
    assert.equal(reported.rowsInserted, 0);
    assert.equal(reported.rowsUpdated, 1, 'only row 14, edited in the target, takes the source\'s row again');
    const deleted = await sync({ full: true, deleteMissing: true });
    assert.equal(deleted.rowsDeleted, 3);
    const { rows: [counts] } = await ctx.sourceAdmin.query(`SELECT count(*)::int AS n FROM ${TABLE} WHERE closed_at IS DISTINCT FROM 'ontem à tarde'`);
    assert.equal(await targetCount(), counts.n);
  });

  it('vw_etl_stats summarises the runs', async () => {
    const { rows } = await ctx.target.query('SELECT runs::int, succeeded::int, failed::int FROM vw_etl_stats WHERE target_table = $1', [TABLE]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].runs, rows[0].succeeded);
    assert.ok(rows[0].runs >= 8);
  });

  it('a missing table fails at once, naming the table, and records the failure', async () => {
    const options = startOptions(ctx, 'sync-missing');
    const error = await ctx.client.workflow.execute('incrementalSync', { ...options, args: [{ sourceTable: 'public.does_not_exist' }] })
      .catch((e: unknown) => e);
    assert.ok(error instanceof WorkflowFailedError);
    const cause = error.cause?.cause;
    assert.ok(cause instanceof ApplicationFailure);
    assert.equal(cause.type, 'SchemaError');
    assert.equal(cause.nonRetryable, true);
    assert.match(cause.message, /source table public\.does_not_exist does not exist/);
    const { rows } = await ctx.target.query('SELECT status, error_message FROM etl_control WHERE workflow_id = $1', [options.workflowId]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].status, 'failed');
    assert.match(rows[0].error_message, /public\.does_not_exist does not exist/);
  });

  it('a missing column fails at once and lists the columns there are', async () => {
    const error = await sync({ updatedAtColumn: 'modified_at' }).catch((e: unknown) => e);
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(String((error.cause?.cause as Error | undefined)?.message), /has no column "modified_at" \(its columns: id, customer_id/);
  });

  it('rejects unknown input fields with a clear message', async () => {
    const error = await sync({ batchsize: 10 } as SyncInput).catch((e: unknown) => e);
    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof ApplicationFailure);
    assert.equal(error.cause.type, 'InvalidInput');
    assert.match(error.cause.message, /input: unknown field "batchsize"/);
  });
});
