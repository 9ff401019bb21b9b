// Clean and standardize, set-based: every raw row of every sales source is typed in ONE statement (trim and case,
// mixed date formats, Brazilian money, currency to BRL, category, channel and state lookups), each row getting the
// first reason it cannot be used; rows with a reason go to etl_quarantine whole (source, raw row, reason); the rest
// are deduplicated by sale_id (newest updated_at, then the first source listed, then the last line) into the clean table.
import { type SalesWarehouseOptions, salesStaging, type RunRef, type SourceExtract } from '../../lib/sales-warehouse';
import { withTransaction } from '../../lib/db';
import { pgLiteral, type SalesDeps } from './extract';

/** Reasons by quality check: value ranges / unreadable values, and references to unknown dimension members. */
export const INVALID_REASONS = ['invalid sale_date', 'sale_date in the future', 'sale_date before 2000', 'invalid quantity', 'invalid unit_price',
  'invalid discount', 'invalid unit_cost', 'unknown status', 'invalid lead_date'];
export const REFERENCE_REASONS = ['unknown state', 'unknown channel', 'unknown currency'];

export interface CleanStats {
  rawRows: number;
  leadRows: number;
  /** Raw sales rows with every required field present. */
  completeRows: number;
  validRows: number;
  cleanRows: number;
  cleanLeads: number;
  duplicatesRemoved: number;
  quarantined: number;
  /** Quarantined rows per source name. */
  quarantinedBySource: Record<string, number>;
  reasons: Record<string, number>;
  newestSaleDate: string | null;
  durationMs: number;
}

const values = (pairs: [string, string | number][]) =>
  pairs.length ? `VALUES ${pairs.map(([k, v]) => `(${pgLiteral(k)}, ${typeof v === 'number' ? v : pgLiteral(v)})`).join(', ')}` : null;

const REFUND = ['refunded', 'refund', 'reembolsado', 'devolvido', 'estornado', 'cancelado por devolucao'];
const COMPLETED = ['completed', 'complete', 'concluido', 'concluida', 'pago', 'paid', 'faturado', 'aprovado', 'entregue', 'delivered'];

export async function cleanSales(deps: SalesDeps, options: SalesWarehouseOptions, run: RunRef, extracts: SourceExtract[], asOf: string): Promise<CleanStats> {
  const started = Date.now();
  const t = salesStaging(run.runId);
  const sales = extracts.map((e, src) => ({ ...e, src })).filter((e) => e.dataset === 'sales');
  const leads = extracts.map((e, src) => ({ ...e, src })).filter((e) => e.dataset === 'leads');
  const categories = values(Object.entries(options.categories).map(([k, v]) => [k.toLowerCase(), v])) ?? "VALUES ('', '')";
  const channels = values(Object.entries(options.channels).map(([k, v]) => [k.toLowerCase(), v])) ?? "VALUES ('', '')";
  const fx = values(Object.entries(options.fxRatesToBrl)) ?? "VALUES ('BRL', 1)";
  const list = (xs: string[]) => xs.map(pgLiteral).join(', ');

  return withTransaction(deps.target, async (db) => {
    // Safe to run twice: every table is rebuilt and the run's quarantine rows replaced.
    await db.query("SET LOCAL work_mem = '512MB'");
    await db.query(`DROP TABLE IF EXISTS ${t.typed}, ${t.clean}, ${t.leads}`);
    await db.query(`DELETE FROM etl_quarantine WHERE workflow_id = $1 AND run_id = $2`, [run.workflowId, run.runId]);
    const rawSales = sales.length
      ? sales.map((e) => `SELECT ${e.src} AS src, * FROM ${e.table}`).join(' UNION ALL ')
      : `SELECT 0 AS src, ${['sale_id', 'sale_date', 'updated_at', 'customer_id', 'customer_name', 'product_id', 'product_name', 'category', 'city',
        'state', 'channel', 'quantity', 'unit_price', 'discount', 'unit_cost', 'currency', 'status', 'promotion'].map((f) => `NULL::text AS ${f}`).join(', ')}, ''::text AS source, 0::bigint AS line WHERE false`;
    await db.query(`CREATE UNLOGGED TABLE ${t.typed} AS
      WITH categories(key, name) AS (${categories}), channels(key, name) AS (${channels}), fx(code, rate) AS (${fx})
      SELECT src, line, sale_id, d_sale AS sale_date, d_updated AS updated_at, customer_id, customer_name, product_id, product_name, category,
             city, uf, channel, quantity, round(gross - disc, 2) AS sales_amount, round(disc, 2) AS discount_amount,
             CASE WHEN cost IS NOT NULL AND gross - disc > 0 THEN round((gross - disc - cost * quantity) / (gross - disc), 4) END AS profit_margin,
             refunded, promotion, complete,
             CASE
               WHEN sale_id IS NULL THEN 'missing sale_id'
               WHEN d_sale IS NULL THEN 'invalid sale_date'
               WHEN d_sale > $1::date THEN 'sale_date in the future'
               WHEN d_sale < date '2000-01-01' THEN 'sale_date before 2000'
               WHEN customer_id IS NULL THEN 'missing customer_id'
               WHEN product_id IS NULL THEN 'missing product_id'
               WHEN quantity IS NULL OR quantity <= 0 OR quantity <> trunc(quantity) THEN 'invalid quantity'
               WHEN price IS NULL OR price < 0 THEN 'invalid unit_price'
               WHEN rate IS NULL THEN 'unknown currency'
               WHEN disc IS NULL OR disc < 0 OR disc > gross THEN 'invalid discount'
               WHEN raw_cost IS NOT NULL AND (cost IS NULL OR cost < 0) THEN 'invalid unit_cost'
               WHEN refunded IS NULL THEN 'unknown status'
               WHEN uf IS NULL THEN 'unknown state'
               WHEN channel IS NULL THEN 'unknown channel'
             END AS reason
      FROM (
        SELECT r.src, r.line, nullif(btrim(r.sale_id), '') AS sale_id,
               sales_etl.parse_date(btrim(r.sale_date)) AS d_sale, sales_etl.parse_timestamp(btrim(r.updated_at)) AS d_updated,
               nullif(btrim(r.customer_id), '') AS customer_id,
               nullif(initcap(lower(regexp_replace(btrim(r.customer_name), '\\s+', ' ', 'g')) COLLATE pg_c_utf8), '') AS customer_name,
               upper(nullif(btrim(r.product_id), '')) AS product_id, nullif(regexp_replace(btrim(r.product_name), '\\s+', ' ', 'g'), '') AS product_name,
               coalesce(ca.name, nullif(initcap(lower(btrim(r.category)) COLLATE pg_c_utf8), '')) AS category,
               coalesce(nullif(btrim(replace(replace(replace(replace(replace(' ' || initcap(lower(regexp_replace(btrim(r.city), '\\s+', ' ', 'g')) COLLATE pg_c_utf8) || ' ',
                 ' De ', ' de '), ' Do ', ' do '), ' Da ', ' da '), ' Dos ', ' dos '), ' Das ', ' das ')), ''), '(não informada)') AS city,
               sa.uf, ch.name AS channel, fx.rate,
               sales_etl.parse_decimal(btrim(r.quantity)) AS quantity,
               sales_etl.parse_money(btrim(r.unit_price)) AS price,
               sales_etl.parse_money(btrim(r.unit_price)) * sales_etl.parse_decimal(btrim(r.quantity)) * fx.rate AS gross,
               CASE WHEN nullif(btrim(r.discount), '') IS NULL THEN 0
                    WHEN btrim(r.discount) LIKE '%\\%' THEN sales_etl.parse_decimal(btrim(rtrim(btrim(r.discount), '%'))) / 100
                      * sales_etl.parse_money(btrim(r.unit_price)) * sales_etl.parse_decimal(btrim(r.quantity)) * fx.rate
                    ELSE sales_etl.parse_money(btrim(r.discount)) * fx.rate END AS disc,
               nullif(btrim(r.unit_cost), '') AS raw_cost, sales_etl.parse_money(btrim(r.unit_cost)) * fx.rate AS cost,
               CASE WHEN sales_etl.match_key(coalesce(r.status, '')) IN ('', ${list(COMPLETED)}) THEN false
                    WHEN sales_etl.match_key(r.status) IN (${list(REFUND)}) THEN true END AS refunded,
               nullif(btrim(r.promotion), '') AS promotion,
               (nullif(btrim(r.sale_id), '') IS NOT NULL AND nullif(btrim(r.sale_date), '') IS NOT NULL AND nullif(btrim(r.customer_id), '') IS NOT NULL
                AND nullif(btrim(r.product_id), '') IS NOT NULL AND nullif(btrim(r.quantity), '') IS NOT NULL AND nullif(btrim(r.unit_price), '') IS NOT NULL
                AND nullif(btrim(r.state), '') IS NOT NULL AND nullif(btrim(r.channel), '') IS NOT NULL) AS complete
        FROM (${rawSales}) r
        LEFT JOIN sales_etl.state_aliases sa ON sa.alias = sales_etl.match_key(r.state)
        LEFT JOIN channels ch ON ch.key = sales_etl.match_key(r.channel)
        LEFT JOIN categories ca ON ca.key = sales_etl.match_key(r.category)
        LEFT JOIN fx ON fx.code = coalesce(upper(nullif(btrim(r.currency), '')),
          CASE WHEN position('US$' IN r.unit_price) > 0 THEN 'USD' WHEN position('€' IN r.unit_price) > 0 THEN 'EUR' ELSE 'BRL' END)
      ) x`, [asOf]);

    // Rows that cannot be fixed: kept whole, with their source and reason.
    for (const e of sales) {
      await db.query(`INSERT INTO etl_quarantine (pipeline, workflow_id, run_id, source_table, row_data, reason)
        SELECT 'salesWarehouse', $1, $2, $3, to_jsonb(r) - 'source', t.reason FROM ${t.typed} t JOIN ${e.table} r USING (line)
        WHERE t.src = ${e.src} AND t.reason IS NOT NULL`, [run.workflowId, run.runId, e.source]);
    }
    const order = 'sale_id, updated_at DESC NULLS LAST, src, line DESC';
    await db.query(`CREATE UNLOGGED TABLE ${t.clean} AS
      SELECT DISTINCT ON (sale_id) t.*, s.source FROM ${t.typed} t JOIN (VALUES ${extracts.map((e, i) => `(${i}, ${pgLiteral(e.source)})`).join(', ')}) s(src, source) USING (src)
      WHERE reason IS NULL ORDER BY ${order}`);

    // Leads: same rules, fewer fields.
    const rawLeads = leads.length ? leads.map((e) => `SELECT ${e.src} AS src, * FROM ${e.table}`).join(' UNION ALL ')
      : "SELECT 0 AS src, NULL::text AS lead_id, NULL::text AS lead_date, NULL::text AS customer_id, NULL::text AS channel, ''::text AS source, 0::bigint AS line WHERE false";
    await db.query(`CREATE UNLOGGED TABLE ${t.leads} AS
      WITH channels(key, name) AS (${channels})
      SELECT r.src, r.source, r.line, nullif(btrim(r.lead_id), '') AS lead_id, sales_etl.parse_date(btrim(r.lead_date)) AS lead_date,
             nullif(btrim(r.customer_id), '') AS customer_id, ch.name AS channel,
             CASE WHEN nullif(btrim(r.lead_id), '') IS NULL THEN 'missing lead_id'
                  WHEN sales_etl.parse_date(btrim(r.lead_date)) IS NULL THEN 'invalid lead_date'
                  WHEN ch.name IS NULL THEN 'unknown channel' END AS reason
      FROM (${rawLeads}) r LEFT JOIN channels ch ON ch.key = sales_etl.match_key(r.channel)`);
    for (const e of leads) {
      await db.query(`INSERT INTO etl_quarantine (pipeline, workflow_id, run_id, source_table, row_data, reason)
        SELECT 'salesWarehouse', $1, $2, $3, to_jsonb(r) - 'source', t.reason FROM ${t.leads} t JOIN ${e.table} r USING (line)
        WHERE t.src = ${e.src} AND t.reason IS NOT NULL`, [run.workflowId, run.runId, e.source]);
    }
    await db.query(`DELETE FROM ${t.leads} WHERE reason IS NOT NULL`);
    await db.query(`DELETE FROM ${t.leads} l USING ${t.leads} o WHERE l.lead_id = o.lead_id AND (o.src, o.line) > (l.src, l.line)`);

    const counts = await db.query<{ raw: string; complete: string; valid: string; newest: string | null }>(`SELECT count(*) AS raw,
      count(*) FILTER (WHERE complete) AS complete, count(*) FILTER (WHERE reason IS NULL) AS valid,
      to_char(max(sale_date) FILTER (WHERE reason IS NULL), 'YYYY-MM-DD') AS newest FROM ${t.typed}`);
    const clean = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${t.clean}`);
    const cleanLeads = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${t.leads}`);
    const leadRows = leads.reduce((s, e) => s + e.rows, 0);
    const reasons = await db.query<{ reason: string; source: string; n: string }>(`SELECT reason, source_table AS source, count(*) AS n
      FROM etl_quarantine WHERE workflow_id = $1 AND run_id = $2 GROUP BY 1, 2`, [run.workflowId, run.runId]);
    const byReason: Record<string, number> = {};
    const bySource: Record<string, number> = Object.fromEntries(extracts.map((e) => [e.source, 0]));
    for (const r of reasons.rows) {
      byReason[r.reason] = (byReason[r.reason] ?? 0) + Number(r.n);
      bySource[r.source] = (bySource[r.source] ?? 0) + Number(r.n);
    }
    const c = counts.rows[0];
    return {
      rawRows: Number(c.raw), leadRows, completeRows: Number(c.complete), validRows: Number(c.valid), cleanRows: Number(clean.rows[0].n),
      cleanLeads: Number(cleanLeads.rows[0].n), duplicatesRemoved: Number(c.valid) - Number(clean.rows[0].n),
      quarantined: Object.values(byReason).reduce((a, b) => a + b, 0), quarantinedBySource: bySource, reasons: byReason,
      newestSaleDate: c.newest, durationMs: Date.now() - started,
    };
  });
}
