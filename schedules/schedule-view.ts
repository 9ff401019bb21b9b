import {
  DAYS_OF_WEEK, MONTHS, type CalendarSpecDescription, type Range, type ScheduleDescription, type ScheduleOptions,
} from '@temporalio/client';
import { msToNumber, type Duration } from '@temporalio/common/lib/time';

/**
 * What an operator compares between a schedule's definition in code and the one on the server, as text.
 * The server keeps a cron expression as a structured calendar, so both sides are rendered back to cron.
 */
export interface ScheduleView {
  cron: string;
  timezone: string;
  workflowType: string;
  taskQueue: string;
  workflowId: string;
  input: string;
  overlap: string;
  catchupWindow: string;
  /** `active` or `paused`. */
  state: string;
}

export interface FieldChange {
  field: keyof ScheduleView;
  from: string;
  to: string;
}

export function viewOfDefinition(definition: ScheduleOptions): ScheduleView {
  const action = definition.action;
  return {
    cron: (definition.spec.cronExpressions ?? []).map(normalizeCron).join(' | '),
    timezone: definition.spec.timezone ?? 'UTC',
    workflowType: String(typeof action.workflowType === 'string' ? action.workflowType : action.workflowType.name),
    taskQueue: action.taskQueue,
    workflowId: action.workflowId ?? '',
    input: JSON.stringify(action.args ?? []),
    overlap: definition.policies?.overlap ?? 'SKIP',
    catchupWindow: duration(definition.policies?.catchupWindow ?? '1 year'),
    state: definition.state?.paused ? 'paused' : 'active',
  };
}

export function viewOfServer(description: ScheduleDescription): ScheduleView {
  const action = description.action;
  return {
    cron: description.spec.calendars?.map(calendarToCron).join(' | ') ?? '',
    timezone: description.spec.timezone ?? 'UTC',
    workflowType: action.type === 'startWorkflow' ? action.workflowType : '',
    taskQueue: action.type === 'startWorkflow' ? action.taskQueue : '',
    workflowId: action.type === 'startWorkflow' ? action.workflowId : '',
    input: JSON.stringify(action.type === 'startWorkflow' ? action.args ?? [] : []),
    overlap: description.policies.overlap ?? 'SKIP',
    catchupWindow: duration(description.policies.catchupWindow),
    state: description.state.paused ? 'paused' : 'active',
  };
}

export function diffViews(current: ScheduleView, wanted: ScheduleView): FieldChange[] {
  return (Object.keys(wanted) as (keyof ScheduleView)[])
    .filter((field) => current[field] !== wanted[field])
    .map((field) => ({ field, from: current[field], to: wanted[field] }));
}

const UNITS: [string, number][] = [['day', 86_400_000], ['hour', 3_600_000], ['minute', 60_000], ['second', 1000]];

/** `'50 minutes'` and `3000000` both read "50 minutes". */
function duration(value: Duration): string {
  const millis = msToNumber(value);
  const [unit, size] = UNITS.find(([, size]) => millis % size === 0 && millis >= size) ?? ['millisecond', 1];
  const count = millis / size;
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

const MONTH_NUMBERS = Object.fromEntries(MONTHS.map((name, i) => [name, i + 1])) as Record<string, number>;
const DAY_NUMBERS = Object.fromEntries(DAYS_OF_WEEK.map((name, i) => [name, i])) as Record<string, number>;
const CRON_NAMES: Record<string, number> = {
  ...Object.fromEntries(MONTHS.map((name, i) => [name.slice(0, 3), i + 1])),
  ...Object.fromEntries(DAYS_OF_WEEK.map((name, i) => [name.slice(0, 3), i])),
};

/** `0 8-20 * * MON-SAT` and `0 8-20 * * 1-6` read the same; `?` is `*`. */
export function normalizeCron(cron: string): string {
  return cron.trim().split(/\s+/)
    .map((field) => field.toUpperCase().replace(/[A-Z]{3}/g, (name) => String(CRON_NAMES[name] ?? name)).replace('?', '*'))
    .join(' ');
}

function calendarToCron(calendar: CalendarSpecDescription): string {
  const fields = [
    renderRanges(calendar.minute, 0, 59),
    renderRanges(calendar.hour, 0, 23),
    renderRanges(calendar.dayOfMonth, 1, 31),
    renderRanges(calendar.month.map((r) => numbered(r, MONTH_NUMBERS)), 1, 12),
    renderRanges(calendar.dayOfWeek.map((r) => numbered(r, DAY_NUMBERS)), 0, 6),
  ];
  const seconds = renderRanges(calendar.second, 0, 59);
  return seconds === '0' ? fields.join(' ') : [seconds, ...fields].join(' ');
}

const numbered = (range: Range<string>, numbers: Record<string, number>): Range<number> =>
  ({ start: numbers[range.start], end: numbers[range.end ?? range.start], step: range.step });

function renderRanges(ranges: Range<number>[], min: number, max: number): string {
  if (ranges.length === 0) return '*';
  return ranges.map(({ start, end = start, step = 1 }) => {
    const every = step > 1 ? `/${step}` : '';
    if (start === min && end === max) return `*${every}`;
    return start === end ? String(start) : `${start}-${end}${every}`;
  }).join(',');
}
