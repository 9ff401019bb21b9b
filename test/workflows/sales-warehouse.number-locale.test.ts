// Brazilian money without decimals: `R$ 2.500` is 2500 to a Brazilian reader. Each source reads its numbers in its
// locale (pt-BR by default for a `;` file or amounts with R$); `auto` quarantines what it cannot tell apart.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { SalesWarehouseInput, SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { openTestContext, startOptions, type TestContext } from '../helpers/env';
import { LOOSE } from '../helpers/sales-warehouse';

describe('salesWarehouse: the number locale of each source', () => {
  let ctx: TestContext;
  let result: SalesWarehouseResult;

  beforeAll(async () => {
    ctx = await openTestContext('sales-locale');
    const dir = mkdtempSync(path.join(tmpdir(), 'sales-locale-'));
    const file = (name: string, lines: string[]) => {
      writeFileSync(path.join(dir, name), lines.join('\n') + '\n');
      return path.join(dir, name);
    };
    const sources: SalesWarehouseInput['sources'] = [
      { kind: 'file', name: 'br-export', location: file('br.csv', ['sale_id;sale_date;customer_id;product_id;state;channel;quantity;unit_price',
        'L1;2024-03-20;C1;P-1;PE;site;1;R$ 2.500', 'L2;2024-03-20;C1;P-1;PE;site;2;1.234', 'L3;2024-03-20;C1;P-1;PE;site;1;"12,50"']) },
      { kind: 'file', name: 'plain-export', location: file('plain.csv', ['sale_id,sale_date,customer_id,product_id,state,channel,quantity,unit_price',
        'L4,2024-03-20,C1,P-1,PE,site,1,1.234', 'L5,2024-03-20,C1,P-1,PE,site,1,12.50', 'L6,2024-03-20,C1,P-1,PE,site,1,"1.234,56"']) },
      { kind: 'file', name: 'us-export', numberLocale: 'en-US', location: file('us.csv', ['sale_id,sale_date,customer_id,product_id,state,channel,quantity,unit_price',
        'L7,2024-03-20,C1,P-1,PE,site,1,"1,234"', 'L8,2024-03-20,C1,P-1,PE,site,1000,1.234']) },
      // `,`-separated, but its amounts carry R$: Brazilian too, the rows without R$ included.
      { kind: 'file', name: 'reais-export', location: file('reais.csv', ['sale_id,sale_date,customer_id,product_id,state,channel,quantity,unit_price',
        'L9,2024-03-20,C1,P-1,PE,site,1,R$ 2.500', 'LA,2024-03-20,C1,P-1,PE,site,1,1.234']) },
    ];
    result = await ctx.client.workflow.execute('salesWarehouse', {
      ...startOptions(ctx, 'sales-locale'), args: [{ sources, loadStrategy: 'full', asOf: '2024-03-28', thresholds: LOOSE }],
    }) as SalesWarehouseResult;
  });
  afterAll(async () => {
    await ctx?.close();
  });

  it('reads R$ 2.500 and 1.234 as a Brazilian does in a ;-separated export or one whose amounts carry R$, and 1,234 as an American does in an en-US one', async () => {
    const { rows } = await ctx.target.query(`SELECT sale_id, sales_amount::float AS amount FROM sales_dw.sales_fact ORDER BY sale_id`);
    assert.deepEqual(rows, [
      { sale_id: 'L1', amount: 2500 }, { sale_id: 'L2', amount: 2468 }, { sale_id: 'L3', amount: 12.5 },
      { sale_id: 'L5', amount: 12.5 }, { sale_id: 'L6', amount: 1234.56 },
      { sale_id: 'L7', amount: 1234 }, { sale_id: 'L8', amount: 1234 },
      { sale_id: 'L9', amount: 2500 }, { sale_id: 'LA', amount: 1234 },
    ]);
  });

  it('quarantines a value auto cannot read one way, naming the value and the column', async () => {
    assert.equal(result.sources['plain-export'].quarantined, 1);
    const { rows } = await ctx.target.query(`SELECT row_data->>'sale_id' AS sale_id, reason FROM etl_quarantine
      WHERE source_table = 'plain-export' AND run_id = (SELECT last_run_id FROM sales_etl.load_state)`);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].sale_id, 'L4');
    assert.match(rows[0].reason, /^ambiguous number in unit_price: '1\.234' \(numberLocale auto/);
  });

  it('one parser, its rules in SQL for every pipeline', async () => {
    const { rows: [r] } = await ctx.target.query(`SELECT
      ARRAY[etl_parse_number('R$ 2.500', 'pt-BR'), etl_parse_number('1.234', 'en-US'), etl_parse_number('1,234', 'pt-BR'),
            etl_parse_number('1.234.567', 'auto'), etl_parse_number('0.500', 'auto'), etl_parse_number('-7,5', 'auto'),
            etl_parse_number('US$ 1,234.50', 'auto'), etl_parse_number('1.234', 'auto'), etl_parse_number('abc', 'pt-BR')]::text[] AS v,
      ARRAY[etl_number_ambiguous('1,234', 'auto'), etl_number_ambiguous('1,234', 'pt-BR'), etl_number_ambiguous('12,345', 'auto'), etl_number_ambiguous('0,500', 'auto')] AS amb`);
    assert.deepEqual(r.v, ['2500', '1.234', '1.234', '1234567', '0.500', '-7.5', '1234.50', null, null]);
    assert.deepEqual(r.amb, [true, false, true, false]);
  });
});
