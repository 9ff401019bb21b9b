// An incremental run reads only what changed, and tries to lose something doing it: an S3 file replaced by one of the
// same size, a local file rewritten in place with its old mtime put back, a database row inserted with an old stamp
// (a late-arriving sale) and a row without one, a REST API read by its updated-since parameter, and a run that fails
// after reading all of it (its reads must not count as done). Then a row updated with an old stamp: incremental keeps
// the loaded version (as the docs say), `full` rebuilds it.
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import type { SalesWarehouseInput, SalesWarehouseResult } from '../../lib/contracts/sales-warehouse';
import { createS3Client } from '../../lib/io/s3';
import { startSalesApi, type SalesApi } from '../../lib/sample-data/sales-warehouse-api';
import { openTestContext, settings, startOptions, uniqueId, type TestContext } from '../helpers/env';
import { LOOSE } from '../helpers/sales-warehouse';

const HEADER = 'sale_id;sale_date;updated_at;customer_id;product_id;city;state;channel;quantity;unit_price';
const row = (id: string, updated: string, price: string) => `${id};2024-03-10;${updated};C1;P-1;Recife;PE;site;1;${price}`;
const csv = (rows: string[]) => [HEADER, ...rows].join('\n') + '\n';

describe('salesWarehouse incremental: only what changed is read, nothing is lost', () => {
  let ctx: TestContext;
  let api: SalesApi;
  const s3 = createS3Client(settings.s3);
  const p = uniqueId('inc').slice(4);
  const table = `erp_inc_${p}`;
  const prefix = `sales-inc/${p}/`;
  const apiItems: Record<string, unknown>[] = [];
  let local: string;
  let sources: SalesWarehouseInput['sources'];
  const run = (loadStrategy: 'full' | 'incremental', thresholds = LOOSE) => ctx.client.workflow.execute('salesWarehouse', {
    ...startOptions(ctx, 'sales-inc'), args: [{ sources, loadStrategy, asOf: '2024-03-28', thresholds }],
  }) as Promise<SalesWarehouseResult>;
  const put = (key: string, body: string) => s3.send(new PutObjectCommand({ Bucket: settings.s3.bucket, Key: `${prefix}${key}`, Body: Buffer.from(body) }));
  const prices = async () => Object.fromEntries((await ctx.target.query<{ sale_id: string; amount: string }>(
    `SELECT sale_id, sales_amount::text AS amount FROM sales_dw.sales_fact WHERE source LIKE '%${p}' ORDER BY sale_id`)).rows.map((r) => [r.sale_id, r.amount]));
  const extracted = (r: SalesWarehouseResult) => Object.fromEntries(Object.entries(r.sources).map(([name, s]) => [name.replace(`-${p}`, ''), s.extracted]));

  beforeAll(async () => {
    ctx = await openTestContext('sales-inc');
    api = await startSalesApi(apiItems);
    const dir = mkdtempSync(path.join(tmpdir(), 'sales-inc-'));
    local = path.join(dir, 'loja.csv');
    sources = [
      { kind: 'file', name: `lake-${p}`, location: `s3:${prefix}` },
      { kind: 'file', name: `local-${p}`, location: local },
      { kind: 'database', name: `erp-${p}`, query: `SELECT * FROM ${table}` },
      { kind: 'rest', name: `api-${p}`, url: api.url, pageSize: 2, updatedSinceParam: 'updated_since',
        columns: { sale_id: 'id', sale_date: 'date', customer_id: 'customer', product_id: 'sku' } },
    ];
  });
  afterAll(async () => {
    await api?.close();
    s3.destroy();
    await ctx?.close();
  });

  it('skips unchanged files, filters the database and the API, and a failed run marks nothing done', async () => {
    await put('a.csv', csv([row('A1', '2024-03-20 10:00:00', '100'), row('A2', '2024-03-20 10:00:00', '100')]));
    await put('b.csv', csv([row('B1', '2024-03-20 10:00:00', '100'), row('B2', '2024-03-20 10:00:00', '100')]));
    writeFileSync(local, csv([row('L1', '2024-03-20 10:00:00', '100')]));
    await ctx.sourceAdmin.query(`CREATE TABLE ${table} (sale_id text, sale_date date, updated_at timestamp, customer_id text, product_id text,
      city text, state text, channel text, quantity int, unit_price numeric)`);
    await ctx.sourceAdmin.query(`INSERT INTO ${table} VALUES ('D1', '2024-03-10', '2024-03-20 10:00:00', 'C1', 'P-1', 'Recife', 'PE', 'site', 1, 100),
      ('D2', '2024-03-10', '2024-03-25 12:00:00', 'C1', 'P-1', 'Recife', 'PE', 'site', 1, 100),
      ('D3', '2024-03-10', NULL, 'C1', 'P-1', 'Recife', 'PE', 'site', 1, 100)`);
    await ctx.sourceAdmin.query(`GRANT SELECT ON ${table} TO etl_reader`);
    const item = (id: string, updated: string, price: number) => ({ id, date: '2024-03-10', updated_at: updated, customer: 'C1', sku: 'P-1',
      city: 'Recife', state: 'PE', channel: 'site', quantity: 1, unit_price: price });
    apiItems.push(item('R1', '2024-03-20T10:00:00', 100), item('R2', '2024-03-24T10:00:00', 100));

    const full = await run('full');
    assert.deepEqual(extracted(full), { lake: 4, local: 1, erp: 3, api: 2 });

    // The day's changes. a.csv replaced by a file of the same size (A1 at 200, newer stamp): a new ETag. The local file
    // rewritten in place, same size, its old mtime put back. D1 changed; D9, a late-arriving sale, inserted with a stamp
    // older than anything loaded. R3 new in the API.
    const aBefore = csv([row('A1', '2024-03-20 10:00:00', '100'), row('A2', '2024-03-20 10:00:00', '100')]);
    const aAfter = csv([row('A1', '2024-03-27 10:00:00', '200'), row('A2', '2024-03-20 10:00:00', '100')]);
    assert.equal(aAfter.length, aBefore.length);
    await put('a.csv', aAfter);
    const { atime, mtime, size } = statSync(local);
    writeFileSync(local, csv([row('L1', '2024-03-27 10:00:00', '300')]));
    utimesSync(local, atime, mtime);
    assert.equal(statSync(local).size, size);
    await ctx.sourceAdmin.query(`UPDATE ${table} SET unit_price = 400, updated_at = '2024-03-27 10:00:00' WHERE sale_id = 'D1'`);
    await ctx.sourceAdmin.query(`INSERT INTO ${table} VALUES ('D9', '2024-03-01', '2024-03-01 08:00:00', 'C1', 'P-1', 'Recife', 'PE', 'site', 1, 900)`);
    apiItems.push(item('R3', '2024-03-27T10:00:00', 500));

    // A run that reads all of it and then fails (its quality gate) loads nothing and records nothing.
    const stateBefore = (await ctx.target.query('SELECT source, state, run_id FROM sales_etl.source_state ORDER BY source')).rows;
    const failed = await run('incremental', { ...LOOSE, freshnessMaxDays: 0 }).then(() => undefined, (error: unknown) => error);
    assert.ok(failed instanceof WorkflowFailedError);
    assert.equal((failed.cause as ApplicationFailure).type, 'QualityGateFailed');
    assert.deepEqual((await ctx.target.query('SELECT source, state, run_id FROM sales_etl.source_state ORDER BY source')).rows, stateBefore);

    // The next run loads every change: b.csv is skipped, the database is read whole (a row appeared below its bound),
    // the API answers only what was updated since the last load (R2 within the overlap, R3).
    const inc = await run('incremental');
    assert.deepEqual(extracted(inc), { lake: 2, local: 1, erp: 4, api: 2 });
    assert.deepEqual(inc.sources[`lake-${p}`].read, { mode: 'changes', filesSkipped: 1 });
    assert.match(inc.sources[`erp-${p}`].read?.why ?? '', /inserted or deleted/);
    assert.deepEqual(await prices(), { A1: '200.00', A2: '100.00', B1: '100.00', B2: '100.00', D1: '400.00', D2: '100.00', D3: '100.00', D9: '900.00',
      L1: '300.00', R1: '100.00', R2: '100.00', R3: '500.00' });

    // Nothing changed: the files are skipped, the database gives only its rows within the overlap and those without a
    // stamp (D1 and D3), the API only R3 (within the overlap). D2 is updated with its old stamp: not a change an
    // incremental run can see (docs: "New and changed rows"); `full` rebuilds it.
    await ctx.sourceAdmin.query(`UPDATE ${table} SET unit_price = 700 WHERE sale_id = 'D2'`);
    const quiet = await run('incremental');
    assert.deepEqual(extracted(quiet), { lake: 0, local: 0, erp: 2, api: 1 });
    assert.deepEqual(quiet.sources[`erp-${p}`].read, { mode: 'changes' });
    assert.equal(quiet.sources[`erp-${p}`].unchanged, 2);
    assert.equal(quiet.quality.passed, true);
    assert.equal((await prices()).D2, '100.00');
    const rebuilt = await run('full');
    assert.deepEqual(extracted(rebuilt), { lake: 4, local: 1, erp: 4, api: 3 });
    assert.equal((await prices()).D2, '700.00');
  });
});
