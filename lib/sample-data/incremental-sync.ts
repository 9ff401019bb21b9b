// Synthetic conversation-analytics data, like the source the incrementalSync origin project moved:
// a contact-centre table exported by pandas, with 'NaT' and '' in a text date column and NaN scores.
import pg from 'pg';

const escape = pg.escapeLiteral;

export const DEMO_TABLE = 'public.conversations';

const tableSql = (table: string, closedAtType: string) => `
CREATE TABLE IF NOT EXISTS ${table} (
  id              bigint PRIMARY KEY,
  customer_id     text        NOT NULL,
  channel         text        NOT NULL,
  agent           text,
  status          text        NOT NULL,
  started_at      timestamptz NOT NULL,
  closed_at       ${closedAtType},
  sentiment_score double precision,
  messages        integer     NOT NULL,
  updated_at      timestamptz NOT NULL
)`;

/** On the source, closed_at is text as the pandas export wrote it: a date, '' or 'NaT'. */
export const sourceTableSql = (table = DEMO_TABLE) => `${tableSql(table, 'text')};
CREATE INDEX IF NOT EXISTS ${table.replace(/\W/g, '_')}_updated_at_id ON ${table} (updated_at, id);`;

/** The typed table the analysts query: closed_at is a real timestamp there. */
export const targetTableSql = (table = DEMO_TABLE) => tableSql(table, 'timestamptz');

export interface GenerateOptions {
  table?: string;
  /** First id to create. */
  firstId?: number;
  count: number;
  /** updated_at of the new rows; by default spread over the 30 days before `now()`, deterministic by id. */
  updatedAt?: string;
}

/** Inserts `count` deterministic rows in one set-based statement (a million rows take seconds). */
export async function generateConversations(source: pg.Pool | pg.Client, options: GenerateOptions): Promise<number> {
  const first = options.firstId ?? 1;
  const updatedAt = options.updatedAt
    ? `${escape(options.updatedAt)}::timestamptz`
    : `date_trunc('day', now()) - interval '30 days' + (g % 2592000) * interval '1 second'`;
  const { rowCount } = await source.query(
    `INSERT INTO ${options.table ?? DEMO_TABLE}
     SELECT g,
            'C' || lpad(((g * 7919) % 250000)::text, 6, '0'),
            (ARRAY['whatsapp', 'chat', 'email', 'voz'])[1 + g % 4],
            CASE WHEN g % 9 = 0 THEN NULL ELSE (ARRAY['Ana Souza', 'Bruno Lima', 'Carla Dias', 'Diego Melo', 'Elisa Rocha'])[1 + g % 5] END,
            (ARRAY['closed', 'closed', 'closed', 'open', 'abandoned'])[1 + g % 5],
            started,
            CASE g % 5 WHEN 3 THEN (CASE WHEN g % 2 = 0 THEN 'NaT' ELSE '' END)
                       WHEN 4 THEN NULL
                       ELSE to_char(started + (g % 3600) * interval '1 second', 'YYYY-MM-DD HH24:MI:SS') END,
            CASE WHEN g % 13 = 0 THEN 'NaN'::float8 ELSE round(((g * 37 % 200) - 100) / 100.0, 2) END,
            1 + g % 40,
            ${updatedAt}
       FROM generate_series($1::bigint, $2::bigint) AS g,
            LATERAL (SELECT date_trunc('day', now()) - interval '45 days' + (g % 3888000) * interval '1 second' AS started) s
     ON CONFLICT (id) DO NOTHING`,
    [first, first + options.count - 1],
  );
  return rowCount ?? 0;
}

/** Changes `count` existing rows (every `step`-th id): new message count and status, updated_at = `at`. */
export async function touchConversations(
  source: pg.Pool | pg.Client, count: number, at = 'now()', step = 1, table = DEMO_TABLE,
): Promise<number> {
  const { rowCount } = await source.query(
    `UPDATE ${table} SET messages = messages + 1, status = 'closed', updated_at = ${at === 'now()' ? 'now()' : `${escape(at)}::timestamptz`}
      WHERE id IN (SELECT id FROM ${table} WHERE id % $2 = 0 ORDER BY id LIMIT $1)`,
    [count, step],
  );
  return rowCount ?? 0;
}

/** Creates the demo's source and target tables and fills the source with `count` conversations. */
export async function seedConversations(source: pg.Pool, target: pg.Pool, count: number, table = DEMO_TABLE): Promise<number> {
  await source.query(sourceTableSql(table));
  await target.query(targetTableSql(table));
  return generateConversations(source, { count, table });
}
