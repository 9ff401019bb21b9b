import pg from 'pg';

// Numeric and bigint columns come back as text so that no precision is lost on the way through Node.
export function createPool(connectionString: string, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, options: '-c TimeZone=UTC' });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  return pool;
}

/** `work` in one transaction on a connection of the pool: committed when it returns, rolled back when it throws. */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await inTransaction(client, () => work(client));
  } finally {
    client.release();
  }
}

/** `work` in one transaction on a connection the caller holds (and releases); `readOnly` for a source's snapshot. */
export async function inTransaction<T>(client: pg.ClientBase, work: () => Promise<T>, options: { readOnly?: boolean } = {}): Promise<T> {
  await client.query(options.readOnly ? 'BEGIN READ ONLY' : 'BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

export const quoteIdent = (name: string): string => pg.escapeIdentifier(name);
export const quoteLiteral = (value: string): string => pg.escapeLiteral(value);

const NEEDS_ESCAPE = /[\\\t\n\r]/;

/** One COPY text-format value; null, undefined and '' -> \N. Most values need no escaping: tested once, replaced only when needed. */
function copyTextValue(v: unknown): string {
  if (v === null || v === undefined || v === '') return '\\N';
  const s = String(v);
  return NEEDS_ESCAPE.test(s) ? s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : s;
}

/** One COPY text-format line (COPY ... FROM STDIN, default format). */
export const copyTextLine = (values: unknown[]): string => values.map(copyTextValue).join('\t') + '\n';

export interface TableName {
  schema: string;
  table: string;
}

/** Parses `table` or `schema.table` (no quoting tricks: names are plain identifiers). */
export function parseTableName(name: string): TableName {
  const match = /^(?:([A-Za-z_][A-Za-z0-9_$]*)\.)?([A-Za-z_][A-Za-z0-9_$]*)$/.exec(name);
  if (!match) throw new Error(`"${name}" is not a table name: use table or schema.table with letters, digits and _`);
  return { schema: match[1] ?? 'public', table: match[2] };
}

export const qualified = ({ schema, table }: TableName): string => `${quoteIdent(schema)}.${quoteIdent(table)}`;

/** Hides the password in a connection string before it is printed or logged. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@]*@/, '$1:***@');
}
