// When `etl health` calls a pipeline late: the slot whose run should have succeeded by now, from the schedule's cron
// in its time zone (walked back from now), an hour's allowance for the run itself, and never before the schedule existed.
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { judgeLastSuccess } from '../../cli/commands/health';
import { previousSlots, successDueSince } from '../../schedules/slots';

const SP = 'America/Sao_Paulo';
const created = new Date('2026-01-01T00:00:00Z');

describe('schedule slots', () => {
  it('walks back the hourly Monday-Saturday mailing slots over the weekend, in São Paulo time', () => {
    // Monday 09:00 in São Paulo: the slot before is 08:00, and the one before that Saturday 20:00.
    const slots = previousSlots('0 8-20 * * MON-SAT', SP, new Date('2026-11-30T12:00:00Z'));
    assert.deepEqual(slots.map((d) => d.toISOString()), ['2026-11-30T11:00:00.000Z', '2026-11-28T23:00:00.000Z']);
  });

  it('the daily 03:00 sync is due from 04:00: a success from yesterday is late after that, not before', () => {
    const schedule = { paused: false, cron: '0 3 * * *', timeZone: SP, createdAt: created };
    // 03:30 in São Paulo: today's run may still be going, so yesterday's slot is the one due.
    assert.equal(successDueSince(schedule, new Date('2026-12-01T06:30:00Z'))?.toISOString(), '2026-11-30T06:00:00.000Z');
    // 04:30: today's 03:00 run should have succeeded.
    assert.equal(successDueSince(schedule, new Date('2026-12-01T07:30:00Z'))?.toISOString(), '2026-12-01T06:00:00.000Z');
  });

  it('an hourly schedule is late after two slots without a success; nothing is due for a paused or a new schedule', () => {
    const hourly = { paused: false, cron: '0 * * * *', timeZone: SP, createdAt: created };
    assert.equal(successDueSince(hourly, new Date('2026-12-01T10:20:00Z'))?.toISOString(), '2026-12-01T09:00:00.000Z');
    assert.equal(successDueSince({ ...hourly, paused: true }, new Date('2026-12-01T10:20:00Z')), undefined);
    assert.equal(successDueSince({ ...hourly, createdAt: new Date('2026-12-01T09:30:00Z') }, new Date('2026-12-01T10:20:00Z')), undefined);
  });
});

describe('etl health: the last success against the schedule', () => {
  const hourly = { paused: false, cron: '0 * * * *', timeZone: SP, createdAt: created };
  const now = new Date('2026-12-01T10:20:00Z');
  const due = successDueSince(hourly, now);

  it('is on schedule when a run succeeded after the slot due', () => {
    assert.equal(judgeLastSuccess({ workflowId: 'sales-1', closedAt: new Date('2026-12-01T09:05:00Z') }, due, 'sales-warehouse-hourly', now),
      'sales-1 75 min ago (on schedule)');
  });

  it('is CRITICAL when the last success closed before the slot due, or there is none', () => {
    assert.throws(() => judgeLastSuccess({ workflowId: 'sales-0', closedAt: new Date('2026-12-01T08:05:00Z') }, due, 'sales-warehouse-hourly', now),
      /^Error: sales-0 2 h ago; the run due at 2026-12-01T09:00:00.000Z \(schedule sales-warehouse-hourly\) has not succeeded$/);
    assert.throws(() => judgeLastSuccess(undefined, due, 'sales-warehouse-hourly', now), /no successful run yet; the run due at/);
  });

  it('asks nothing of a schedule with no slot due (paused or new)', () => {
    assert.equal(judgeLastSuccess(undefined, undefined, 'x', now), 'no successful run yet');
  });
});
