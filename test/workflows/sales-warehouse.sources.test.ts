// The source shapes the hand-checked run does not use: REST offset and cursor pagination, and a CSV separated by
// commas with quoted fields that hold commas themselves.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { SalesWarehouseInput, SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { startSalesApi, type SalesApi } from '../../lib/sample-data/sales-warehouse-api';
import { openTestContext, startOptions, type TestContext } from '../helpers/env';
import { apiSales, AS_OF, LOOSE } from '../helpers/sales-warehouse';

const columns = { sale_id: 'id', sale_date: 'date', customer_id: 'customer.id', customer_name: 'customer.name', product_id: 'sku', product_name: 'product' };
const renumbered = (from: number) => apiSales.map((sale, i) => ({ ...sale, id: `S${from + i}` }));

const commaCsv = [
  'sale_id,sale_date,customer_id,customer_name,product_id,product_name,category,city,state,channel,quantity,unit_price,currency',
  'S31,12/03/2024,C7,"Souza, Ana",P-002,"Camiseta, azul",Moda,Niterói,RJ,site,1,"R$ 1.234,56",BRL',
  'S32,2024-03-13,C8,Ana Souza,P-009,"Camiseta ""Básica""",Moda,Niterói,RJ,site,2,10.50,BRL',
].join('\n') + '\n';

describe('salesWarehouse sources: REST offset and cursor pages, a comma-separated CSV', () => {
  let ctx: TestContext;
  let byOffset: SalesApi;
  let byCursor: SalesApi;
  let result: SalesWarehouseResult;

  beforeAll(async () => {
    ctx = await openTestContext('sales-sources');
    byOffset = await startSalesApi(renumbered(11));
    byCursor = await startSalesApi(renumbered(21));
    const csv = path.join(mkdtempSync(path.join(tmpdir(), 'sales-sources-')), 'vendas.csv');
    writeFileSync(csv, commaCsv);
    const sources: SalesWarehouseInput['sources'] = [
      { kind: 'rest', name: 'by-offset', url: byOffset.url, pagination: 'offset', pageSize: 2, columns },
      { kind: 'rest', name: 'by-cursor', url: byCursor.url, pagination: 'cursor', pageSize: 2, columns },
      { kind: 'file', name: 'comma-csv', location: csv },
    ];
    result = await ctx.client.workflow.execute('salesWarehouse', {
      ...startOptions(ctx, 'sales-sources'), args: [{ sources, asOf: AS_OF, thresholds: LOOSE, loadStrategy: 'full' }],
    }) as SalesWarehouseResult;
  });
  afterAll(async () => {
    await Promise.all([byOffset?.close(), byCursor?.close()]);
    await ctx?.close();
  });

  it('reads every page, whichever way the API pages', () => {
    assert.deepEqual([result.sources['by-offset'].loaded, result.sources['by-cursor'].loaded], [3, 3]);
    // 2 + 1 items: the short page ends the offset paging; a null next_cursor ends the cursor paging.
    assert.deepEqual([byOffset.requests(), byCursor.requests()], [2, 2]);
  });

  it('keeps quoted commas and quotes inside a field of a comma-separated CSV', async () => {
    const { rows } = await ctx.target.query(`SELECT f.sale_id, c.customer_name, p.product_name, f.sales_amount::float AS amount, f.sale_date::text AS date
      FROM sales_dw.sales_fact f JOIN sales_dw.dim_customer c USING (customer_key) JOIN sales_dw.dim_product p USING (product_key)
      WHERE f.source = 'comma-csv' ORDER BY f.sale_id`);
    assert.deepEqual(rows, [
      { sale_id: 'S31', customer_name: 'Souza, Ana', product_name: 'Camiseta, azul', amount: 1234.56, date: '2024-03-12' },
      { sale_id: 'S32', customer_name: 'Ana Souza', product_name: 'Camiseta "Básica"', amount: 21, date: '2024-03-13' },
    ]);
  });
});
