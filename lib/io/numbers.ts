// Numbers written by people: the locale that reads them, one parser for every pipeline (SQL: etl_parse_number in
// sql/shared/004_parse_number.sql, rules in docs/architecture.md#numbers-in-files).
export { NUMBER_LOCALES, numberLocaleSchema, type NumberLocale } from '../contracts/number-locale';

/**
 * A number the source already typed (a JSON or Parquet number, an Excel number cell, a numeric column) as text that
 * every locale reads the same: 1.234 would be 1234 to a Brazilian reader, so it is written 1.2340.
 */
export function typedNumberText(n: number): string {
  const text = String(n);
  return /^-?[1-9]\d{0,2}\.\d{3}$/.test(text) ? `${text}0` : text;
}

/** The same for a numeric value in SQL (`expr` is a numeric or float expression). */
export const typedNumberSql = (expr: string) =>
  `CASE WHEN (${expr})::text ~ '^-?[1-9]\\d{0,2}\\.\\d{3}$' THEN (${expr})::text || '0' ELSE (${expr})::text END`;

/**
 * etl_parse_number(text, locale) as SQL, with a fast path: digits with at most two decimals after a point (what a
 * database or a typed file writes: 123.45, 12) read the same in every locale and are cast at once; only the rest
 * (currency marks, separators, 1.234) go through the parser. Same value for every input.
 */
export const parsedNumberSql = (textSql: string, localeSql: string) =>
  `CASE WHEN ${textSql} ~ '^[-+]?\\d+(\\.\\d\\d?)?$' THEN ${textSql}::numeric ELSE etl_parse_number(${textSql}, ${localeSql}) END`;

/** Quarantine reasons for a value that `auto` cannot read start with this (then the column, the value, why). */
export const AMBIGUOUS_NUMBER_REASON = 'ambiguous number in ';

/** The quarantine reason for an ambiguous value, as SQL: names the column (an SQL text expression) and the value. */
export const ambiguousNumberReasonSql = (columnSql: string, valueSql: string) =>
  `'${AMBIGUOUS_NUMBER_REASON}' || ${columnSql} || ': ' || quote_literal(btrim(${valueSql}))
    || ' (numberLocale auto: 1 to 3 digits, then . or , and 3 digits read 1000 times apart in pt-BR and en-US; set the source''s numberLocale)'`;
