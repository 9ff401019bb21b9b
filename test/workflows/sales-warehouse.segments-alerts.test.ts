// salesWarehouse's extras for BI: customer segmentation (RFM and value tier, hand-computed), the KPI view by segment,
// anomaly alerts POSTed to a local webhook (and a webhook that is down, which never fails the run), the read-only
// bi_reader role across a full load's swap, and the KPI endpoint's OpenAPI description.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import pg from 'pg';
import { startKpiServer } from '../../cli/kpi-server';
import type { SalesWarehouseInput, SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { openTestContext, settings, startOptions, type TestContext } from '../helpers/env';
import { LOOSE } from '../helpers/sales-warehouse';

const COLUMNS = 'sale_id, sale_date, customer_id, customer_name, product_id, product_name, category, city, state, channel, quantity, unit_price, status';
/** A database source over literal rows: [sale id, date, customer, unit price, status?]. */
const source = (rows: [string, string, string, number, string?][]) => ({
  kind: 'database' as const, name: 'erp',
  query: `SELECT * FROM (VALUES ${rows.map(([id, date, customer, price, status]) =>
    `('${id}', '${date}', '${customer}', 'Cliente ${customer}', 'P1', 'Produto', 'casa', 'Recife', 'PE', 'site', 1, ${price}, '${status ?? 'pago'}')`).join(', ')}) v(${COLUMNS})`,
});

describe('salesWarehouse segments, alerts and BI access', () => {
  let ctx: TestContext;
  let webhook: Server;
  let webhookUrl: string;
  let webhookStatus = 503;
  const posts: { anomalies: { day: string; kpi: string; value: number; median: number; direction: string }[] }[] = [];
  const run = (input: SalesWarehouseInput) => ctx.client.workflow.execute('salesWarehouse', {
    ...startOptions(ctx, 'sales-bi'), args: [{ thresholds: LOOSE, ...input }],
  }) as Promise<SalesWarehouseResult>;
  const q = async (sql: string) => (await ctx.target.query(sql)).rows;

  beforeAll(async () => {
    ctx = await openTestContext('sales-bi');
    webhook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        if (webhookStatus === 200) posts.push(JSON.parse(body));
        res.writeHead(webhookStatus).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hooks/sales`;
  });
  afterAll(async () => {
    delete process.env.ALERT_WEBHOOK_URL;
    await new Promise((resolve) => webhook?.close(resolve));
    await ctx?.close();
  });

  it('segments every customer by RFM and value tier, recomputed in place at each load, with a KPI view by segment', async () => {
    const sales: [string, string, string, number, string?][] = [
      ['K1a', '2024-06-01', 'K1', 500], ['K1b', '2024-05-20', 'K1', 500], ['K1c', '2024-05-01', 'K1', 500], ['K1d', '2024-04-10', 'K1', 500],
      ['K2a', '2024-06-02', 'K2', 100], ['K2b', '2024-05-25', 'K2', 100],
      ['K3a', '2024-06-03', 'K3', 50],
      ['K4a', '2024-03-01', 'K4', 400], ['K4b', '2024-02-15', 'K4', 400], ['K4c', '2024-02-01', 'K4', 400],
      ['K5a', '2024-01-10', 'K5', 3000],
      ['K6a', '2024-01-05', 'K6', 20],
      ['K7a', '2024-05-01', 'K7', 900, 'refunded'],
    ];
    // A full load keeps the dimension members other test files' runs left (their keys stay stable): start without them.
    await ctx.target.query('TRUNCATE sales_dw.dim_customer');
    const first = await run({ loadStrategy: 'full', asOf: '2024-06-04', sources: [source(sales)] });
    assert.equal(first.customersResegmented, 7);
    // Hand-computed: score = min(5, 1 + floor(5 * percent_rank)) over the six customers who bought (README).
    assert.deepEqual(await q(`SELECT customer_id, recency_days, frequency, monetary::float, r_score, f_score, m_score, rfm_segment, value_tier,
        to_char(segmented_as_of, 'YYYY-MM-DD') AS as_of FROM sales_dw.dim_customer ORDER BY customer_id`), [
      { customer_id: 'K1', recency_days: 3, frequency: 4, monetary: 2000, r_score: 4, f_score: 5, m_score: 5, rfm_segment: 'champions', value_tier: 'high', as_of: '2024-06-04' },
      { customer_id: 'K2', recency_days: 2, frequency: 2, monetary: 200, r_score: 5, f_score: 4, m_score: 3, rfm_segment: 'loyal', value_tier: 'low', as_of: '2024-06-04' },
      { customer_id: 'K3', recency_days: 1, frequency: 1, monetary: 50, r_score: 5, f_score: 1, m_score: 2, rfm_segment: 'new', value_tier: 'low', as_of: '2024-06-04' },
      { customer_id: 'K4', recency_days: 95, frequency: 3, monetary: 1200, r_score: 3, f_score: 5, m_score: 4, rfm_segment: 'loyal', value_tier: 'medium', as_of: '2024-06-04' },
      { customer_id: 'K5', recency_days: 146, frequency: 1, monetary: 3000, r_score: 2, f_score: 1, m_score: 5, rfm_segment: 'cannot_lose', value_tier: 'high', as_of: '2024-06-04' },
      { customer_id: 'K6', recency_days: 151, frequency: 1, monetary: 20, r_score: 1, f_score: 1, m_score: 1, rfm_segment: 'lost', value_tier: 'low', as_of: '2024-06-04' },
      { customer_id: 'K7', recency_days: null, frequency: 0, monetary: 0, r_score: null, f_score: null, m_score: null, rfm_segment: 'no_purchase', value_tier: 'none', as_of: '2024-06-04' },
    ]);
    assert.deepEqual(await q(`SELECT rfm_segment, value_tier, customers::int, orders::int, revenue::float, revenue_share::float
        FROM sales_dw.kpi_customer_segments ORDER BY 1, 2`), [
      { rfm_segment: 'cannot_lose', value_tier: 'high', customers: 1, orders: 1, revenue: 3000, revenue_share: 0.4637 },
      { rfm_segment: 'champions', value_tier: 'high', customers: 1, orders: 4, revenue: 2000, revenue_share: 0.3091 },
      { rfm_segment: 'lost', value_tier: 'low', customers: 1, orders: 1, revenue: 20, revenue_share: 0.0031 },
      { rfm_segment: 'loyal', value_tier: 'low', customers: 1, orders: 2, revenue: 200, revenue_share: 0.0309 },
      { rfm_segment: 'loyal', value_tier: 'medium', customers: 1, orders: 3, revenue: 1200, revenue_share: 0.1855 },
      { rfm_segment: 'new', value_tier: 'low', customers: 1, orders: 1, revenue: 50, revenue_share: 0.0077 },
      { rfm_segment: 'no_purchase', value_tier: 'none', customers: 1, orders: 0, revenue: 0, revenue_share: 0 },
    ]);

    // An incremental load a month later, K6 back with a purchase: recomputed in place (type 1, same key), view refreshed.
    const [{ customer_key: k6Key }] = await q(`SELECT customer_key FROM sales_dw.dim_customer WHERE customer_id = 'K6'`);
    const later = await run({ asOf: '2024-07-04', sources: [source([...sales, ['K6b', '2024-07-01', 'K6', 20]])] });
    assert.equal(later.rowsLoaded, 2, 'the new sale, and K3a again (the watermark is inclusive)');
    assert.equal(later.customersResegmented, 7, 'every customer aged a month');
    assert.deepEqual(await q(`SELECT customer_key, recency_days, frequency, rfm_segment FROM sales_dw.dim_customer WHERE customer_id = 'K6'`),
      [{ customer_key: k6Key, recency_days: 3, frequency: 2, rfm_segment: 'potential_loyalist' }]);
    assert.equal((await q(`SELECT count(*)::int AS n FROM sales_dw.kpi_customer_segments WHERE rfm_segment = 'lost'`))[0].n, 0);
  });

  it('an anomalous day goes to sales_etl.anomalies and to the webhook; a webhook that is down never fails the run', async () => {
    // Eight Mondays of ten sales, revenue 1000 give or take (median 1000, MAD 30); then a Monday of ten sales at 500.
    const deltas = [0, 40, -40, 20, -20, 0, 60, -60];
    const rows: [string, string, string, number][] = [];
    deltas.forEach((delta, week) => {
      const day = new Date(Date.UTC(2024, 5, 3) - (week + 1) * 7 * 86400_000).toISOString().slice(0, 10);
      for (let i = 0; i < 10; i++) rows.push([`A${week}-${i}`, day, `A${i}`, i === 0 ? 100 + delta : 100]);
    });
    for (let i = 0; i < 10; i++) rows.push([`M-${i}`, '2024-06-03', `A${i}`, 500]);
    // Anomalies other runs left unsent (this database is shared) would go out with these.
    await ctx.target.query(`DELETE FROM sales_etl.anomalies WHERE day = '2024-06-03' OR notified_at IS NULL`);
    process.env.ALERT_WEBHOOK_URL = webhookUrl;

    webhookStatus = 503;
    const down = await run({ loadStrategy: 'full', asOf: '2024-06-04', sources: [source(rows)] });
    assert.equal(down.rowsLoaded, 90);
    assert.deepEqual({ ...down.alerts, error: undefined }, { day: '2024-06-03', checked: 4, found: 2, notified: 0, error: undefined });
    assert.match(down.alerts!.error!, /POST http:\/\/127\.0\.0\.1:\d+ failed: the webhook answered 503/);
    assert.deepEqual(await q(`SELECT kpi, value::float, median::float, mad::float, robust_z::float, direction, history::float[], notified_at IS NULL AS unsent,
        notify_error IS NOT NULL AS has_error FROM sales_etl.anomalies WHERE day = '2024-06-03' ORDER BY kpi`), [
      { kpi: 'average_ticket', value: 500, median: 100, mad: 3, robust_z: 89.93, direction: 'up', history: [100, 104, 96, 102, 98, 100, 106, 94], unsent: true, has_error: true },
      { kpi: 'revenue', value: 5000, median: 1000, mad: 30, robust_z: 89.93, direction: 'up', history: [1000, 1040, 960, 1020, 980, 1000, 1060, 940], unsent: true, has_error: true },
    ]);

    // The next load (nothing new) sends what the webhook missed, once.
    webhookStatus = 200;
    const up = await run({ asOf: '2024-06-04', sources: [source(rows)] });
    assert.deepEqual(up.alerts, { day: '2024-06-03', checked: 4, found: 2, notified: 2 });
    assert.equal(posts.length, 1);
    assert.deepEqual(posts[0].anomalies.map((a) => [a.day, a.kpi, a.value, a.median, a.direction]),
      [['2024-06-03', 'average_ticket', 500, 100, 'up'], ['2024-06-03', 'revenue', 5000, 1000, 'up']]);
    assert.equal((await q(`SELECT count(*)::int AS n FROM sales_etl.anomalies WHERE day = '2024-06-03' AND notified_at IS NOT NULL AND notify_error IS NULL`))[0].n, 2);
    const again = await run({ asOf: '2024-06-04', sources: [source(rows)] });
    assert.equal(again.alerts?.notified, 0);
    assert.equal(posts.length, 1);
  });

  it('bi_reader reads sales_dw and its KPI views, after a full load\'s swap too, and nothing else', async () => {
    await ctx.target.query(`ALTER ROLE bi_reader LOGIN PASSWORD 'bi-test'`);
    const url = new URL(settings.postgres.databaseUrl);
    url.username = 'bi_reader';
    url.password = 'bi-test';
    const bi = new pg.Client({ connectionString: url.toString() });
    await bi.connect();
    try {
      assert.ok((await bi.query('SELECT count(*) FROM sales_dw.sales_fact')).rows[0].count > 0);
      assert.ok((await bi.query('SELECT * FROM sales_dw.kpi_customer_segments')).rowCount! > 0);
      await assert.rejects(bi.query('SELECT * FROM sales_etl.quality_reports'), /permission denied for schema sales_etl/);
      await assert.rejects(bi.query('SELECT * FROM etl_migrations'), /permission denied for table etl_migrations/);
      await assert.rejects(bi.query(`UPDATE sales_dw.dim_customer SET customer_name = 'x'`), /cannot execute UPDATE in a read-only transaction/);
      await assert.rejects(bi.query('BEGIN READ WRITE; UPDATE sales_dw.dim_customer SET customer_name = NULL'), /permission denied for table dim_customer/);
    } finally {
      await bi.end();
    }
  });

  it('the KPI endpoint describes itself in OpenAPI 3.1', async () => {
    const server = await startKpiServer(ctx.target);
    try {
      const spec = JSON.parse(await (await fetch(`${server.url}/openapi.json`)).text());
      assert.equal(spec.openapi, '3.1.0');
      assert.equal(spec.servers[0].url, server.url);
      assert.deepEqual(Object.keys(spec.paths), ['/kpi', '/kpi/{view}']);
      const views: string[] = spec.paths['/kpi/{view}'].get.parameters[0].schema.enum;
      assert.ok(views.includes('kpi_customer_segments'));
      // Every view the description names is one the endpoint serves.
      for (const view of views) assert.equal((await fetch(`${server.url}/kpi/${view}?limit=1`)).status, 200, view);
    } finally {
      await server.close();
    }
  });
});
