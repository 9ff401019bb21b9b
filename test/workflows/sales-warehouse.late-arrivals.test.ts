// Incremental loads and rows without updated_at: a sale that arrives late, dated before the watermark, still loads
// (its sale_id was never in the warehouse); a row quarantined before is not quarantined again; sales and leads are
// counted apart in the result.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { SalesWarehouseInput, SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { openTestContext, startOptions, type TestContext } from '../helpers/env';
import { LOOSE } from '../helpers/sales-warehouse';

const HEADER = 'sale_id;sale_date;customer_id;product_id;city;state;channel;quantity;unit_price';

describe('salesWarehouse incremental: late-arriving sales without updated_at', () => {
  let ctx: TestContext;
  let dir: string;
  const run = (loadStrategy: 'full' | 'incremental') => {
    const sources: SalesWarehouseInput['sources'] = [
      { kind: 'file', name: 'late-sales', location: path.join(dir, 'vendas.csv') },
      { kind: 'file', name: 'late-leads', dataset: 'leads', location: path.join(dir, 'leads.csv') },
    ];
    return ctx.client.workflow.execute('salesWarehouse', {
      ...startOptions(ctx, `sales-late-${loadStrategy}`), args: [{ sources, loadStrategy, asOf: '2024-03-28', thresholds: LOOSE }],
    }) as Promise<SalesWarehouseResult>;
  };
  const writeSales = (rows: string[]) => writeFileSync(path.join(dir, 'vendas.csv'), [HEADER, ...rows].join('\n') + '\n');

  beforeAll(async () => {
    ctx = await openTestContext('sales-late');
    dir = mkdtempSync(path.join(tmpdir(), 'sales-late-'));
    writeFileSync(path.join(dir, 'leads.csv'), 'lead_id;lead_date;customer_id;channel\nL1;2024-03-01;C1;site\nL2;2024-03-02;C2;pombo-correio\n');
  });
  afterAll(async () => {
    await ctx?.close();
  });

  it('loads a sale dated before the watermark that the warehouse never held, and reports sales and leads apart', async () => {
    writeSales(['S1;2024-03-20;C1;P-1;Recife;PE;site;1;100', 'S2;2024-03-05;C2;P-1;Recife;XX;site;1;100']);
    const full = await run('full');
    assert.equal(full.watermark, '2024-03-20T00:00:00');
    assert.deepEqual(full.byDataset, {
      sales: { rowsExtracted: 2, rowsQuarantined: 1, rowsLoaded: 1 },
      leads: { rowsExtracted: 2, rowsQuarantined: 1, rowsLoaded: 1 },
    });

    // S3 arrives late (an export that came in a week after), dated before the watermark, with no updated_at.
    writeSales(['S1;2024-03-20;C1;P-1;Recife;PE;site;1;100', 'S2;2024-03-05;C2;P-1;Recife;XX;site;1;100', 'S3;2024-03-10;C3;P-1;Recife;PE;app;2;50']);
    const inc = await run('incremental');
    const { rows } = await ctx.target.query<{ sale_id: string }>('SELECT sale_id FROM sales_dw.sales_fact ORDER BY sale_id');
    assert.deepEqual(rows.map((r) => r.sale_id), ['S1', 'S3']);
    // S1 shares the watermark's day (merged again, harmlessly); S3 is new; S2 was quarantined by the first run and has
    // not changed since: it is not quarantined again.
    assert.deepEqual(inc.byDataset.sales, { rowsExtracted: 3, rowsQuarantined: 0, rowsLoaded: 2 });
    assert.equal(inc.rowsUnchanged, 1);
    assert.equal(inc.watermark, '2024-03-20T00:00:00');
  });
});
