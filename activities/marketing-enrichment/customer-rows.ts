// What a customer row must hold, whatever the file calls its columns (pt-BR or English headers).
import { z } from 'zod';
import { INTERESTS, type Interest } from '../../lib/contracts/marketing-enrichment';
import { FileFormatError, type CellValue } from '../../lib/io/spreadsheet-rows';

const COLUMN_ALIASES = {
  id: ['id', 'customer_id', 'id_cliente', 'cliente_id', 'codigo', 'cod_cliente', 'codigo_cliente'],
  name: ['nome', 'name', 'nome_cliente', 'cliente', 'customer_name'],
  email: ['email', 'e_mail'],
  city: ['cidade', 'city', 'municipio'],
  state: ['uf', 'estado', 'state'],
  interest: ['interesse', 'interest', 'interesse_financeiro', 'produto'],
  signupDate: ['data_cadastro', 'data_de_cadastro', 'cadastro', 'signup_date', 'created_at'],
} as const;
type Field = keyof typeof COLUMN_ALIASES;
const REQUIRED: Field[] = ['id', 'name', 'interest'];

/** Lowercase, no accents, runs of spaces and punctuation as `_`: "E-mail" and "e_mail" are the same column. */
const normalize = (text: string) => text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().trim().replace(/[^a-z0-9]+/g, '_');

export type ColumnMap = Partial<Record<Field, string>>;

/** Which header holds each field; a missing required column is a file error that names what was found. */
export function mapColumns(headers: string[], file: string): ColumnMap {
  const map: ColumnMap = {};
  for (const [field, aliases] of Object.entries(COLUMN_ALIASES) as [Field, readonly string[]][]) {
    const header = headers.find((h) => aliases.includes(normalize(h)));
    if (header !== undefined) map[field] = header;
  }
  const missing = REQUIRED.filter((field) => !map[field]);
  if (missing.length > 0) {
    throw new FileFormatError(`${file}: no column for ${missing.map((f) => COLUMN_ALIASES[f][0]).join(', ')} `
      + `(accepted names: ${missing.map((f) => COLUMN_ALIASES[f].join('/')).join('; ')}); the header has: ${headers.join(', ')}`);
  }
  return map;
}

const INTEREST_BY_KEY = new Map<string, Interest>(INTERESTS.map((interest) => [normalize(interest), interest]));

const text = (value: CellValue | undefined) => (value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : String(value).trim());
const optional = (value: string) => (value === '' ? null : value);

const customerSchema = z.object({
  id: z.string().min(1, 'no id').max(64, 'id longer than 64 characters'),
  name: z.string().min(1, 'no name').max(200, 'name longer than 200 characters'),
  interest: z.string().min(1, 'no interest').transform((value, ctx) => {
    const interest = INTEREST_BY_KEY.get(normalize(value));
    if (!interest) {
      ctx.addIssue({ code: 'custom', message: `unknown interest "${value}" (known: ${INTERESTS.join(', ')})` });
      return z.NEVER;
    }
    return interest;
  }),
  email: z.string().nullable(),
  city: z.string().nullable(),
  state: z.string().nullable(),
  signupDate: z.string().nullable(),
});

export type Customer = z.output<typeof customerSchema>;

export type CheckedRow = { ok: true; customer: Customer } | { ok: false; reason: string };

export function checkCustomerRow(record: Record<string, CellValue>, columns: ColumnMap): CheckedRow {
  const value = (field: Field) => (columns[field] ? record[columns[field]] : null);
  const parsed = customerSchema.safeParse({
    id: text(value('id')),
    name: text(value('name')).replace(/\s+/g, ' '),
    interest: text(value('interest')),
    email: optional(text(value('email')).toLowerCase()),
    city: optional(text(value('city'))),
    state: optional(text(value('state')).toUpperCase()),
    signupDate: toIsoDate(value('signupDate') ?? null),
  });
  if (parsed.success) return { ok: true, customer: parsed.data };
  return { ok: false, reason: parsed.error.issues.map((issue) => issue.message).join('; ') };
}

/** ISO dates, dd/mm/yyyy and Excel date cells become yyyy-mm-dd; anything else is left out (null). */
export function toIsoDate(value: CellValue): string | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString().slice(0, 10);
  const raw = text(value);
  const iso = /^(\d{4})-(\d{2})-(\d{2})/.exec(raw);
  const br = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(raw);
  const [year, month, day] = iso ? [iso[1], iso[2], iso[3]] : br ? [br[3], br[2], br[1]] : [];
  if (!year) return null;
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  return date.getUTCDate() === Number(day) ? date.toISOString().slice(0, 10) : null;
}
