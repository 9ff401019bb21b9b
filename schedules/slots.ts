// When a schedule should have run before now: the slots of its cron in its time zone, walked back minute by minute
// (at most eight days), for `etl health` to tell a success that is late from one that is merely old.
import { WEEKDAYS, zonedTime } from '../lib/workflow/zoned-time';
import { normalizeCron } from './schedule-view';

type Matcher = (value: number) => boolean;

function fieldMatcher(field: string, min: number, max: number): Matcher {
  const parts = field.split(',').map((part) => {
    const [range, stepText] = part.split('/');
    const step = stepText ? Number(stepText) : 1;
    const [start, end] = range === '*' ? [min, max]
      : range.includes('-') ? range.split('-').map(Number) : [Number(range), stepText ? max : Number(range)];
    return (value: number) => value >= start && value <= end && (value - start) % step === 0;
  });
  return (value) => parts.some((matches) => matches(value));
}

/**
 * The `count` latest instants before `before` at which a 5-field cron fires in `timeZone`, newest first. Day of month
 * and day of week must both match, as in Temporal's calendar specs.
 */
export function previousSlots(cron: string, timeZone: string, before: Date, count = 2): Date[] {
  const [minute, hour, dayOfMonth, month, dayOfWeek] = normalizeCron(cron).split(' ');
  const matchers = [fieldMatcher(minute, 0, 59), fieldMatcher(hour, 0, 23), fieldMatcher(dayOfMonth, 1, 31),
    fieldMatcher(month, 1, 12), fieldMatcher(dayOfWeek.replace(/\b7\b/g, '0'), 0, 6)];
  const slots: Date[] = [];
  let t = Math.floor((before.getTime() - 1) / 60_000) * 60_000;
  for (let i = 0; i < 8 * 24 * 60 && slots.length < count; i++, t -= 60_000) {
    const local = zonedTime(new Date(t), timeZone);
    const values = [Number(local.minute), Number(local.hour), Number(local.day), Number(local.month), WEEKDAYS.indexOf(local.weekday)];
    if (values.every((value, j) => matchers[j](value))) slots.push(new Date(t));
  }
  return slots;
}

/** How long after a slot its run may still be going before a missing success counts as late. */
export const RUN_ALLOWANCE_MS = 60 * 60_000;

/**
 * The slot whose run should have succeeded by now: the latest slot of an active schedule that is more than an hour
 * gone (a run may still be going in the last hour), if the schedule existed then. A pipeline whose last success closed
 * before it is late: for the daily 03:00 sync, from 04:00 on a day its run did not succeed; for an hourly schedule,
 * when two slots in a row went without a success.
 */
export function successDueSince(schedule: { paused: boolean; cron: string; timeZone: string; createdAt: Date }, now: Date): Date | undefined {
  if (schedule.paused) return undefined;
  const fields = schedule.cron.split(' | ')[0].split(' ');
  const cron = (fields.length === 6 ? fields.slice(1) : fields).join(' ');
  const due = previousSlots(cron, schedule.timeZone, now).find((slot) => now.getTime() - slot.getTime() > RUN_ALLOWANCE_MS);
  return due && due > schedule.createdAt ? due : undefined;
}
