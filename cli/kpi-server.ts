// The read-only KPI endpoint for dashboards (`etl serve`): each KPI materialized view of sales_dw as JSON.
//   GET /kpi                 -> the views and their row counts
//   GET /kpi/<view>?limit=N&offset=M  -> { view, rows: [...] } (limit default 1000, at most 100000)
//   GET /openapi.json        -> the OpenAPI 3.1 description of the above
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';

export const KPI_VIEW_NAMES = ['kpi_revenue', 'kpi_conversion_rate', 'kpi_customer_lifetime_value', 'kpi_churn_rate', 'kpi_seasonality', 'kpi_customer_segments'];

const VIEW_DESCRIPTIONS: Record<string, string> = {
  kpi_revenue: 'revenue, orders, units, discounts and refunded amount by year, month, region, state, category and product',
  kpi_conversion_rate: 'leads and leads converted within 30 days, by lead month and channel',
  kpi_customer_lifetime_value: 'historical lifetime value, orders, average order value, first and last purchase, by customer',
  kpi_churn_rate: 'share of the previous month\'s buyers who did not buy this month, by month',
  kpi_seasonality: 'average revenue of each calendar month and ISO weekday over the average one',
  kpi_customer_segments: 'customers, orders, revenue and their shares by RFM segment and value tier',
};

/** The OpenAPI 3.1 description of the endpoint (served at /openapi.json; Power BI, Tableau and Metabase read it). */
export function kpiOpenApi(serverUrl?: string) {
  const error = { description: 'an error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  return {
    openapi: '3.1.0',
    info: { title: 'sales_dw KPI views', version: '1.0.0', description: 'Read-only: every KPI materialized view of the sales warehouse as JSON. Definitions: docs/pipelines/sales-warehouse.md#kpi-views.' },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    paths: {
      '/kpi': {
        get: {
          operationId: 'listKpiViews', summary: 'The KPI views and their row counts',
          responses: {
            200: { description: 'row count per view', content: { 'application/json': { schema: {
              type: 'object', required: ['views'],
              properties: { views: { type: 'object', properties: Object.fromEntries(KPI_VIEW_NAMES.map((v) => [v, { type: 'integer', description: VIEW_DESCRIPTIONS[v] }])) } },
            } } } },
            500: error,
          },
        },
      },
      '/kpi/{view}': {
        get: {
          operationId: 'readKpiView', summary: 'Rows of one KPI view, ordered by its first three columns',
          parameters: [
            { name: 'view', in: 'path', required: true, schema: { type: 'string', enum: KPI_VIEW_NAMES },
              description: KPI_VIEW_NAMES.map((v) => `${v}: ${VIEW_DESCRIPTIONS[v]}`).join('; ') },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100_000, default: 1000 } },
            { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
          ],
          responses: {
            200: { description: 'the rows, one JSON object per row with the view\'s columns', content: { 'application/json': { schema: {
              type: 'object', required: ['view', 'rows'],
              properties: { view: { type: 'string' }, rows: { type: 'array', items: { type: 'object', additionalProperties: true } } },
            } } } },
            404: { ...error, description: 'no such KPI view' },
            500: error,
          },
        },
      },
    },
    components: { schemas: { Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } } } },
  };
}

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
    if (url.pathname === '/openapi.json') return void send(200, kpiOpenApi(`http://${req.headers.host ?? 'localhost'}`));
    const [, first, view] = url.pathname.split('/');
    if (first !== 'kpi') return void send(404, { error: 'try GET /kpi or GET /openapi.json' });
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
