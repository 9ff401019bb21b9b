// The read-only KPI endpoint for dashboards (`etl serve`): each KPI materialized view of sales_dw as JSON.
//   GET /kpi                 -> the views and their row counts
//   GET /kpi/<view>?limit=N&offset=M  -> { view, rows: [...] } (limit default 1000, at most 100000)
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';

export const KPI_VIEW_NAMES = ['kpi_revenue', 'kpi_conversion_rate', 'kpi_customer_lifetime_value', 'kpi_churn_rate', 'kpi_seasonality'];

export interface KpiServer {
  url: string;
  close(): Promise<void>;
}

async function readOnly<T>(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN READ ONLY');
    const { rows } = await client.query<{ j: T }>(sql, params);
    await client.query('COMMIT');
    return rows[0].j;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export async function startKpiServer(pool: pg.Pool, port = 0, host = '127.0.0.1'): Promise<KpiServer> {
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*' })
      .end(JSON.stringify(body));
    if (req.method !== 'GET') return void send(405, { error: 'read-only: GET only' });
    const url = new URL(req.url ?? '/', 'http://localhost');
    const [, first, view] = url.pathname.split('/');
    if (first !== 'kpi') return void send(404, { error: 'try GET /kpi' });
    const work = !view
      ? readOnly(pool, `SELECT json_build_object(${KPI_VIEW_NAMES.map((v) => `'${v}', (SELECT count(*) FROM sales_dw.${v})`).join(', ')}) AS j`)
        .then((counts) => send(200, { views: counts }))
      : KPI_VIEW_NAMES.includes(view)
        ? readOnly(pool, `SELECT coalesce(json_agg(v), '[]') AS j FROM (SELECT * FROM sales_dw.${view} ORDER BY 1, 2, 3 LIMIT $1 OFFSET $2) v`,
          [Math.min(Math.max(Number(url.searchParams.get('limit') ?? 1000) || 1000, 1), 100_000), Math.max(Number(url.searchParams.get('offset') ?? 0) || 0, 0)])
          .then((rows) => send(200, { view, rows }))
        : Promise.resolve(send(404, { error: `unknown KPI view "${view}"; views: ${KPI_VIEW_NAMES.join(', ')}` }));
    work.catch((error: Error) => send(500, { error: error.message }));
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const { port: bound } = server.address() as AddressInfo;
  return { url: `http://${host}:${bound}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
