// The KPI views read aggregates an incremental load moves with its change (sql/sales-warehouse/008_kpi_aggregates.sql).
// This tries to make them drift from the facts: refunds given and taken back, sales moved to another customer and to
// another month, a customer's only sale of a month refunded (churn), new customers, months and leads, a lead whose
// customer buys within 30 days. After each incremental run every KPI view and every customer's segment equals what a
// full rebuild from the same sources computes.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { SalesWarehouseInput, SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { openTestContext, startOptions, uniqueId, type TestContext } from '../helpers/env';
import { LOOSE } from '../helpers/sales-warehouse';

const AS_OF = '2024-06-20';
const KPI_VIEWS = ['kpi_revenue', 'kpi_conversion_rate', 'kpi_customer_lifetime_value', 'kpi_churn_rate', 'kpi_seasonality', 'kpi_customer_segments'];

/** A small deterministic generator (the same dataset on every run). */
function random(seed: number) {
  let s = seed;
  return (n: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.floor((s / 2147483648) * n);
  };
}

describe('salesWarehouse KPI views after incremental loads', () => {
  let ctx: TestContext;
  const table = `kpi_sales_${uniqueId('k').slice(2)}`;
  let sources: SalesWarehouseInput['sources'];
  const dir = mkdtempSync(path.join(tmpdir(), 'sales-kpis-'));
  const writeLeads = (file: string, rows: string[]) => writeFileSync(path.join(dir, file), ['lead_id;lead_date;customer_id;channel', ...rows].join('\n') + '\n');
  const run = (loadStrategy: 'full' | 'incremental') => ctx.client.workflow.execute('salesWarehouse', {
    ...startOptions(ctx, `sales-kpis-${loadStrategy}`), args: [{ sources, loadStrategy, asOf: AS_OF, thresholds: LOOSE }],
  }) as Promise<SalesWarehouseResult>;

  /** Every KPI view and the customers' segments, by natural keys (a full rebuild keeps surrogate keys, but say so plainly). */
  const readKpis = async () => {
    const kpis: Record<string, unknown[]> = {};
    for (const view of KPI_VIEWS) kpis[view] = (await ctx.target.query(`SELECT * FROM sales_dw.${view} ORDER BY 1, 2, 3, 4`)).rows;
    kpis.segments = (await ctx.target.query(`SELECT customer_id, recency_days, frequency, monetary::text, r_score, f_score, m_score, rfm_segment, value_tier
      FROM sales_dw.dim_customer ORDER BY customer_id`)).rows;
    return kpis;
  };
  const source = (sql: string) => ctx.sourceAdmin.query(sql);

  beforeAll(async () => {
    ctx = await openTestContext('sales-kpis');
    await source(`DROP TABLE IF EXISTS ${table}`);
    await source(`CREATE TABLE ${table} (sale_id text PRIMARY KEY, sale_date date, updated_at timestamp, customer_id text, customer_name text,
      product_id text, product_name text, category text, city text, state text, channel text, quantity int, unit_price numeric, discount numeric,
      currency text, status text)`);
    const next = random(7);
    const cities = [['Recife', 'PE'], ['Salvador', 'BA'], ['Curitiba', 'PR'], ['Campinas', 'SP']];
    const sales: string[] = [];
    const c5Days: string[] = [];
    for (let i = 1; i <= 400; i++) {
      const [city, state] = cities[next(4)];
      const day = `2024-0${1 + next(5)}-${String(1 + next(28)).padStart(2, '0')}`;
      const customer = `C${1 + next(40)}`;
      if (customer === 'C5') c5Days.push(day);
      sales.push(`('S${i}', '${day}', '2024-06-01 10:00', '${customer}', 'Cliente ${customer}', 'P${1 + next(6)}', 'Produto', 'Geral', '${city}', '${state}',
        '${['site', 'app', 'loja'][next(3)]}', ${1 + next(3)}, ${10 + next(500)}.${next(100)}, ${next(4)}, 'BRL', '${next(10) === 0 ? 'refunded' : 'completed'}')`);
    }
    await source(`INSERT INTO ${table} VALUES ${sales.join(',\n')}`);
    const leads: string[] = [];
    for (let i = 1; i <= 80; i++) {
      leads.push(`L${i};2024-0${1 + next(5)}-${String(1 + next(28)).padStart(2, '0')};C${1 + next(50)};${['site', 'app'][next(2)]}`);
    }
    // C5 converts (a sale 5 days after the lead) until day 1 refunds all of C5's sales. This file never changes
    // (incremental runs skip it): the conversion must follow the sales alone.
    const lead = new Date(`${c5Days[0]}T00:00:00Z`);
    lead.setUTCDate(lead.getUTCDate() - 5);
    leads.push(`L-C5;${lead.toISOString().slice(0, 10)};C5;site`);
    writeLeads('leads.csv', leads);
    writeLeads('new-leads.csv', []);
    await source(`GRANT SELECT ON ${table} TO etl_reader`);
    sources = [
      { kind: 'database', name: 'erp-kpis', query: `SELECT * FROM ${table}` },
      { kind: 'file', name: 'crm-kpis', dataset: 'leads', location: path.join(dir, 'leads.csv') },
      { kind: 'file', name: 'crm-new-kpis', dataset: 'leads', location: path.join(dir, 'new-leads.csv') },
    ];
  });
  afterAll(async () => {
    await ctx?.sourceAdmin.query(`DROP TABLE IF EXISTS ${table}`);
    await ctx?.close();
  });

  it('equal a full rebuild after refunds, moved sales, churn and new customers, months and leads', async () => {
    const full = await run('full');
    assert.equal(full.rowsLoaded, 400);
    const before = await readKpis();

    // Day 1: refunds given and taken back, sales moved to another customer and to another month, prices changed,
    // a customer's every sale refunded, new sales (a new customer, a new month), new leads.
    await source(`UPDATE ${table} SET status = CASE WHEN status = 'refunded' THEN 'completed' ELSE 'refunded' END, updated_at = '2024-06-30 08:00'
      WHERE sale_id IN ('S3', 'S17', 'S29', 'S41', 'S58', 'S77', 'S90', 'S123', 'S150', 'S201')`);
    await source(`UPDATE ${table} SET customer_id = 'C' || (1 + (substr(sale_id, 2)::int * 7) % 40),
      customer_name = 'Cliente C' || (1 + (substr(sale_id, 2)::int * 7) % 40), updated_at = '2024-06-30 08:00'
      WHERE substr(sale_id, 2)::int % 37 = 0`);
    await source(`UPDATE ${table} SET sale_date = sale_date + 45, updated_at = '2024-06-30 08:00' WHERE substr(sale_id, 2)::int % 41 = 1 AND sale_date < '2024-05-01'`);
    await source(`UPDATE ${table} SET unit_price = unit_price * 2, quantity = quantity + 1, updated_at = '2024-06-30 08:00' WHERE substr(sale_id, 2)::int % 53 = 2`);
    await source(`UPDATE ${table} SET status = 'refunded', updated_at = '2024-06-30 08:00' WHERE customer_id = 'C5'`);
    await source(`INSERT INTO ${table} VALUES
      ('S401', '2024-06-10', '2024-06-30 08:00', 'C99', 'Cliente C99', 'P1', 'Produto', 'Geral', 'Recife', 'PE', 'site', 2, 100, 0, 'BRL', 'completed'),
      ('S402', '2024-06-12', '2024-06-30 08:00', 'C7', 'Cliente C7', 'P2', 'Produto', 'Geral', 'Salvador', 'BA', 'app', 1, 80.5, 0, 'BRL', 'completed'),
      ('S403', '2024-05-20', '2024-06-30 08:00', 'C45', 'Cliente C45', 'P3', 'Produto', 'Geral', 'Curitiba', 'PR', 'loja', 1, 300, 10, 'BRL', 'completed')`);
    writeLeads('new-leads.csv', ['L81;2024-06-01;C99;site', 'L82;2024-05-10;C45;app']);
    const day1 = await run('incremental');
    assert.ok(day1.rowsLoaded > 20, `rows loaded: ${day1.rowsLoaded}`);
    assert.equal(day1.sources['crm-kpis'].extracted, 0, 'the unchanged leads file is skipped');
    const afterDay1 = await readKpis();
    for (const view of [...KPI_VIEWS, 'segments']) assert.notDeepEqual(afterDay1[view], before[view], `${view} did not change`);
    await run('full');
    assert.deepEqual(afterDay1, await readKpis());

    // Days 2 and 3, one incremental run on the other: some of day 1 undone, a sale moved back into a month its
    // customer had left, a sale moved to a customer who had none.
    await source(`UPDATE ${table} SET status = 'completed', updated_at = '2024-06-30 09:00' WHERE sale_id IN ('S3', 'S17') OR customer_id = 'C5'`);
    await source(`UPDATE ${table} SET sale_date = sale_date - 45, updated_at = '2024-06-30 09:00' WHERE substr(sale_id, 2)::int % 82 = 1`);
    await run('incremental');
    await source(`UPDATE ${table} SET customer_id = 'C46', customer_name = 'Cliente C46', updated_at = '2024-06-30 10:00' WHERE sale_id IN ('S10', 'S20')`);
    await source(`UPDATE ${table} SET status = 'refunded', updated_at = '2024-06-30 10:00' WHERE sale_id = 'S401'`);
    await run('incremental');
    const afterDay3 = await readKpis();
    await run('full');
    assert.deepEqual(afterDay3, await readKpis());
  });
});
