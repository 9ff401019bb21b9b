// Wall-clock parts of an instant in a time zone, with Intl only: usable in workflows, activities and tests.
import { z } from 'zod';

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface ZonedTime {
  year: string;
  month: string;
  day: string;
  hour: string;
  minute: string;
  second: string;
  weekday: Weekday;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let found = formatters.get(timeZone);
  if (!found) {
    found = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', weekday: 'short',
      year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(timeZone, found);
  }
  return found;
}

/** The wall-clock parts of an instant in a time zone (e.g. America/Sao_Paulo). */
export function zonedTime(instant: Date, timeZone: string): ZonedTime {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(instant).map((p) => [p.type, p.value]));
  return {
    year: parts.year, month: parts.month, day: parts.day, hour: parts.hour, minute: parts.minute, second: parts.second,
    weekday: parts.weekday.slice(0, 3).toLowerCase() as Weekday,
  };
}

/**
 * The instant at which a time zone's clock reads `wallClock` (`2026-11-20`, `2026-11-20 08:00`, `2026-11-20T08:00:00`).
 * Text with its own offset or `Z` (`2026-11-20T08:00-03:00`) is taken as it is.
 */
export function instantOfWallClock(wallClock: string, timeZone: string): Date {
  const text = wallClock.trim().replace(' ', 'T');
  if (/(Z|[+-]\d\d:?\d\d)$/i.test(text)) return checked(new Date(text), wallClock);
  const asUtc = checked(new Date(`${text.length === 10 ? `${text}T00:00` : text}Z`), wallClock);
  // The zone's offset at that moment, found by reading the clock there; twice, for moments near a change.
  let instant = asUtc.getTime();
  for (let i = 0; i < 2; i++) instant = asUtc.getTime() - (wallClockAsUtc(new Date(instant), timeZone) - instant);
  return new Date(instant);
}

function wallClockAsUtc(instant: Date, timeZone: string): number {
  const t = zonedTime(instant, timeZone);
  return Date.UTC(Number(t.year), Number(t.month) - 1, Number(t.day), Number(t.hour), Number(t.minute), Number(t.second));
}

function checked(date: Date, text: string): Date {
  if (Number.isNaN(date.getTime())) throw new RangeError(`"${text}" is not a date or time (e.g. 2026-11-20 or 2026-11-20T08:00)`);
  return date;
}

/** The wall-clock time in a time zone, as ISO text without an offset: `2026-11-20T08:00:00`. */
export function localDateTime(instant: Date, timeZone: string): string {
  const t = zonedTime(instant, timeZone);
  return `${t.year}-${t.month}-${t.day}T${t.hour}:${t.minute}:${t.second}`;
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** A run's time zone: an IANA name Intl knows; Brazil's business hours by default. */
export const timeZoneSchema = z.string().refine(isTimeZone, 'must be a time zone name such as America/Sao_Paulo').default('America/Sao_Paulo');
