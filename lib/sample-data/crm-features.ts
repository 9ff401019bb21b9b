// Synthetic betting/gaming transactions for crmFeatures: users of known archetypes, deterministic by seed, half in
// tbl_transactions on the source, half in lake files (Parquet, CSV, JSON lines), plus a few bad rows for quarantine.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { quoteIdent } from '../io/postgres';
import { seededRandom } from './seeded-random';
import { localDateTime } from '../workflow/zoned-time';

export interface TransactionRow {
  transaction_id: string;
  user_id: string;
  amount: string;
  transaction_type: string;
  status: string;
  created_at: string;
  game_type: string | null;
  channel: string | null;
}

export const ARCHETYPES = ['high_roller', 'casual_weekend', 'churned', 'bonus_hunter'] as const;

const hex = (rnd: () => number, n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 16).toString(16)).join('');
const uuid = (rnd: () => number) => `${hex(rnd, 8)}-${hex(rnd, 4)}-4${hex(rnd, 3)}-a${hex(rnd, 3)}-${hex(rnd, 12)}`;
const pick = <T>(rnd: () => number, items: readonly T[]) => items[Math.floor(rnd() * items.length)];
const local = (d: Date) => d.toISOString().slice(0, 19).replace('T', ' ');

export function generateCrmTransactions(options: { users: number; transactions: number; seed: number; asOf: Date; badRows?: boolean }): TransactionRow[] {
  const rnd = seededRandom(options.seed);
  const rows: TransactionRow[] = [];
  const perUser = Math.max(1, Math.floor(options.transactions / options.users));
  for (let u = 0; u < options.users; u++) {
    const archetype = ARCHETYPES[u % ARCHETYPES.length];
    const userId = `U${String(u + 1).padStart(7, '0')}`;
    const n = u === options.users - 1 ? options.transactions - perUser * u : perUser;
    const favorite = archetype === 'high_roller' ? pick(rnd, ['poker', 'esportes']) : archetype === 'casual_weekend' ? 'slots'
      : archetype === 'bonus_hunter' ? 'cassino' : pick(rnd, ['crash', 'slots']);
    const channel = pick(rnd, archetype === 'high_roller' ? ['whatsapp', 'email'] : ['push', 'sms', 'email']);
    for (let i = 0; i < n; i++) {
      const daysAgo = archetype === 'churned' ? 61 + rnd() * 60 : rnd() * 30 * (i === n - 1 ? 0.02 : 1);
      const at = new Date(options.asOf.getTime() - daysAgo * 86400_000);
      if (archetype === 'casual_weekend') at.setUTCDate(at.getUTCDate() - ((at.getUTCDay() + 1) % 7 < 5 ? (at.getUTCDay() + 1) % 7 + 1 : 0));
      if (at > options.asOf) at.setTime(options.asOf.getTime() - 3600_000);
      const hour = archetype === 'high_roller' ? 19 + Math.floor(rnd() * 5) : archetype === 'casual_weekend' ? 12 + Math.floor(rnd() * 6) : Math.floor(rnd() * 24);
      at.setUTCHours(hour, Math.floor(rnd() * 60), Math.floor(rnd() * 60));
      if (at > options.asOf) at.setTime(options.asOf.getTime() - 3600_000);
      const roll = rnd();
      const type = archetype === 'bonus_hunter'
        ? (roll < 0.35 ? 'deposit' : roll < 0.6 ? 'withdrawal' : roll < 0.9 ? 'bet' : 'win')
        : (roll < 0.15 ? 'deposit' : roll < 0.22 ? 'withdrawal' : roll < 0.85 ? 'bet' : 'win');
      const scale = archetype === 'high_roller' ? 400 : archetype === 'bonus_hunter' ? 30 : 20;
      const amount = (scale * (0.5 + rnd() * 1.5) * (type === 'deposit' || type === 'withdrawal' ? 3 : 1)).toFixed(2);
      rows.push({
        transaction_id: uuid(rnd), user_id: userId, amount, transaction_type: type, status: rnd() < 0.03 ? 'pending' : 'completed',
        created_at: local(at), game_type: type === 'bet' || type === 'win' ? (rnd() < 0.7 ? favorite : pick(rnd, ['crash', 'cassino', 'esportes', 'poker', 'slots'])) : null,
        channel,
      });
    }
  }
  if (options.badRows !== false && rows.length >= 20) {
    // A few rows for the quarantine: a negative deposit, a future date, a bad status, repeated transaction ids.
    const bad = Math.max(1, Math.floor(rows.length * 0.002));
    for (let i = 0; i < bad; i++) {
      const base = rows[Math.floor(rnd() * rows.length)];
      rows.push({ ...base, transaction_id: uuid(rnd), transaction_type: 'deposit', amount: '-50.00', game_type: null });
      rows.push({ ...base, transaction_id: uuid(rnd), created_at: local(new Date(options.asOf.getTime() + 30 * 86400_000)) });
      rows.push({ ...base, transaction_id: uuid(rnd), status: 'estornado' });
      rows.push({ ...rows[Math.floor(rnd() * rows.length)] });
    }
  }
  return rows;
}

export const TRANSACTION_COLUMNS = ['transaction_id', 'user_id', 'amount', 'transaction_type', 'status', 'created_at', 'game_type', 'channel'] as const;

export async function createTransactionsTable(source: pg.Pool, table = 'tbl_transactions'): Promise<void> {
  await source.query(`CREATE TABLE IF NOT EXISTS ${quoteIdent(table)} (
    transaction_id   uuid PRIMARY KEY,
    user_id          varchar(50) NOT NULL,
    amount           decimal(10,2) NOT NULL,
    transaction_type varchar(20) NOT NULL,
    status           varchar(20) NOT NULL,
    created_at       timestamp NOT NULL,
    game_type        varchar(20),
    channel          varchar(20))`);
}

const copyValue = (v: string | null) => (v === null ? '\\N' : v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n'));

/** COPY into the source table; rows whose id is already there are skipped (the table's key is the id). */
export async function insertTransactions(source: pg.Pool, table: string, rows: TransactionRow[]): Promise<number> {
  const client = await source.connect();
  try {
    await client.query('CREATE TEMP TABLE IF NOT EXISTS crm_load (LIKE ' + quoteIdent(table) + ' INCLUDING DEFAULTS) ON COMMIT PRESERVE ROWS');
    await client.query('TRUNCATE crm_load');
    const into = client.query(copyFrom('COPY crm_load FROM STDIN'));
    async function* lines() {
      for (let i = 0; i < rows.length; i += 5000) {
        yield rows.slice(i, i + 5000).map((r) => TRANSACTION_COLUMNS.map((c) => copyValue(r[c])).join('\t') + '\n').join('');
      }
    }
    await pipeline(Readable.from(lines()), into);
    const inserted = await client.query(`INSERT INTO ${quoteIdent(table)} SELECT DISTINCT ON (transaction_id) * FROM crm_load ON CONFLICT DO NOTHING`);
    await client.query('DROP TABLE crm_load');
    return Number(inserted.rowCount);
  } finally {
    client.release();
  }
}

const csvField = (v: string | null) => (v === null ? '' : /[",\n;]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
export const toCsv = (rows: TransactionRow[]): Buffer =>
  Buffer.from([TRANSACTION_COLUMNS.join(','), ...rows.map((r) => TRANSACTION_COLUMNS.map((c) => csvField(r[c])).join(','))].join('\n') + '\n');
export const toJsonLines = (rows: TransactionRow[]): Buffer =>
  Buffer.from(rows.map((r) => JSON.stringify({ ...r, amount: Number(r.amount) })).join('\n') + '\n');

/** Transactions as Parquet column data: amount DOUBLE, the rest STRING (created_at as local 'YYYY-MM-DD HH:MM:SS'). */
export const parquetColumnData = (rows: TransactionRow[]) => TRANSACTION_COLUMNS.map((name) => name === 'amount'
  ? { name, data: rows.map((r) => Number(r.amount)), type: 'DOUBLE' as const }
  : { name, data: rows.map((r) => r[name]), type: 'STRING' as const });

/** Parquet in row groups of `rowGroupSize` rows (hyparquet-writer's default: 1,000 rows, then 100,000 per group). */
export async function toParquet(rows: TransactionRow[], rowGroupSize?: number): Promise<Buffer> {
  const { parquetWriteBuffer } = await import('hyparquet-writer');
  return Buffer.from(parquetWriteBuffer({ columnData: parquetColumnData(rows), rowGroupSize }));
}

/** Buffer bodies: the embedded S3 (rclone) refuses aws-chunked streams. */
export async function putLakeFile(s3: S3Client, bucket: string, key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

export interface CrmSampleResult {
  sourceRows: number;
  lakeFiles: { key: string; rows: number }[];
}

/** Half the rows to the source table, the other half in three lake files (Parquet, CSV, JSON lines) under the prefix. */
export async function writeCrmSample(target: { source: pg.Pool; s3: S3Client; bucket: string }, rows: TransactionRow[],
  options: { table?: string; prefix?: string } = {}): Promise<CrmSampleResult> {
  const table = options.table ?? 'tbl_transactions';
  const prefix = options.prefix ?? 'lake/transactions/';
  await createTransactionsTable(target.source, table);
  const half = Math.ceil(rows.length / 2);
  const sourceRows = await insertTransactions(target.source, table, rows.slice(0, half));
  const lake = rows.slice(half);
  const third = Math.ceil(lake.length / 3);
  const parts = [lake.slice(0, third), lake.slice(third, 2 * third), lake.slice(2 * third)];
  const files = [
    { key: `${prefix}part-0001.parquet`, body: await toParquet(parts[0]), rows: parts[0].length },
    { key: `${prefix}part-0002.csv`, body: toCsv(parts[1]), rows: parts[1].length },
    { key: `${prefix}part-0003.json`, body: toJsonLines(parts[2]), rows: parts[2].length },
  ];
  for (const f of files) await putLakeFile(target.s3, target.bucket, f.key, f.body);
  return { sourceRows, lakeFiles: files.map((f) => ({ key: f.key, rows: f.rows })) };
}

/** "Now" for generated transactions: the local wall clock (their timestamps are local), to the hour. */
export function crmSampleAsOf(timeZone: string): Date {
  return new Date(`${localDateTime(new Date(), timeZone).slice(0, 13)}:00:00Z`);
}
