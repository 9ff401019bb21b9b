// Synthetic Brazilian sales for the demo and the benchmark, generated set-based in Postgres (the same rows for the same
// ids, whatever the machine): regions, states and cities, channels, products with cost, promotions, refunds.
// The ERP part becomes a table on the source database; the e-commerce export a `;` CSV with Brazilian formats
// (dd/mm/yyyy, R$ 1.234,56, state names), the spreadsheet an XLSX, the CRM API a JSON list; leads a CSV.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import ExcelJS from 'exceljs';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';

const CITIES = [['São Paulo', 'SP'], ['Campinas', 'SP'], ['Santos', 'SP'], ['Rio de Janeiro', 'RJ'], ['Niterói', 'RJ'], ['Belo Horizonte', 'MG'],
  ['Uberlândia', 'MG'], ['Vitória', 'ES'], ['Curitiba', 'PR'], ['Londrina', 'PR'], ['Porto Alegre', 'RS'], ['Caxias do Sul', 'RS'],
  ['Florianópolis', 'SC'], ['Joinville', 'SC'], ['Salvador', 'BA'], ['Recife', 'PE'], ['Fortaleza', 'CE'], ['São Luís', 'MA'], ['Natal', 'RN'],
  ['João Pessoa', 'PB'], ['Maceió', 'AL'], ['Aracaju', 'SE'], ['Teresina', 'PI'], ['Brasília', 'DF'], ['Goiânia', 'GO'], ['Campo Grande', 'MS'],
  ['Cuiabá', 'MT'], ['Manaus', 'AM'], ['Belém', 'PA'], ['Porto Velho', 'RO'], ['Palmas', 'TO'], ['Macapá', 'AP'], ['Boa Vista', 'RR'], ['Rio Branco', 'AC']];
const PRODUCTS = [['Smartphone X', 'Eletrônicos', 1899], ['Fone Bluetooth', 'Eletrônicos', 199], ['Smart TV 50', 'Eletrônicos', 2799],
  ['Notebook Pro', 'Informática', 4599], ['Mouse sem fio', 'Informática', 89], ['Monitor 27', 'Informática', 1299], ['Camiseta', 'Moda', 59],
  ['Calça jeans', 'Moda', 149], ['Tênis Run', 'Esportes', 349], ['Bola de futebol', 'Esportes', 119], ['Sofá 3 lugares', 'Casa', 2499],
  ['Jogo de panelas', 'Casa', 399], ['Perfume', 'Beleza', 259], ['Kit skincare', 'Beleza', 179], ['Café especial 1kg', 'Alimentos', 79],
  ['Azeite 500ml', 'Alimentos', 45], ['Lego clássico', 'Brinquedos', 299], ['Boneca', 'Brinquedos', 129]] as const;
const CHANNELS = ['E-commerce', 'Marketplace', 'Loja física', 'App', 'Televendas', 'B2B'];
const PROMOTIONS = ['Black Friday', 'Dia das Mães', 'Natal', 'Frete grátis', 'Cupom 10'];

const arr = (xs: readonly (string | number)[]) => `ARRAY[${xs.map((x) => (typeof x === 'number' ? x : `'${x.replace(/'/g, "''")}'`)).join(', ')}]`;
/** A deterministic number 0 <= h < n from the row id and a salt. */
const h = (salt: string, n: number) => `(abs(hashtext(g::text || '${salt}')) % ${n})`;

/** Canonical sales rows for ids from..to: `prefix-<id>`, sale dates in the `days` days before `asOf` (YYYY-MM-DD), changed the same day. */
export function salesRowsSql(prefix: string, from: number, to: number, asOf: string, days = 365): string {
  return `SELECT '${prefix}-' || g AS sale_id, sd AS sale_date, sd + make_interval(hours => 8 + ${h('u', 12)}) AS updated_at,
      'C' || lpad((1 + ${h('c', 50000)})::text, 6, '0') AS customer_id,
      (${arr(['Ana', 'Bruno', 'Carla', 'Diego', 'Eva', 'Fábio', 'Gabriela', 'Heitor', 'Isabela', 'João', 'Larissa', 'Marcos'])})[1 + ${h('c', 50000)} % 12]
        || ' ' || (${arr(['Silva', 'Souza', 'Oliveira', 'Santos', 'Lima', 'Costa', 'Pereira', 'Almeida', 'Rocha', 'Dias'])})[1 + ${h('c', 50000)} / 12 % 10] AS customer_name,
      'P-' || lpad((1 + p)::text, 3, '0') AS product_id, (${arr(PRODUCTS.map((x) => x[0]))})[1 + p] AS product_name,
      (${arr(PRODUCTS.map((x) => x[1]))})[1 + p] AS category,
      (${arr(CITIES.map((x) => x[0]))})[1 + c] AS city, (${arr(CITIES.map((x) => x[1]))})[1 + c] AS state,
      (${arr(CHANNELS)})[1 + ${h('ch', CHANNELS.length)}] AS channel, 1 + ${h('q', 3)} AS quantity,
      (${arr(PRODUCTS.map((x) => x[2]))})[1 + p]::numeric AS unit_price,
      CASE WHEN ${h('d', 5)} = 0 THEN round((${arr(PRODUCTS.map((x) => x[2]))})[1 + p] * 0.1, 2) ELSE 0 END AS discount,
      round((${arr(PRODUCTS.map((x) => x[2]))})[1 + p] * 0.62, 2) AS unit_cost, 'BRL' AS currency,
      CASE WHEN ${h('r', 40)} = 0 THEN 'refunded' ELSE 'completed' END AS status,
      CASE WHEN ${h('d', 5)} = 0 THEN (${arr(PROMOTIONS)})[1 + ${h('pr', PROMOTIONS.length)}] END AS promotion
    FROM generate_series(${from}, ${to}) g,
      LATERAL (SELECT date '${asOf}' - 1 - ${h('day', days)} AS sd, ${h('p', PRODUCTS.length)} AS p, ${h('city', CITIES.length)} AS c) x`;
}

/** Leads for the conversion rate: some of them from customers who then buy. */
export function leadsSql(from: number, to: number, asOf: string, days = 365): string {
  return `SELECT 'L-' || g AS lead_id, to_char(date '${asOf}' - ${h('day', days)}, 'DD/MM/YYYY') AS lead_date,
      'C' || lpad((1 + ${h('c', 80000)})::text, 6, '0') AS customer_id, (${arr(['site', 'app', 'loja', 'marketplace', 'televendas'])})[1 + ${h('ch', 5)}] AS channel
    FROM generate_series(${from}, ${to}) g`;
}

/** The export's Brazilian formatting of canonical rows, as COPY ... CSV (`;`). One row in 2,000 has an impossible date. */
export const exportCsvSql = (rows: string) => `COPY (SELECT sale_id,
    CASE WHEN split_part(sale_id, '-', 2)::int % 2000 = 7 THEN '31/02/' || extract(year FROM sale_date) WHEN split_part(sale_id, '-', 2)::int % 10 = 3
      THEN (sale_date - date '1899-12-30')::text ELSE to_char(sale_date, 'DD/MM/YYYY') END AS sale_date,
    to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS') AS updated_at, customer_id, upper(customer_name) AS customer_name, product_id, product_name,
    lower(category) AS category, city, CASE WHEN right(sale_id, 1) IN ('1', '5') THEN s.name ELSE state END AS state, lower(channel) AS channel, quantity,
    'R$ ' || replace(replace(replace(to_char(unit_price, 'FM999G999G990D00'), ',', '#'), '.', ','), '#', '.') AS unit_price,
    replace(discount::text, '.', ',') AS discount, replace(unit_cost::text, '.', ',') AS unit_cost, status, promotion
  FROM (${rows}) r JOIN sales_etl.states s ON s.uf = r.state) TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER ';')`;

export async function copyOut(db: pg.Pool, sql: string): Promise<Buffer> {
  const client = await db.connect();
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of client.query(copyTo(sql))) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } finally {
    client.release();
  }
}

export async function putObject(s3: S3Client, bucket: string, key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** Rows as JSON objects (the API's items), generated by the target database. */
export async function salesJson(db: pg.Pool, rows: string): Promise<unknown[]> {
  const { rows: out } = await db.query<{ j: unknown[] }>(`SELECT coalesce(json_agg(r), '[]') AS j FROM (${rows}) r`);
  return out[0].j;
}

export async function salesXlsx(db: pg.Pool, rows: string): Promise<Buffer> {
  const { rows: data, fields } = await db.query(`SELECT * FROM (${rows}) r`);
  const workbook = new ExcelJS.Workbook();
  const sheet = workbook.addWorksheet('vendas');
  sheet.addRow(fields.map((f) => f.name));
  for (const row of data) sheet.addRow(fields.map((f) => (row[f.name] instanceof Date ? row[f.name] : row[f.name] === null ? null : String(row[f.name]))));
  return Buffer.from(await workbook.xlsx.writeBuffer());
}

export interface SalesSample {
  erpRows: number;
  csvRows: number;
  xlsxRows: number;
  apiItems: unknown[];
  leads: number;
}

/**
 * Writes a sample over the three source kinds: `erp_sales` on the source database (half), a `;` CSV export (a third)
 * and a small XLSX under s3:sales/exports/, leads under s3:sales/leads/; returns the API's items (the rest).
 */
export async function writeSalesSample(deps: { sourceAdmin: pg.Pool; target: pg.Pool; s3: S3Client; bucket: string },
  options: { rows: number; asOf: string; xlsxRows?: number; leads?: number }): Promise<SalesSample> {
  const erp = Math.floor(options.rows / 2);
  const xlsx = Math.min(options.xlsxRows ?? 2000, Math.floor(options.rows / 10));
  const api = Math.floor(options.rows / 6);
  const csv = options.rows - erp - xlsx - api;
  const leads = options.leads ?? Math.max(100, Math.floor(options.rows / 20));
  await deps.sourceAdmin.query('DROP TABLE IF EXISTS erp_sales');
  await deps.sourceAdmin.query(`CREATE TABLE erp_sales AS ${salesRowsSql('ERP', 1, erp, options.asOf)}`);
  await deps.sourceAdmin.query('GRANT SELECT ON erp_sales TO etl_reader').catch(() => undefined);
  await putObject(deps.s3, deps.bucket, 'sales/exports/ecommerce.csv', await copyOut(deps.target, exportCsvSql(salesRowsSql('WEB', 1, csv, options.asOf))));
  await putObject(deps.s3, deps.bucket, 'sales/exports/lojas.xlsx', await salesXlsx(deps.target, salesRowsSql('LOJA', 1, xlsx, options.asOf)));
  await putObject(deps.s3, deps.bucket, 'sales/leads/leads.csv', await copyOut(deps.target,
    `COPY (${leadsSql(1, leads, options.asOf)}) TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER ';')`));
  const apiItems = await salesJson(deps.target, salesRowsSql('API', 1, api, options.asOf));
  return { erpRows: erp, csvRows: csv, xlsxRows: xlsx, apiItems, leads };
}
