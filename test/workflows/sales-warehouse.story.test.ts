// salesWarehouse end to end on a hand-checked dataset from a REST API, CSV and XLSX files and a database: exact facts
// and dimensions, each messy format, quarantine, the quality gate, incremental after full, merge of a window, new
// partitions, every KPI view against hand-computed values, and the full refresh's swap under a concurrent reader.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { SalesWarehouseInput, SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { startKpiServer } from '../../cli/kpi-server';
import { createS3Client } from '../../lib/io/s3';
import { startSalesApi, type SalesApi } from '../../lib/sample-data/sales-warehouse-api';
import { openTestContext, settings, startOptions, uniqueId, type TestContext } from '../helpers/env';
import { apiSales, AS_OF, handCheckedSources, LOOSE, writeErpTables } from '../helpers/sales-warehouse';

describe('salesWarehouse', () => {
  let ctx: TestContext;
  let api: SalesApi;
  const s3 = createS3Client(settings.s3);
  const p = uniqueId('sw').slice(3);
  const table = `erp_sales_${p}`;
  let sources: SalesWarehouseInput['sources'];
  const run = (input: SalesWarehouseInput) => ctx.client.workflow.execute('salesWarehouse', {
    ...startOptions(ctx, 'sales'), args: [{ sources, asOf: AS_OF, thresholds: LOOSE, ...input }],
  }) as Promise<SalesWarehouseResult>;
  const q = async <T extends Record<string, unknown>>(sql: string) => (await ctx.target.query<T>(sql)).rows;
  const causeChain = (error: unknown): string => error instanceof Error
    ? `${error.constructor.name}: ${error.message}${error.cause ? ` <- ${causeChain(error.cause)}` : ''}` : String(error);
  const facts = () => q(`SELECT f.sale_id, to_char(f.sale_date, 'YYYY-MM-DD') AS date, f.date_key, c.customer_id, c.customer_name, p.product_id, p.category,
      g.region, g.state, g.city, ch.channel_name AS channel, f.sales_amount::float AS amount, f.quantity, f.discount_amount::float AS discount,
      f.profit_margin::float AS margin, f.refunded, f.source
    FROM sales_dw.sales_fact f JOIN sales_dw.dim_customer c USING (customer_key) JOIN sales_dw.dim_product p USING (product_key)
    JOIN sales_dw.dim_geography g USING (geography_key) JOIN sales_dw.dim_sales_channel ch USING (channel_key) ORDER BY f.sale_id`);

  beforeAll(async () => {
    process.env.SALES_TEST_API_TOKEN = 'test-token';
    ctx = await openTestContext('sales');
    api = await startSalesApi(apiSales, { token: 'test-token', rateLimitFirst: 1 });
    await writeErpTables(ctx.sourceAdmin, table);
    sources = await handCheckedSources({ s3, bucket: settings.s3.bucket, apiUrl: api.url, table, prefix: `sales-test/${p}/` });
  });
  afterAll(async () => {
    await api?.close();
    s3.destroy();
    await ctx?.close();
  });

  it('each messy format on its own: dates, money, states, case', async () => {
    const [row] = await q(`SELECT
      ARRAY[sales_etl.parse_date('2024-03-05'), sales_etl.parse_date('2024-03-05T23:10:00Z'), sales_etl.parse_date('05/03/2024'),
            sales_etl.parse_date('5/3/2024'), sales_etl.parse_date('45356'), sales_etl.parse_date('31/02/2024'), sales_etl.parse_date('03-05-2024'),
            sales_etl.parse_date('')]::text[] AS dates,
      ARRAY[sales_etl.parse_money('R$ 1.234,56'), sales_etl.parse_money('1234,56'), sales_etl.parse_money('1,234.56'), sales_etl.parse_money('1234.56'),
            sales_etl.parse_money('US$ 10.00'), sales_etl.parse_money('R$1.234.567'), sales_etl.parse_money('-7,5'), sales_etl.parse_money('abc')]::text[] AS money,
      ARRAY(SELECT uf FROM unnest(ARRAY['SP', 'sp', 'São Paulo', 'SAO PAULO', ' são  paulo ', 'Espirito Santo', 'XX']) WITH ORDINALITY AS x(v, n)
            LEFT JOIN sales_etl.state_aliases a ON a.alias = sales_etl.match_key(v) ORDER BY n)::text[] AS states,
      sales_etl.parse_timestamp('2024-03-05 14:30:00-03') AS ts`);
    assert.deepEqual(row.dates, ['2024-03-05', '2024-03-05', '2024-03-05', '2024-03-05', '2024-03-05', null, null, null]);
    assert.deepEqual(row.money, ['1234.56', '1234.56', '1234.56', '1234.56', '10.00', '1234567', '-7.5', null]);
    assert.deepEqual(row.states, ['SP', 'SP', 'SP', 'SP', 'SP', 'ES', null]);
    assert.deepEqual(row.ts, new Date('2024-03-05T14:30:00Z'));
  });

  it('a quality check over its threshold fails the run before anything is loaded, with the report', async () => {
    const before = await q('SELECT count(*)::int AS n FROM sales_dw.sales_fact');
    const failed = await run({ loadStrategy: 'full', thresholds: { ...LOOSE, invalidValuesMax: 0.05 } }).then(() => undefined, (e: unknown) => e);
    assert.ok(failed instanceof WorkflowFailedError);
    const cause = failed.cause as ApplicationFailure;
    assert.equal(cause.type, 'QualityGateFailed', `the run failed otherwise: ${causeChain(failed)}`);
    // S6 (31/02) and S9 (quantity 0) of 16 raw rows (12 sales, 4 leads).
    assert.match(cause.message, /value_ranges 0\.125 \(threshold <= 0\.05/);
    assert.deepEqual(await q('SELECT count(*)::int AS n FROM sales_dw.sales_fact'), before, 'nothing loaded');
    const [report] = await q<{ passed: boolean; failed: string[] }>(`SELECT passed, report->'failed' AS failed FROM sales_etl.quality_reports
      ORDER BY id DESC LIMIT 1`);
    assert.deepEqual(report, { passed: false, failed: ['value_ranges'] });
  });

  it('full: every source kind, each messy format standardised, bad rows quarantined, exact star schema', async () => {
    const result = await run({ loadStrategy: 'full' });
    assert.deepEqual(Object.fromEntries(Object.entries(result.sources).map(([k, v]) => [k, [v.extracted, v.quarantined, v.loaded]])), {
      api: [3, 0, 3], exports: [5, 2, 2], sheets: [2, 1, 1], erp: [2, 1, 1], 'crm-leads': [4, 0, 4],
    });
    assert.equal(result.duplicatesRemoved, 1);
    assert.equal(result.rowsLoaded, 7);
    assert.equal(result.leadsLoaded, 4);
    assert.equal(result.watermark, '2024-03-21T08:00:00');
    assert.match(result.sources.api.rawKeys[0], /^raw\/api\/\d{4}\/\d{2}\/\d{2}\/[0-9a-f-]+\.jsonl$/);
    for (const key of Object.values(result.sources).flatMap((s) => s.rawKeys)) {
      await s3.send(new HeadObjectCommand({ Bucket: settings.s3.bucket, Key: key }));
    }
    assert.deepEqual(await facts(), [
      { sale_id: 'S1', date: '2024-01-15', date_key: 20240115, customer_id: 'C1', customer_name: 'Ana Souza', product_id: 'P-001', category: 'Eletrônicos',
        region: 'Sudeste', state: 'SP', city: 'São Paulo', channel: 'E-commerce', amount: 900, quantity: 1, discount: 100, margin: 0.3333, refunded: false, source: 'api' },
      { sale_id: 'S10', date: '2024-03-20', date_key: 20240320, customer_id: 'C1', customer_name: 'Ana Souza', product_id: 'P-001', category: 'Eletrônicos',
        region: 'Sudeste', state: 'SP', city: 'Campinas', channel: 'B2B', amount: 1800, quantity: 2, discount: 0, margin: 0.3333, refunded: false, source: 'erp' },
      { sale_id: 'S2', date: '2024-01-20', date_key: 20240120, customer_id: 'C2', customer_name: 'Bruno Lima', product_id: 'P-002', category: 'Moda',
        region: 'Sudeste', state: 'RJ', city: 'Rio de Janeiro', channel: 'App', amount: 90, quantity: 2, discount: 10, margin: 0.5556, refunded: false, source: 'api' },
      { sale_id: 'S3', date: '2024-02-03', date_key: 20240203, customer_id: 'C1', customer_name: 'Ana Souza', product_id: 'P-002', category: 'Moda',
        region: 'Sudeste', state: 'SP', city: 'São Paulo', channel: 'Loja física', amount: 150, quantity: 3, discount: 0, margin: null, refunded: true, source: 'api' },
      { sale_id: 'S4', date: '2024-02-05', date_key: 20240205, customer_id: 'C3', customer_name: 'Carla Dias', product_id: 'P-001', category: 'Eletrônicos',
        region: 'Sudeste', state: 'MG', city: 'Belo Horizonte', channel: 'Loja física', amount: 1234.56, quantity: 1, discount: 0, margin: null, refunded: false, source: 'exports' },
      { sale_id: 'S5', date: '2024-02-16', date_key: 20240216, customer_id: 'C2', customer_name: 'Bruno Lima', product_id: 'P-003', category: 'Esportes',
        region: 'Sudeste', state: 'RJ', city: 'Rio de Janeiro', channel: 'E-commerce', amount: 380, quantity: 2, discount: 20, margin: null, refunded: false, source: 'exports' },
      { sale_id: 'S8', date: '2024-03-10', date_key: 20240310, customer_id: 'C4', customer_name: 'Diego Alves', product_id: 'P-004', category: 'Casa',
        region: 'Sul', state: 'PR', city: 'Curitiba', channel: 'Marketplace', amount: 500, quantity: 1, discount: 0, margin: null, refunded: false, source: 'sheets' },
    ]);
    const quarantine = await q(`SELECT source_table AS source, row_data->>'sale_id' AS sale_id, reason FROM etl_quarantine
      WHERE workflow_id = (SELECT workflow_id FROM sales_etl.quality_reports ORDER BY id DESC LIMIT 1) ORDER BY 2`);
    assert.deepEqual(quarantine, [
      { source: 'erp', sale_id: 'S11', reason: 'unknown currency' }, { source: 'exports', sale_id: 'S6', reason: 'invalid sale_date' },
      { source: 'exports', sale_id: 'S7', reason: 'unknown state' }, { source: 'sheets', sale_id: 'S9', reason: 'invalid quantity' },
    ]);
    assert.deepEqual(await q(`SELECT date_key, weekday_name, is_weekend, is_holiday, holiday_name FROM sales_dw.dim_date
      WHERE date_key IN (20240212, 20240329, 20240330) ORDER BY 1`), [
      { date_key: 20240212, weekday_name: 'segunda-feira', is_weekend: false, is_holiday: true, holiday_name: 'Carnaval' },
      { date_key: 20240329, weekday_name: 'sexta-feira', is_weekend: false, is_holiday: true, holiday_name: 'Sexta-feira Santa' },
      { date_key: 20240330, weekday_name: 'sábado', is_weekend: true, is_holiday: false, holiday_name: null },
    ]);
    assert.deepEqual((await q<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'sales_dw' AND tablename LIKE 'sales_fact_%' ORDER BY 1`))
      .map((r) => r.t), ['sales_fact_y2024m01', 'sales_fact_y2024m02', 'sales_fact_y2024m03']);
  });

  it('every KPI view matches its hand-computed value', async () => {
    assert.deepEqual(await q(`SELECT month, state, product_id, orders::int, revenue::float, refunded_amount::float FROM sales_dw.kpi_revenue ORDER BY month, state, product_id`), [
      { month: 1, state: 'RJ', product_id: 'P-002', orders: 1, revenue: 90, refunded_amount: 0 },
      { month: 1, state: 'SP', product_id: 'P-001', orders: 1, revenue: 900, refunded_amount: 0 },
      { month: 2, state: 'MG', product_id: 'P-001', orders: 1, revenue: 1234.56, refunded_amount: 0 },
      { month: 2, state: 'RJ', product_id: 'P-003', orders: 1, revenue: 380, refunded_amount: 0 },
      { month: 2, state: 'SP', product_id: 'P-002', orders: 0, revenue: 0, refunded_amount: 150 },
      { month: 3, state: 'PR', product_id: 'P-004', orders: 1, revenue: 500, refunded_amount: 0 },
      { month: 3, state: 'SP', product_id: 'P-001', orders: 1, revenue: 1800, refunded_amount: 0 },
    ]);
    assert.deepEqual(await q(`SELECT to_char(month, 'YYYY-MM') AS month, channel_name, leads::int, converted::int, conversion_rate::float
      FROM sales_dw.kpi_conversion_rate ORDER BY 1, 2`), [
      { month: '2024-01', channel_name: 'E-commerce', leads: 2, converted: 1, conversion_rate: 0.5 },
      { month: '2024-02', channel_name: 'App', leads: 1, converted: 0, conversion_rate: 0 },
      { month: '2024-02', channel_name: 'Loja física', leads: 1, converted: 1, conversion_rate: 1 },
    ]);
    assert.deepEqual(await q(`SELECT customer_id, orders::int, lifetime_value::float, average_order_value::float FROM sales_dw.kpi_customer_lifetime_value ORDER BY 1`), [
      { customer_id: 'C1', orders: 2, lifetime_value: 2700, average_order_value: 1350 },
      { customer_id: 'C2', orders: 2, lifetime_value: 470, average_order_value: 235 },
      { customer_id: 'C3', orders: 1, lifetime_value: 1234.56, average_order_value: 1234.56 },
      { customer_id: 'C4', orders: 1, lifetime_value: 500, average_order_value: 500 },
    ]);
    // Jan {C1, C2} -> Feb {C2, C3} (C1 only refunded): 1 of 2 churned; Feb -> Mar {C1, C4}: both churned.
    assert.deepEqual(await q(`SELECT to_char(month, 'YYYY-MM') AS month, customers_previous_month::int AS prev, churned::int, churn_rate::float FROM sales_dw.kpi_churn_rate ORDER BY 1`), [
      { month: '2024-02', prev: 2, churned: 1, churn_rate: 0.5 }, { month: '2024-03', prev: 2, churned: 2, churn_rate: 1 },
    ]);
    // Months: 990, 1614.56, 2300 (mean 1634.8533). Days 2024-01-15..2024-03-20 = 66, 4904.56 in all (74.3115 a day);
    // Saturdays: S2's 90 over 9 Saturdays -> 10 a day; Wednesdays (S10 1800, S3 refunded): 10 Wednesdays -> 180 a day.
    const seasonality = await q<{ kind: string; period: number; index: number }>(`SELECT kind, period, seasonality_index::float AS index FROM sales_dw.kpi_seasonality
      WHERE (kind, period) IN (('month_of_year', 1), ('month_of_year', 3), ('weekday', 3), ('weekday', 6)) ORDER BY 1, 2`);
    assert.deepEqual(seasonality, [
      { kind: 'month_of_year', period: 1, index: 0.6056 }, { kind: 'month_of_year', period: 3, index: 1.4069 },
      { kind: 'weekday', period: 3, index: 2.4222 }, { kind: 'weekday', period: 6, index: 0.1346 },
    ]);
  });

  it('the read-only KPI endpoint serves the views as JSON', async () => {
    const server = await startKpiServer(ctx.target);
    try {
      // Parsed in this file's own context for deepEqual, not by response.json() (test/jest-environment.ts).
      const churn: unknown = JSON.parse(await (await fetch(`${server.url}/kpi/kpi_churn_rate`)).text());
      assert.deepEqual(churn, { view: 'kpi_churn_rate', rows: [
        { month: '2024-02-01', customers_previous_month: 2, churned: 1, churn_rate: 0.5 },
        { month: '2024-03-01', customers_previous_month: 2, churned: 2, churn_rate: 1 },
      ] });
      const list = await (await fetch(`${server.url}/kpi`)).json() as { views: Record<string, number> };
      assert.equal(list.views.kpi_customer_lifetime_value, 4);
      assert.equal((await fetch(`${server.url}/kpi/pg_user`)).status, 404);
      assert.equal((await fetch(`${server.url}/kpi/kpi_revenue`, { method: 'DELETE' })).status, 405);
    } finally {
      await server.close();
    }
  });

  it('incremental after full adds only new data in a new partition; keys stay; merge re-upserts a window', async () => {
    const keys = await q('SELECT customer_id, customer_key FROM sales_dw.dim_customer ORDER BY 1');
    await ctx.sourceAdmin.query(`INSERT INTO ${table} VALUES ('S12', '2024-04-02', '2024-04-02 09:00:00', 'C6', 'Fábio Reis', 'P-001', 'Smartphone X',
      'Eletrônicos', 'Recife', 'PE', 'App', 1, 1000, 0, 600, 'BRL')`);
    const inc = await run({ loadStrategy: 'incremental', asOf: '2024-04-03' });
    // Only what changed is read: the files are skipped (7 rows), the ERP gives its rows from 10 minutes before its newest
    // stamp (S11, S12; S10 is below and unchanged), the API (no updatedSinceParam) and the leads query all their rows.
    // Of the 5 sales rows read, those changed since the watermark are cleaned: S11 is quarantined again, S12 loads.
    assert.equal(inc.rowsLoaded, 1);
    assert.deepEqual([inc.rowsExtracted, inc.rowsUnchanged, inc.rowsQuarantined], [9, 11, 1]);
    assert.equal(inc.partitionsCreated, 1);
    assert.equal(inc.watermark, '2024-04-02T09:00:00');
    assert.deepEqual((await facts()).map((f) => f.sale_id), ['S1', 'S10', 'S12', 'S2', 'S3', 'S4', 'S5', 'S8']);
    const keysAfter = await q('SELECT customer_id, customer_key FROM sales_dw.dim_customer ORDER BY 1');
    assert.deepEqual(keysAfter.filter((k) => keys.some((old) => old.customer_id === k.customer_id)), keys, 'existing surrogate keys unchanged');
    assert.ok(keysAfter.some((k) => k.customer_id === 'C6'), 'the new customer has a key');
    assert.ok(await q(`SELECT 1 FROM pg_tables WHERE schemaname = 'sales_dw' AND tablename = 'sales_fact_y2024m04'`).then((r) => r.length === 1));
    const [{ revenue }] = await q<{ revenue: number }>(`SELECT sum(revenue)::float AS revenue FROM sales_dw.kpi_revenue WHERE month = 4`);
    assert.equal(revenue, 1000, 'KPI views refreshed after the incremental load');

    const merged = await run({ loadStrategy: 'merge', window: { from: '2024-02-01', to: '2024-03-01' }, asOf: '2024-04-03' });
    assert.equal(merged.rowsLoaded, 3);
    assert.equal((await facts()).length, 8);
  });

  it('full refresh: a reader querying throughout sees the old warehouse or the new one, never a half-built one', async () => {
    const state = async () => (await q<{ n: number; total: number; kpi: number }>(`SELECT (SELECT count(*)::int FROM sales_dw.sales_fact) AS n,
      (SELECT sum(sales_amount)::float FROM sales_dw.sales_fact) AS total, (SELECT sum(revenue)::float FROM sales_dw.kpi_revenue) AS kpi`))[0];
    const old = await state();
    await ctx.sourceAdmin.query(`DELETE FROM ${table} WHERE sale_id = 'S12'`);
    const seen = new Set<string>();
    const errors: string[] = [];
    let running = true;
    const reader = (async () => {
      while (running) {
        await state().then((s) => seen.add(JSON.stringify(s)), (e: Error) => errors.push(e.message));
      }
    })();
    const result = await run({ loadStrategy: 'full', asOf: '2024-04-03' });
    running = false;
    await reader;
    const fresh = await state();
    assert.equal(result.rowsLoaded, 7);
    assert.deepEqual(errors, []);
    assert.deepEqual([...seen].sort(), [JSON.stringify(old), JSON.stringify(fresh)].sort());
    assert.deepEqual(fresh, { n: 7, total: 5054.56, kpi: 4904.56 });
  });

  it('full refresh: a report that has read the facts in its transaction reads the same warehouse to its end', async () => {
    const kpi = async (db: { query: typeof ctx.target.query }) =>
      Number((await db.query('SELECT sum(revenue)::float AS kpi FROM sales_dw.kpi_revenue')).rows[0].kpi);
    const report = await ctx.target.connect();
    try {
      await report.query('BEGIN');
      const { rows: [{ n }] } = await report.query('SELECT count(*)::int AS n FROM sales_dw.sales_fact');
      const kpiBefore = await kpi(report);
      await ctx.sourceAdmin.query(`DELETE FROM ${table} WHERE sale_id = 'S10'`);
      const load = run({ loadStrategy: 'full', asOf: '2024-04-03' });
      // The swap locks the old warehouse's tables, so it waits for the report that holds the facts.
      let swapWaiting = false;
      for (let i = 0; i < 600 && !swapWaiting; i++) {
        await sleep(100);
        swapWaiting = (await q<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'sales_dw.sales_fact'::regclass`))[0].n > 0;
      }
      assert.ok(swapWaiting, 'the swap waits for the open report');
      assert.equal(await kpi(report), kpiBefore, 'the report still reads the warehouse it started on');
      await report.query('COMMIT');
      const result = await load;
      assert.equal(result.rowsLoaded, n - 1);
      assert.ok(await kpi(ctx.target) < kpiBefore, 'after the swap, the new warehouse (without S10)');
    } finally {
      report.release();
    }
  });
});
