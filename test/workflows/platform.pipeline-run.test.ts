// What every run does around its story (lib/workflow/pipeline-run.ts): EtlOutcome is set however a run ends, so a
// Web UI filter on failed runs finds them all, and a cancelled run cleans up after itself.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { runStagingId } from '../../lib/contracts/run';
import { pipelines } from '../../lib/pipelines';
import { seedConversations } from '../../lib/sample-data/incremental-sync';
import { openTestContext, startOptions, type TestContext } from '../helpers/env';

const TABLE = 'public.conv_cancel';

describe('a pipeline run, however it ends', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await openTestContext('pipeline-run');
  });
  afterAll(async () => ctx?.close());

  const failureOf = async (promise: Promise<unknown>) => {
    const error = await promise.then(() => assert.fail('the run should have failed'), (e: unknown) => e);
    assert.ok(error instanceof WorkflowFailedError, String(error));
    return error.cause;
  };
  const outcomeOf = async (workflowId: string) =>
    (await ctx.client.workflow.getHandle(workflowId).describe()).searchAttributes.EtlOutcome;

  it('rejects bad input naming the field, and is listed as failed, in every pipeline', async () => {
    for (const { workflowType } of pipelines) {
      const handle = await ctx.client.workflow.start(workflowType, { ...startOptions(ctx, 'bad-input'), args: [{ noSuchField: 1 }] });
      const cause = await failureOf(handle.result());
      assert.ok(cause instanceof ApplicationFailure, `${workflowType}: ${cause}`);
      assert.equal(cause.type, 'InvalidInput', workflowType);
      assert.match(cause.message, /noSuchField/, workflowType);
      assert.deepEqual(await outcomeOf(handle.workflowId), ['failed'], workflowType);
    }
  });

  it('is listed as failed when its first step fails (a sync of a table that does not exist)', async () => {
    const handle = await ctx.client.workflow.start('incrementalSync', {
      ...startOptions(ctx, 'missing'), args: [{ sourceTable: 'public.no_such_table_anywhere' }],
    });
    const cause = await failureOf(handle.result());
    assert.match(String((cause?.cause as Error | undefined)?.message), /no_such_table_anywhere does not exist/);
    assert.deepEqual(await outcomeOf(handle.workflowId), ['failed']);
  });

  it('cancelled mid-copy: etl_control says cancelled (not running, not failed), staging is dropped, listed as cancelled', async () => {
    await seedConversations(ctx.sourceAdmin, ctx.target, 200_000, TABLE);
    // One row already there, so the full load merges through staging (into an empty table it copies straight in).
    await ctx.target.query(`TRUNCATE ${TABLE}; INSERT INTO ${TABLE} (id, customer_id, channel, status, started_at, messages, updated_at)
      VALUES (-1, 'c', 'chat', 'closed', now(), 1, now())`);
    const handle = await ctx.client.workflow.start('incrementalSync', {
      ...startOptions(ctx, 'cancel'), args: [{ sourceTable: TABLE, batchSize: 1000, full: true }],
    });
    // Cancel once some batches are committed, well before the 200 batches are done.
    let loaded = 0;
    for (let i = 0; i < 600 && loaded === 0; i++) {
      await sleep(100);
      loaded = Number((await ctx.target.query(`SELECT count(*) FROM ${TABLE} WHERE id > 0`)).rows[0].count);
    }
    assert.ok(loaded > 0 && loaded < 200_000, `rows loaded before the cancel: ${loaded}`);
    const { runId: running } = await handle.describe();
    const { rows: [{ tables }] } = await ctx.target.query(
      `SELECT count(*)::int AS tables FROM pg_tables WHERE schemaname = 'etl_staging' AND tablename LIKE $1`, [`sync_%_${runStagingId(running)}%`]);
    assert.equal(tables, 2, 'the run copies through its two staging tables');
    await handle.cancel();
    const cause = await failureOf(handle.result());
    assert.ok(cause instanceof CancelledFailure, String(cause));

    const { rows: [control] } = await ctx.target.query(
      'SELECT status, finished_at IS NOT NULL AS finished FROM etl_control WHERE workflow_id = $1', [handle.workflowId]);
    assert.deepEqual(control, { status: 'cancelled', finished: true });
    const { runId } = await handle.describe();
    const { rows: staging } = await ctx.target.query(
      `SELECT tablename FROM pg_tables WHERE schemaname = 'etl_staging' AND tablename LIKE $1`, [`sync_%_${runStagingId(runId)}%`]);
    assert.deepEqual(staging, []);
    assert.deepEqual(await outcomeOf(handle.workflowId), ['cancelled']);
  });
});
