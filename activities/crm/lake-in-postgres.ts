// CSV and JSON-lines lake files parsed by Postgres itself (COPY), not on Node's one thread: the bytes stream into a
// temporary table of the file's own shape, and one INSERT ... SELECT maps it onto the raw staging table. The values
// are those the Node parsers give (trimmed, empty -> null, an unparseable JSON line marked for quarantine), so the
// cleaning that follows cannot tell the two paths apart. A file Postgres refuses (ragged rows, bad UTF-8) goes back
// to the Node parsers, which are more forgiving.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { quoteIdent } from '../../lib/db';

/** SQLSTATE class 22 (data exception): the file, not the server, is the problem. */
export const isRefusedFile = (error: unknown) => /^22/.test(String((error as { code?: unknown }).code ?? ''));

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

export async function copyCsvFile(client: pg.PoolClient, body: Readable, key: string, raw: string, columns: readonly string[]): Promise<number> {
  const { header, rest } = await splitFirstLine(body);
  const delimiter = header.split(';').length > header.split(',').length ? ';' : ',';
  const names = header.split(delimiter).map((name) => name.trim().replace(/^"(.*)"$/, '$1').replace(/""/g, '"'));
  const file = await copyIntoTemp(client, names.map((_, i) => `c${i} text`), `FORMAT csv, DELIMITER ${literal(delimiter)}`, rest);
  try {
    const value = (column: string) => {
      const i = names.indexOf(column);
      return i < 0 ? 'NULL' : `nullif(btrim(c${i}), '')`;
    };
    const inserted = await client.query(`INSERT INTO ${raw} (${columns.join(', ')}, source)
      SELECT ${columns.map(value).join(', ')}, ${literal(key)} FROM ${file}`);
    return Number(inserted.rowCount);
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${file}`);
  }
}

export async function copyJsonLinesFile(client: pg.PoolClient, body: Readable, key: string, raw: string, columns: readonly string[]): Promise<number> {
  // Each line whole into one column: JSON text never holds the raw control characters used as delimiter and quote.
  const file = await copyIntoTemp(client, ['n bigint GENERATED ALWAYS AS IDENTITY', 'line text'], "FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02'", body, '(line)');
  try {
    const field = (column: string) => (column === 'status'
      ? `CASE WHEN j IS NULL THEN 'unparseable line ' || n || ' of ' || ${literal(key)} ELSE nullif(j->>${literal(column)}, '') END`
      : `nullif(j->>${literal(column)}, '')`);
    const inserted = await client.query(`INSERT INTO ${raw} (${columns.join(', ')}, source)
      SELECT ${columns.map(field).join(', ')}, ${literal(key)}
      FROM (SELECT n, CASE WHEN pg_input_is_valid(line, 'jsonb') THEN line::jsonb END AS j FROM ${file} WHERE btrim(line) <> '') l`);
    return Number(inserted.rowCount);
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${file}`);
  }
}

let tempTables = 0;

async function copyIntoTemp(client: pg.PoolClient, columns: string[], options: string, bytes: AsyncIterable<Buffer>, into = ''): Promise<string> {
  const table = quoteIdent(`lake_file_${process.pid}_${++tempTables}`);
  await client.query(`CREATE TEMP TABLE ${table} (${columns.join(', ')})`);
  try {
    await pipeline(Readable.from(bytes), client.query(copyFrom(`COPY ${table} ${into} FROM STDIN WITH (${options})`)));
  } catch (error) {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    throw error;
  }
  return table;
}

/** The first line (without BOM or line end) and the bytes after it, as they stream in. */
async function splitFirstLine(body: Readable): Promise<{ header: string; rest: AsyncIterable<Buffer> }> {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  let end = -1;
  while (end < 0) {
    const { value, done } = await chunks.next();
    if (done) break;
    head = Buffer.concat([head, value]);
    end = head.indexOf(10);
  }
  const header = head.subarray(0, end < 0 ? head.length : end).toString('utf8').replace(/^\uFEFF/, '').replace(/\r$/, '');
  const after = end < 0 ? Buffer.alloc(0) : head.subarray(end + 1);
  async function* rest() {
    if (after.length) yield after;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
  }
  return { header, rest: rest() };
}
