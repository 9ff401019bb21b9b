// A campaign as its file in campaigns/ describes it: which query, which dialer layout, which SFTP folder, when.
// Everything here ends up in a file name, a remote path or generated SQL, so it is checked strictly at load.
import { z } from 'zod';
import { WEEKDAYS } from '../workflow/zoned-time';

/** A run of date and time tokens (`dd-MM`, `HH-mm`, `yyyyMMdd`) in a file name pattern's `{...}`. */
const DATE_PLACEHOLDER = /^(?:yyyy|yy|MM|dd|HH|mm)(?:[-_.]?(?:yyyy|yy|MM|dd|HH|mm))*$/;

export const DEFAULT_FILE_NAME = 'mailing_{campaign}_{dd-MM}_{HH-mm}.csv';

// Control characters (line breaks, NUL...) have no place in a path or a header.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\0-\x1f\x7f]/;

const slug = z.string().max(60).regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be a slug: lower-case letters, digits, _ and -, starting with a letter or digit');

/** A POSIX folder on the SFTP server, absolute or relative to the login folder; never climbing out with "..". */
const sftpFolder = z.string().min(1).max(255)
  .refine((p) => !p.includes('\\') && !CONTROL.test(p), 'must not contain backslashes or control characters')
  .refine((p) => !p.replace(/^\//, '').split('/').some((s) => s === '' || s === '.' || s === '..'),
    'must be a plain folder path like /dialer/cobranca (no "..", "." or empty segments)');

const fileNamePattern = z.string().max(120)
  .refine((p) => /^[A-Za-z0-9_.-]*(\{[^}]*\}[A-Za-z0-9_.-]*)*$/.test(p),
    'may hold only letters, digits, "_", "-", "." and {placeholders}')
  .refine((p) => [...p.matchAll(/\{([^}]*)\}/g)].every(([, token]) => token === 'campaign' || DATE_PLACEHOLDER.test(token)),
    'placeholders are {campaign} and dates like {dd-MM}, {HH-mm}, {yyyy-MM-dd} (tokens yyyy yy MM dd HH mm)')
  .refine((p) => ['dd', 'HH'].every((t) => [...p.matchAll(/\{([^}]*)\}/g)].some(([, token]) => token.includes(t))),
    'must hold the day and the hour ({dd-MM} and {HH-mm}): each slot needs a file name of its own')
  .refine((p) => !p.startsWith('.'), 'must not start with "." (hidden files are the temporary uploads)');

const column = {
  /** A column of the campaign query's result. */
  source: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a column name of the query (lower-case letters, digits, _)'),
  /** The header the dialer expects for it. */
  header: z.string().min(1).max(63).refine((h) => !CONTROL.test(h), 'must not contain line breaks or control characters'),
};

const DATE_PATTERN = /^(?:yyyy|yy|MM|dd|HH|mm|ss|[/\-.: ])+$/;

export const columnSchema = z.preprocess(
  (value) => (value && typeof value === 'object' && !('format' in value) ? { ...value, format: 'text' } : value),
  z.discriminatedUnion('format', [
    z.object({ ...column, format: z.literal('text'), maxLength: z.number().int().min(1).max(10_000).optional() }).strict(),
    z.object({
      ...column,
      format: z.literal('phone'),
      /** ddd-number 11987654321, e164 +5511987654321, with-country 5511987654321, ddd 11, number 987654321. */
      style: z.enum(['ddd-number', 'e164', 'with-country', 'ddd', 'number']).default('ddd-number'),
    }).strict(),
    z.object({
      ...column,
      format: z.literal('date'),
      pattern: z.string().regex(DATE_PATTERN, 'must be made of yyyy yy MM dd HH mm ss and / - . : or space').default('dd/MM/yyyy'),
    }).strict(),
    z.object({
      ...column,
      format: z.literal('number'),
      decimals: z.number().int().min(0).max(6).default(2),
      decimalSeparator: z.enum([',', '.']).default(','),
    }).strict(),
  ]),
);

const ENCODINGS: Record<string, 'UTF8' | 'LATIN1' | 'WIN1252'> = {
  'UTF8': 'UTF8', 'UTF-8': 'UTF8', 'LATIN1': 'LATIN1', 'ISO-8859-1': 'LATIN1', 'WIN1252': 'WIN1252', 'WINDOWS-1252': 'WIN1252',
};

const hour = z.number().int().min(0).max(23);

export const campaignSchema = z.object({
  name: slug,
  description: z.string().max(500).optional(),
  /** The query, a file in campaigns/sql/: one SELECT, run read-only on the source database. */
  sqlFile: z.string().regex(/^[a-z0-9][a-z0-9_-]*\.sql$/, 'must be a file name like cobranca.sql in campaigns/sql/'),
  statementTimeoutSeconds: z.number().int().min(1).max(3600).default(300),
  columns: z.array(columnSchema).min(1).max(200)
    .refine((cols) => new Set(cols.map((c) => c.header)).size === cols.length, 'headers must be unique'),
  separator: z.string().length(1).refine((s) => !/[A-Za-z0-9"\r\n\\.]/.test(s), 'must be one character like ; , | or a tab').default(';'),
  encoding: z.preprocess((v) => (typeof v === 'string' ? (ENCODINGS[v.toUpperCase()] ?? v) : v),
    z.enum(['UTF8', 'LATIN1', 'WIN1252'], 'must be UTF8, LATIN1 or WIN1252')).default('UTF8'),
  header: z.boolean().default(true),
  quoteAll: z.boolean().default(false),
  /** Line endings of the file: LF, or CRLF for dialers on Windows. */
  lineEnding: z.enum(['LF', 'CRLF'], 'must be LF or CRLF').default('LF'),
  sftpFolder,
  fileName: fileNamePattern.default(DEFAULT_FILE_NAME),
  activeDays: z.array(z.enum(WEEKDAYS)).min(1).default(['mon', 'tue', 'wed', 'thu', 'fri', 'sat']),
  /** Inclusive: { from: 8, to: 20 } is every slot from 08:00 to 20:00. */
  activeHours: z.object({ from: hour, to: hour }).strict().refine((h) => h.from <= h.to, 'from must not be after to')
    .default({ from: 8, to: 20 }),
  /** An empty result: send-empty-file (the header alone, or 0 bytes) or send-nothing. */
  emptyResult: z.enum(['send-empty-file', 'send-nothing']).default('send-empty-file'),
}).strict();

export type CampaignConfig = z.output<typeof campaignSchema>;
export type CampaignColumn = CampaignConfig['columns'][number];

/** A campaign as loaded: its configuration and the text of its query, as it was when the run planned it. */
export interface Campaign extends CampaignConfig {
  sql: string;
}
