import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { msToTs, tsToDate } from '@temporalio/common/lib/time';
import { loadConfig } from '../../lib/config/env';
import { zonedTime } from '../../activities/mailing-campaigns/slot';
import type { MailingResult } from '../../lib/contracts/mailing-campaigns';
import { findPipeline } from '../../lib/pipelines';
import { pipelineSchedule } from '../../schedules/pipeline-schedule';
import type { RunningWorkers } from '../../workers';
import { openTestContext, type TestContext } from '../helpers/env';
import { listFolder, makeFolders, seedPartners, startMailingWorkers, withCampaigns, writeCampaigns } from '../helpers/mailing-campaigns';

const TABLE = 'public.mailing_schedule_customers';
const FOLDER = `/schedule-${randomUUID().slice(0, 8)}`;
const TZ = 'America/Sao_Paulo';
const ts = (iso: string) => msToTs(Date.parse(iso));

describe('the mailing-campaigns schedule', () => {
  let ctx: TestContext;
  let workers: RunningWorkers;
  const schedules: string[] = [];

  beforeAll(async () => {
    ctx = await openTestContext('mailing-schedule', { worker: false });
    await seedPartners(ctx, TABLE, 200);
    await makeFolders([FOLDER]);
    const dir = writeCampaigns([{ name: 'delta', sftpFolder: FOLDER, columns: [{ source: 'phone', header: 'TELEFONE', format: 'phone' }],
      sql: `SELECT phone FROM ${TABLE} ORDER BY id` }]);
    workers = await startMailingWorkers(ctx, withCampaigns(dir));
  });
  afterAll(async () => {
    for (const id of schedules) await ctx.client.schedule.getHandle(id).delete().catch(() => undefined);
    await workers?.shutdown();
    await ctx?.close();
  });

  /** The real definition, on this test's task queue and under an id of its own, paused so that it never fires here. */
  const createSchedule = async (args: unknown[] = [{}]) => {
    const definition = pipelineSchedule(loadConfig(), findPipeline('mailing-campaigns'));
    const scheduleId = `${definition.scheduleId}-${randomUUID().slice(0, 8)}`;
    schedules.push(scheduleId);
    return ctx.client.schedule.create({
      ...definition, scheduleId, state: { paused: true },
      action: { ...definition.action, type: 'startWorkflow', taskQueue: ctx.taskQueue, workflowId: `${scheduleId}-run`, args },
    });
  };

  it('fires at minute 0, 08:00 to 20:00, Monday to Saturday, São Paulo time; overlaps skip; 50 minutes of catch-up', async () => {
    const handle = await createSchedule();
    // Sunday 9 March 2025 00:00 to Sunday 16 March 00:00, São Paulo time: the server's own calendar.
    const { startTime } = await (ctx.client.workflowService.listScheduleMatchingTimes({
      namespace: ctx.client.options.namespace, scheduleId: handle.scheduleId,
      startTime: ts('2025-03-09T00:00:00-03:00'), endTime: ts('2025-03-16T00:00:00-03:00'),
    }) as Promise<{ startTime?: Parameters<typeof tsToDate>[0][] | null }>);
    const times = (startTime ?? []).map((t) => zonedTime(tsToDate(t), TZ));
    const perDay = new Map<string, string[]>();
    for (const t of times) perDay.set(`${t.weekday} ${t.day}`, [...(perDay.get(`${t.weekday} ${t.day}`) ?? []), `${t.hour}:${t.minute}`]);
    const hours = Array.from({ length: 13 }, (_, i) => `${String(8 + i).padStart(2, '0')}:00`);
    assert.deepEqual([...perDay.keys()], ['mon 10', 'tue 11', 'wed 12', 'thu 13', 'fri 14', 'sat 15']);
    for (const slots of perDay.values()) assert.deepEqual(slots, hours);
    const described = await handle.describe();
    assert.equal(described.policies.overlap, ScheduleOverlapPolicy.SKIP);
    assert.equal(described.policies.catchupWindow, 50 * 60 * 1000);
  });

  it('a run that starts late names the slot it belongs to, from the schedule\'s action time', async () => {
    const handle = await createSchedule([{ campaigns: ['delta'] }]);
    // A backfill runs the 14:00 slot of 11 March 2025 now, long after its time: a run that starts late.
    await handle.backfill([{ start: new Date('2025-03-11T13:59:00-03:00'), end: new Date('2025-03-11T14:01:00-03:00'), overlap: ScheduleOverlapPolicy.ALLOW_ALL }]);
    let workflowId: string | undefined;
    for (let i = 0; i < 100 && !workflowId; i++) {
      const action = (await handle.describe()).info.recentActions.at(-1)?.action;
      if (action?.type === 'startWorkflow') workflowId = action.workflow.workflowId;
      else await sleep(100);
    }
    assert.ok(workflowId, 'the backfill started a run');
    const result = (await ctx.client.workflow.getHandle(workflowId).result()) as MailingResult;
    assert.equal(result.slotSource, 'schedule');
    assert.equal(result.slotLabel, '2025-03-11 14:00 America/Sao_Paulo');
    assert.equal(result.campaigns[0].fileName, 'mailing_delta_11-03_14-00.csv');
    assert.deepEqual(await listFolder(FOLDER), ['mailing_delta_11-03_14-00.csv']);
  });
});
