// A mailing slot is the hour a delivery belongs to, in the operations team's time zone. Pure (Intl only):
// the workflow sandbox, the activities and the tests share it.
import { zonedTime, type ZonedTime } from '../../lib/workflow/zoned-time';

export { WEEKDAYS, zonedTime, type Weekday } from '../../lib/workflow/zoned-time';

/** The start of the wall-clock hour an instant falls in: 10:37:12 São Paulo time becomes 10:00:00 São Paulo time. */
export function floorToHour(instant: Date, timeZone: string): Date {
  const { minute, second } = zonedTime(instant, timeZone);
  const ms = instant.getTime() % 1000;
  return new Date(instant.getTime() - (Number(minute) * 60 + Number(second)) * 1000 - (ms < 0 ? ms + 1000 : ms));
}

/** "2025-12-22 10:00 America/Sao_Paulo": how a slot is shown to people. */
export function describeSlot(slot: Date, timeZone: string): string {
  const t = zonedTime(slot, timeZone);
  return `${t.year}-${t.month}-${t.day} ${t.hour}:${t.minute} ${timeZone}`;
}

// Date tokens a file-name pattern may hold, each with its value for a slot.
const DATE_TOKENS: Record<string, (t: ZonedTime) => string> = {
  yyyy: (t) => t.year,
  yy: (t) => t.year.slice(2),
  MM: (t) => t.month,
  dd: (t) => t.day,
  HH: (t) => t.hour,
  mm: (t) => t.minute,
};
const DATE_TOKEN = /yyyy|yy|MM|dd|HH|mm/g;

/** `mailing_{campaign}_{dd-MM}_{HH-mm}.csv` for campaign "cobranca" at 22/12 10:00 -> `mailing_cobranca_22-12_10-00.csv`. */
export function formatFileName(pattern: string, campaign: string, slot: Date, timeZone: string): string {
  const t = zonedTime(slot, timeZone);
  return pattern.replace(/\{([^}]*)\}/g, (_, token: string) =>
    token === 'campaign' ? campaign : token.replace(DATE_TOKEN, (name) => DATE_TOKENS[name](t)));
}
