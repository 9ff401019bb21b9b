// `etl schedules ...` as an operator uses it: a diff on apply, list, pause/unpause with a note, trigger, backfill, delete.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { loadConfig } from '../../lib/config/env';
import { scheduleDefinitions } from '../../schedules';
import { etl } from '../helpers/cli';
import { openTestContext, uniqueId, type TestContext } from '../helpers/env';

interface ListedSchedule {
  scheduleId: string;
  state: string;
  note: string;
  cron: string;
  nextRuns: string[];
  lastRun?: { workflowId: string; status: string };
}

describe('etl schedules', () => {
  let ctx: TestContext;
  let scheduleId: string;

  beforeAll(async () => {
    ctx = await openTestContext('schedules-cli');
    // The daily sync's definition, on this test's worker, with a source table that does not exist: each run fails
    // at once (SchemaError), so buffered backfill runs follow each other quickly.
    const sync = scheduleDefinitions(loadConfig()).find((d) => d.scheduleId === 'incremental-sync-daily')!;
    scheduleId = uniqueId('ops');
    await ctx.client.schedule.create({
      ...sync, scheduleId, state: {},
      action: { ...sync.action, taskQueue: ctx.taskQueue, workflowId: `${scheduleId}-run`, args: [{ sourceTable: 'public.no_such_table' }] },
    });
  });
  afterAll(async () => {
    await ctx.client.schedule.getHandle(scheduleId).delete().catch(() => undefined);
    await ctx.close();
  });

  const listed = async (): Promise<ListedSchedule> => {
    const result = await etl(['schedules', 'list']);
    assert.equal(result.code, 0, result.stderr);
    return (result.json as ListedSchedule[]).find((s) => s.scheduleId === scheduleId)!;
  };

  it('apply prints what changed, field by field, and changes it back', async () => {
    await etl(['schedules', 'apply']);
    const changed = await etl(['schedules', 'apply'], { SYNC_SCHEDULE_CRON: '30 5 * * MON-FRI' });
    assert.equal(changed.code, 0, changed.stderr);
    const sync = (changed.json as { scheduleId: string; change: string; diff: unknown[] }[]).find((s) => s.scheduleId === 'incremental-sync-daily');
    assert.deepEqual([sync?.change, sync?.diff], ['updated', [{ field: 'cron', from: '0 3 * * *', to: '30 5 * * 1-5' }]]);
    assert.match(changed.stderr, /incremental-sync-daily: updated\n {2}cron: 0 3 \* \* \* -> 30 5 \* \* 1-5/);
    assert.match(changed.stderr, /crm-features-daily: unchanged/);
    const back = await etl(['schedules', 'apply']);
    const again = (back.json as { scheduleId: string; change: string }[]).find((s) => s.scheduleId === 'incremental-sync-daily');
    assert.equal(again?.change, 'updated');
    const described = await ctx.client.schedule.getHandle('incremental-sync-daily').describe();
    assert.deepEqual(described.spec.calendars?.[0].hour, [{ start: 3, end: 3, step: 1 }], 'back to 03:00 São Paulo');
  });

  it('list shows the schedule, its next runs, and pause/unpause with a note', async () => {
    const active = await listed();
    assert.equal(active.state, 'active');
    assert.equal(active.cron, '0 3 * * *');
    assert.equal(active.nextRuns.length, 3);
    assert.ok(active.nextRuns.every((t) => t.endsWith('T06:00:00.000Z')), active.nextRuns.join());

    const paused = await etl(['schedules', 'pause', scheduleId, '--note', 'source database maintenance']);
    assert.equal(paused.code, 0, paused.stderr);
    const whilePaused = await listed();
    assert.equal(whilePaused.state, 'paused');
    assert.equal(whilePaused.note, 'source database maintenance');
    assert.deepEqual(whilePaused.nextRuns, []);

    await etl(['schedules', 'unpause', scheduleId, '--note', 'maintenance over']);
    const after = await listed();
    assert.equal(after.state, 'active');
    assert.equal(after.note, 'maintenance over');
  });

  it('trigger runs it now and backfill runs each missed slot; list shows the last run', async () => {
    const triggered = await etl(['schedules', 'trigger', scheduleId]);
    assert.equal(triggered.code, 0, triggered.stderr);
    // Two São Paulo days: the 03:00 slots of 2026-11-18 and 2026-11-19.
    const backfill = await etl(['schedules', 'backfill', scheduleId, '--from', '2026-11-18', '--to', '2026-11-20']);
    assert.equal(backfill.code, 0, backfill.stderr);
    assert.deepEqual(backfill.json, { scheduleId, start: '2026-11-18T03:00:00.000Z', end: '2026-11-20T03:00:00.000Z' });

    const runs = await waitForRuns(3);
    for (const slot of ['2026-11-18T06:00:00Z', '2026-11-19T06:00:00Z']) assert.ok(runs.includes(`${scheduleId}-run-${slot}`), runs.join());
    assert.equal(runs.length, 3, 'the trigger and the two slots, nothing else');
    const last = await listed();
    assert.match(last.lastRun?.status ?? '', /failed|running/);
  });

  it('bad ids and times are one clear line; delete asks for --yes', async () => {
    const missing = await etl(['schedules', 'pause', 'no-such-schedule']);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr.trim(), 'etl: there is no schedule no-such-schedule (see etl schedules list)');
    const badTime = await etl(['schedules', 'backfill', scheduleId, '--from', 'yesterday', '--to', '2026-11-20']);
    assert.equal(badTime.code, 2);
    assert.match(badTime.stderr, /--from: "yesterday" is not a date or time/);
    const unconfirmed = await etl(['schedules', 'delete', scheduleId]);
    assert.equal(unconfirmed.code, 2);
    assert.match(unconfirmed.stderr, /add --yes to confirm/);
    const deleted = await etl(['schedules', 'delete', scheduleId, '--yes']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal((await etl(['schedules', 'list'])).stdout.includes(scheduleId), false);
  });

  async function waitForRuns(count: number): Promise<string[]> {
    for (let i = 0; i < 300; i++) {
      const ids: string[] = [];
      for await (const run of ctx.client.workflow.list({ query: `TemporalScheduledById = '${scheduleId}'` })) ids.push(run.workflowId);
      if (ids.length >= count) return ids;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`the schedule did not start ${count} runs`);
  }
});
