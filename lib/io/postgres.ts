import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';

/**
 * The connections an activity attempt has checked out of any pool (lib/activity/interceptors.ts opens one set per
 * attempt). When the attempt is cancelled or given up on, `terminate` ends their backends: the statement in flight
 * stops, its transaction rolls back, its locks go, so a cancelled run's cleanup never waits on it and nothing it was
 * writing commits after the run ended.
 */
export class HeldConnections {
  private readonly held = new Map<pg.PoolClient, string>();

  track(client: pg.PoolClient, connectionString: string): void {
    this.held.set(client, connectionString);
    const release = client.release.bind(client);
    client.release = (error?: Error | boolean) => {
      this.held.delete(client);
      return release(error);
    };
  }

  /** Backend ids of the statements this attempt holds, by database URL. */
  backends(): Map<string, number[]> {
    const byUrl = new Map<string, number[]>();
    for (const [client, url] of this.held) {
      const pid = (client as unknown as { processID?: number }).processID;
      if (pid) byUrl.set(url, [...(byUrl.get(url) ?? []), pid]);
    }
    return byUrl;
  }

  /** Ends every backend still held, from a connection of its own (the held ones may be busy or blocked). */
  async terminate(): Promise<void> {
    for (const [url, pids] of this.backends()) {
      const client = createClient(url);
      try {
        await client.connect();
        await client.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  }
}

/** The current activity attempt's connections (none outside an activity). */
export const heldConnections = new AsyncLocalStorage<HeldConnections>();

// Numeric and bigint columns come back as text so that no precision is lost on the way through Node.
export function createPool(connectionString: string, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, options: '-c TimeZone=UTC' });
  // A client losing its server must not crash the process. pg-pool listens on idle clients only; a checked-out
  // client (between two queries, or streaming a COPY) emits 'error' with nobody listening, and Node exits. The
  // query or stream in flight fails on its own and the activity's retry policy takes it from there.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => keepAliveOnError(client));
  // Every checkout inside an activity is tracked for its cancellation (pool.query checks out through this too).
  const connect = pool.connect.bind(pool) as (callback?: (error: Error | undefined, client?: pg.PoolClient, done?: unknown) => void) => Promise<pg.PoolClient> | void;
  pool.connect = ((callback?: (error: Error | undefined, client?: pg.PoolClient, done?: unknown) => void) => {
    const held = heldConnections.getStore();
    if (!held) return connect(callback);
    if (callback) {
      return connect((error, client, done) => {
        if (client) held.track(client, connectionString);
        callback(error, client, done);
      });
    }
    return (connect() as Promise<pg.PoolClient>).then((client) => {
      held.track(client, connectionString);
      return client;
    });
  }) as typeof pool.connect;
  return pool;
}

/** A client whose connection drops reports it to the query in flight, never as an unhandled 'error' event. */
export function keepAliveOnError<C extends pg.ClientBase>(client: C): C {
  client.on('error', () => undefined);
  return client;
}

/** A single connection (not pooled) that cannot crash the process when its server goes away. */
export const createClient = (config: string | pg.ClientConfig): pg.Client => keepAliveOnError(new pg.Client(config));

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

/**
 * `work` with planner settings changed for the statements it runs (SET LOCAL: inside the caller's transaction), then
 * put back: for statements on a run's own tables, whose sizes the planner cannot know or misjudges.
 */
export async function withLocalSettings<T>(client: pg.ClientBase, settings: Record<string, string>, work: () => Promise<T>): Promise<T> {
  const names = Object.keys(settings);
  await client.query(names.map((name) => `SET LOCAL ${name} = ${settings[name]}`).join('; '));
  const result = await work();
  await client.query(names.map((name) => `SET LOCAL ${name} TO DEFAULT`).join('; '));
  return result;
}

/**
 * How long DDL on a run's own staging tables waits for a lock. Only another attempt of the same run can hold one (a
 * failed attempt whose connection lingers): waiting forever would be a deadlock with ourselves, so the statement
 * fails (SQLSTATE 55P03, retried by the policy) and the next attempt finds the lock gone.
 */
export const STAGING_LOCK_TIMEOUT = '15s';

/** A DDL statement on staging (drop, recreate) that gives up after STAGING_LOCK_TIMEOUT instead of waiting forever. */
export async function stagingDdl(pool: pg.Pool, sql: string, params?: unknown[]): Promise<pg.QueryResult> {
  return withTransaction(pool, async (client) => {
    await client.query(`SET LOCAL lock_timeout = '${STAGING_LOCK_TIMEOUT}'`);
    return client.query(sql, params);
  });
}

/**
 * The connections one activity attempt holds. When the attempt fails (one of its parallel copies broke) or is
 * cancelled, every connection still held is closed: a COPY in flight ends with it, and its locks go with it, so the
 * next attempt never waits on the last one.
 */
export class AttemptConnections {
  private readonly held = new Set<pg.PoolClient>();
  private failure: Error | undefined;

  constructor(signal?: AbortSignal) {
    signal?.addEventListener('abort', () => this.abort(new Error('the activity was cancelled')), { once: true });
  }

  async connect(pool: pg.Pool): Promise<pg.PoolClient> {
    if (this.failure) throw this.failure;
    const client = await pool.connect();
    if (this.failure) {
      client.release(this.failure);
      throw this.failure;
    }
    this.held.add(client);
    return client;
  }

  /** Back to the pool after a clean finish; closed when `error` is given (a COPY stopped half-way is mid-protocol). */
  release(client: pg.PoolClient, error?: unknown): void {
    if (this.held.delete(client)) client.release(error instanceof Error ? error : error === undefined ? undefined : true);
  }

  /** Closes every connection still held; later `connect`s fail with `error`. */
  abort(error: Error): void {
    this.failure ??= error;
    for (const client of [...this.held]) this.release(client, error);
  }
}

const LEADING_COMMENTS = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/;

/**
 * Why a query someone wrote (a campaign's SQL file, a source's query) may not be spliced into `COPY (SELECT ... FROM
 * (<sql>))`, or undefined when it is one read-only SELECT. The extended protocol refuses more than one statement, so
 * a text like `...) TO STDOUT; COMMIT; DELETE ...` never runs; EXPLAIN (which plans without running) shows whether
 * it would change data (`DELETE ... RETURNING`, a data-modifying WITH). Errors of the query itself are thrown.
 */
export async function singleSelectProblem(client: pg.ClientBase, sql: string): Promise<string | undefined> {
  const first = /^[A-Za-z]+/.exec(sql.replace(LEADING_COMMENTS, ''))?.[0]?.toUpperCase();
  if (!first || !['SELECT', 'WITH', 'VALUES', 'TABLE'].includes(first)) return `must be a single SELECT (it starts with ${first ?? 'no statement'})`;
  try {
    const { rows } = await client.query({ text: `EXPLAIN (FORMAT JSON) ${sql}`, queryMode: 'extended' } as pg.QueryConfig);
    if (JSON.stringify(rows[0]?.['QUERY PLAN']).includes('"ModifyTable"')) return 'must be a single SELECT (it would change data)';
    return undefined;
  } catch (error) {
    if (/cannot insert multiple commands/.test((error as Error).message)) return 'must be a single SELECT (it holds several statements)';
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
