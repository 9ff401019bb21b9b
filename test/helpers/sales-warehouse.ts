// A small hand-checked salesWarehouse dataset across all three source kinds (REST API, CSV and XLSX files, a database),
// with one messy format per row and four rows that cannot be fixed. Every expected value is worked out in the test.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import ExcelJS from 'exceljs';
import type pg from 'pg';
import type { SalesWarehouseInput } from '../../lib/contracts/sales-warehouse';

export const AS_OF = '2024-03-28';

/** REST: nested customer, ISO dates, 10% discount, a refund. */
export const apiSales = [
  { id: 'S1', date: '2024-01-15', customer: { id: 'C1', name: ' ana   souza ' }, sku: 'p-001', product: 'Smartphone X', category: 'eletronicos',
    city: 'são paulo', state: 'SP', channel: 'site', quantity: 1, unit_price: 1000, discount: 100, unit_cost: 600, currency: 'BRL', status: 'completed' },
  { id: 'S2', date: '2024-01-20T10:00:00Z', customer: { id: 'C2', name: 'BRUNO LIMA' }, sku: 'P-002', product: 'Camiseta', category: 'Moda',
    city: 'rio de janeiro', state: 'Rio de Janeiro', channel: 'app', quantity: 2, unit_price: 50, discount: '10%', unit_cost: 20, status: 'pago' },
  { id: 'S3', date: '2024-02-03', customer: { id: 'C1', name: 'Ana Souza' }, sku: 'P-002', product: 'Camiseta', category: 'moda',
    city: ' São  Paulo ', state: 'sp', channel: 'Loja', quantity: 3, unit_price: 50, status: 'refunded' },
];

/** CSV with `;`, dd/mm/yyyy, an Excel serial date, R$ money; S2 repeated (the API's copy wins), two bad rows. */
export const csvExport = [
  'sale_id;sale_date;customer_id;customer_name;product_id;product_name;category;city;state;channel;quantity;unit_price;discount;currency;status',
  'S4;05/02/2024;C3;carla dias;P-001;Smartphone X;Eletrônicos;Belo Horizonte;minas gerais;Loja Física;1;"R$ 1.234,56";0;BRL;concluido',
  'S5;45338;C2;Bruno Lima;P-003;Tênis Run;esportes;Rio de Janeiro;RJ;E-commerce;2;R$ 200,00;R$ 20,00;;',
  'S2;20/01/2024;C2;Bruno Lima;P-002;Camiseta;Moda;Rio de Janeiro;RJ;app;9;50,00;0;BRL;pago',
  'S6;31/02/2024;C3;Carla Dias;P-001;Smartphone X;Eletrônicos;Belo Horizonte;MG;loja;1;100;0;BRL;',
  'S7;06/02/2024;C3;Carla Dias;P-001;Smartphone X;Eletrônicos;Belo Horizonte;XX;loja;1;100;0;BRL;',
].join('\r\n') + '\r\n';

/** XLSX: a real date cell, a price in USD; one row with quantity 0. */
export const xlsxRows = [
  ['sale_id', 'sale_date', 'customer_id', 'customer_name', 'product_id', 'product_name', 'category', 'city', 'state', 'channel', 'quantity', 'unit_price', 'currency'],
  ['S8', new Date(Date.UTC(2024, 2, 10)), 'C4', 'Diego Alves', 'P-004', 'Sofá', 'Casa e Decoração', 'curitiba', 'Paraná', 'marketplace', 1, 100, 'USD'],
  ['S9', new Date(Date.UTC(2024, 2, 11)), 'C4', 'Diego Alves', 'P-004', 'Sofá', 'Casa', 'Curitiba', 'PR', 'marketplace', 0, 100, 'BRL'],
];

/** The ERP's table: typed columns, updated_at; one sale in a currency without a rate. */
export async function writeErpTables(sourceAdmin: pg.Pool, table: string, extra: string[] = []) {
  await sourceAdmin.query(`DROP TABLE IF EXISTS ${table}, ${table}_leads`);
  await sourceAdmin.query(`CREATE TABLE ${table} (sale_id text, sale_date date, updated_at timestamp, customer_id text, customer_name text,
    product_id text, product_name text, category text, city text, state text, channel text, quantity int, unit_price numeric, discount numeric,
    unit_cost numeric, currency text)`);
  await sourceAdmin.query(`INSERT INTO ${table} VALUES
    ('S10', '2024-03-20', '2024-03-21 08:00:00', 'C1', 'Ana Souza', 'P-001', 'Smartphone X', 'Eletrônicos', 'Campinas', 'SP', 'B2B', 2, 900.00, 0, 600, 'BRL'),
    ('S11', '2024-03-25', '2024-03-25 09:00:00', 'C5', 'Eva Rocha', 'P-003', 'Tênis Run', 'Esportes', 'Salvador', 'Bahia', 'televendas', 1, 200, 0, NULL, 'GBP')
    ${extra.map((row) => `, ${row}`).join('')}`);
  await sourceAdmin.query(`CREATE TABLE ${table}_leads (lead_id text, lead_date date, customer_id text, channel text)`);
  await sourceAdmin.query(`INSERT INTO ${table}_leads VALUES ('L1', '2024-01-10', 'C1', 'site'), ('L2', '2024-01-12', 'C9', 'site'),
    ('L3', '2024-02-01', 'C3', 'loja'), ('L4', '2024-02-10', 'C1', 'app')`);
  await sourceAdmin.query(`GRANT SELECT ON ${table}, ${table}_leads TO etl_reader`);
}

export async function xlsxBuffer(rows: unknown[][]): Promise<Buffer> {
  const workbook = new ExcelJS.Workbook();
  const sheet = workbook.addWorksheet('vendas');
  for (const row of rows) sheet.addRow(row);
  return Buffer.from(await workbook.xlsx.writeBuffer());
}

/** Writes the files (CSV locally, XLSX to S3) and returns the run's sources. */
export async function handCheckedSources(deps: { s3: S3Client; bucket: string; apiUrl: string; table: string; prefix: string }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'sales-test-'));
  const csv = path.join(dir, 'export.csv');
  writeFileSync(csv, `\uFEFF${csvExport}`);
  await deps.s3.send(new PutObjectCommand({ Bucket: deps.bucket, Key: `${deps.prefix}vendas.xlsx`, Body: await xlsxBuffer(xlsxRows) }));
  const sources: SalesWarehouseInput['sources'] = [
    { kind: 'rest', name: 'api', url: deps.apiUrl, pagination: 'page', pageSize: 2, auth: { header: 'Authorization', env: 'SALES_TEST_API_TOKEN', prefix: 'Bearer ' },
      columns: { sale_id: 'id', sale_date: 'date', customer_id: 'customer.id', customer_name: 'customer.name', product_id: 'sku', product_name: 'product' } },
    { kind: 'file', name: 'exports', location: csv },
    { kind: 'file', name: 'sheets', location: `s3:${deps.prefix}` },
    { kind: 'database', name: 'erp', query: `SELECT * FROM ${deps.table}` },
    { kind: 'database', name: 'crm-leads', dataset: 'leads', query: `SELECT * FROM ${deps.table}_leads` },
  ];
  return sources;
}

/** Thresholds loose enough for a dataset where 4 rows of 15 are bad on purpose. */
export const LOOSE = { completenessMin: 0.5, duplicatesMax: 0.5, referentialMax: 0.5, invalidValuesMax: 0.5, freshnessMaxDays: 30 };

/** The whole warehouse as a reader sees it: facts with their natural and surrogate keys, and every dimension. */
export async function warehouseSnapshot(db: pg.Pool) {
  const rows = async (sql: string) => (await db.query(sql)).rows;
  return {
    facts: await rows(`SELECT sale_id, sale_date::text, date_key, customer_key, product_key, geography_key, channel_key, sales_amount::text,
      quantity, discount_amount::text, profit_margin::text, refunded, source FROM sales_dw.sales_fact ORDER BY sale_id`),
    customers: await rows('SELECT * FROM sales_dw.dim_customer ORDER BY customer_key'),
    products: await rows('SELECT * FROM sales_dw.dim_product ORDER BY product_key'),
    geography: await rows('SELECT * FROM sales_dw.dim_geography ORDER BY geography_key'),
    channels: await rows('SELECT * FROM sales_dw.dim_sales_channel ORDER BY channel_key'),
    revenue: await rows('SELECT * FROM sales_dw.kpi_revenue ORDER BY year, month, state, product_key'),
    schemas: await rows(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'sales_dw%' ORDER BY 1`),
  };
}
