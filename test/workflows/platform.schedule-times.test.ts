// The times the Temporal server itself computes for our schedule definitions: over a weekend (a week boundary),
// and in a zone that still changes its clocks, to show what a schedule does on those two nights.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { ScheduleOptions } from '@temporalio/client';
import { msNumberToTs, tsToDate } from '@temporalio/common/lib/time';
import { loadConfig } from '../../lib/config/env';
import { scheduleDefinitions } from '../../schedules';
import { openTestContext, uniqueId, type TestContext } from '../helpers/env';

describe('schedule times computed by the server', () => {
  let ctx: TestContext;
  const created: string[] = [];
  const definitions = new Map(scheduleDefinitions(loadConfig()).map((d) => [d.scheduleId, d]));

  beforeAll(async () => {
    ctx = await openTestContext('schedule-times', { worker: false });
  });
  afterAll(async () => {
    for (const id of created) await ctx.client.schedule.getHandle(id).delete().catch(() => undefined);
    await ctx.close();
  });

  /** A paused copy of a definition, asked for the times it would start runs between two instants. */
  async function matchingTimes(definition: ScheduleOptions, fromIso: string, toIso: string): Promise<string[]> {
    const scheduleId = uniqueId(definition.scheduleId);
    created.push(scheduleId);
    await ctx.client.schedule.create({ ...definition, scheduleId, state: { paused: true } });
    const { startTime } = await (ctx.client.workflowService.listScheduleMatchingTimes({
      namespace: ctx.client.options.namespace, scheduleId,
      startTime: msNumberToTs(Date.parse(fromIso)), endTime: msNumberToTs(Date.parse(toIso)),
    }) as Promise<{ startTime?: Parameters<typeof tsToDate>[0][] | null }>);
    return (startTime ?? []).map((t) => tsToDate(t).toISOString().replace('.000', ''));
  }

  it('daily schedules run every day of a weekend, at São Paulo time (UTC-3 all year)', async () => {
    // Friday 2026-11-27 to Tuesday 2026-12-01, which also crosses a month boundary.
    const sync = await matchingTimes(definitions.get('incremental-sync-daily')!, '2026-11-27T00:00:00Z', '2026-12-01T00:00:00Z');
    assert.deepEqual(sync, ['2026-11-27T06:00:00Z', '2026-11-28T06:00:00Z', '2026-11-29T06:00:00Z', '2026-11-30T06:00:00Z']);
    const crm = await matchingTimes(definitions.get('crm-features-daily')!, '2026-11-27T00:00:00Z', '2026-12-01T00:00:00Z');
    assert.deepEqual(crm, ['2026-11-27T07:00:00Z', '2026-11-28T07:00:00Z', '2026-11-29T07:00:00Z', '2026-11-30T07:00:00Z']);
  });

  it('the hourly mailing schedule stops on Saturday at 20:00 and starts again on Monday at 08:00', async () => {
    const times = await matchingTimes(definitions.get('mailing-campaigns-hourly')!, '2026-11-28T21:30:00Z', '2026-11-30T12:30:00Z');
    // Saturday 19:00 and 20:00 São Paulo, nothing on Sunday, then Monday 08:00 and 09:00.
    assert.deepEqual(times, ['2026-11-28T22:00:00Z', '2026-11-28T23:00:00Z', '2026-11-30T11:00:00Z', '2026-11-30T12:00:00Z']);
  });

  it('across a daylight-saving change, a slot in the skipped hour does not run and one in the repeated hour runs twice', async () => {
    const inNewYork = (cron: string): ScheduleOptions => {
      const base = definitions.get('incremental-sync-daily')!;
      return { ...base, spec: { cronExpressions: [cron], timezone: 'America/New_York' } };
    };
    // 2027-03-14: clocks go from 02:00 to 03:00, so 02:30 does not exist that day; after it, UTC-4 instead of UTC-5.
    const spring = await matchingTimes(inNewYork('30 2 * * *'), '2027-03-13T00:00:00Z', '2027-03-16T00:00:00Z');
    assert.deepEqual(spring, ['2027-03-13T07:30:00Z', '2027-03-15T06:30:00Z']);
    // 2027-11-07: clocks go from 02:00 back to 01:00, so 01:30 happens twice, and the schedule runs at both.
    const autumn = await matchingTimes(inNewYork('30 1 * * *'), '2027-11-06T00:00:00Z', '2027-11-09T00:00:00Z');
    assert.deepEqual(autumn, ['2027-11-06T05:30:00Z', '2027-11-07T05:30:00Z', '2027-11-07T06:30:00Z', '2027-11-08T06:30:00Z']);
  });
});
