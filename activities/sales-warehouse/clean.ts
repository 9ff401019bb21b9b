// Clean and standardize, set-based: every raw row of every sales source is typed in ONE statement (trim and case,
// mixed date formats, Brazilian money, currency to BRL, category, channel and state lookups), each row getting the
// first reason it cannot be used; rows with a reason go to etl_quarantine whole (source, raw row, reason); the rest
// are deduplicated by sale_id (newest updated_at, then the first source listed, then the last line) into the clean table.
import { SALES_FIELDS, type SalesWarehouseOptions, salesStaging, type RunRef, type SourceExtract } from '../../lib/contracts/sales-warehouse';
import { quoteLiteral, stagingDdl, withTransaction } from '../../lib/io/postgres';
import { ambiguousNumberReasonSql, type NumberLocale } from '../../lib/io/numbers';
import type { SalesDeps } from './extract';
import { WAREHOUSE } from './load';

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
  /**
   * Incremental runs: sales rows loaded by an earlier run and left alone: not read again (their source's recorded
   * state vouches for them), or read but older than the watermark and not cleaned again.
   */
  unchangedRows: number;
  /** Some sales source read only what changed since the last load (so no rows at all can mean nothing changed). */
  changesOnly?: boolean;
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
  pairs.length ? `VALUES ${pairs.map(([k, v]) => `(${quoteLiteral(k)}, ${typeof v === 'number' ? v : quoteLiteral(v)})`).join(', ')}` : null;

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
  const list = (xs: string[]) => xs.map((x) => quoteLiteral(x)).join(', ');
  // An incremental run types only the rows the load can take: those changed at or after the watermark, those whose
  // date cannot be read (to quarantine them), and those whose sale_id the warehouse has never held, whatever their
  // date (a late-arriving sale without updated_at: one hash join with the facts' ids). Older rows were loaded before and are not cleaned again; a row an
  // earlier run quarantined, unchanged since, is not quarantined again (it would count against every run's gate).
  const since = options.loadStrategy === 'incremental' ? await currentWatermark(deps) : null;
  const changedOnly = (e: SourceExtract) => since ? ` WHERE (coalesce(sales_etl.parse_timestamp(btrim(r.updated_at)), sales_etl.parse_date(btrim(r.sale_date))::timestamp)
    >= ${quoteLiteral(since)}::timestamp) IS NOT FALSE
    OR (nullif(btrim(r.sale_id), '') IS NOT NULL AND f.sale_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM etl_quarantine q WHERE q.pipeline = 'salesWarehouse' AND q.row_data->>'sale_id' = r.sale_id
        AND q.source_table = ${quoteLiteral(e.source)} AND q.row_data - 'line' = to_jsonb(r) - 'source' - 'line'))` : '';

  // Safe to run twice: every table is rebuilt and the run's quarantine rows replaced.
  await stagingDdl(deps.target, `DROP TABLE IF EXISTS ${t.typed}, ${t.typed}_dict, ${t.clean}, ${t.leads}`);
  await deps.target.query('DELETE FROM etl_quarantine WHERE workflow_id = $1 AND run_id = $2', [run.workflowId, run.runId]);
  const rawSales = sales.length
    ? sales.map((e) => `SELECT ${e.src} AS src, * FROM ${e.table}`).join(' UNION ALL ')
    : `SELECT 0 AS src, ${SALES_FIELDS.map((f) => `NULL::text AS ${f}`).join(', ')}, ''::text AS source, 0::bigint AS line WHERE false`;
  // Free-text columns have few distinct values: each distinct value is looked up once (accents, case, aliases), and
  // the rows join the result, instead of normalising the same "sao paulo" a million times.
  await deps.target.query(`CREATE UNLOGGED TABLE ${t.typed}_dict AS
    WITH categories(key, name) AS (${categories}), channels(key, name) AS (${channels}),
    -- Grouping sets: one pass over the rows, one hash table per column; in each set only its own column is not NULL.
    d AS (SELECT CASE WHEN GROUPING(state) = 0 THEN 'state' WHEN GROUPING(channel) = 0 THEN 'channel' WHEN GROUPING(category) = 0 THEN 'category'
        WHEN GROUPING(status) = 0 THEN 'status' WHEN GROUPING(city) = 0 THEN 'city' WHEN GROUPING(customer_name) = 0 THEN 'customer_name'
        ELSE 'product_name' END AS kind, coalesce(state, channel, category, status, city, customer_name, product_name) AS raw
      FROM (${rawSales}) r GROUP BY GROUPING SETS ((state), (channel), (category), (status), (city), (customer_name), (product_name)))
    SELECT kind, raw, CASE kind
      WHEN 'state' THEN (SELECT uf::text FROM sales_etl.state_aliases WHERE alias = sales_etl.match_key(raw))
      WHEN 'channel' THEN (SELECT name FROM channels WHERE key = sales_etl.match_key(raw))
      WHEN 'category' THEN coalesce((SELECT name FROM categories WHERE key = sales_etl.match_key(raw)), nullif(initcap(lower(btrim(raw)) COLLATE public.etl_unicode), ''))
      WHEN 'customer_name' THEN nullif(initcap(lower(regexp_replace(btrim(raw), '\\s+', ' ', 'g')) COLLATE public.etl_unicode), '')
      WHEN 'product_name' THEN nullif(regexp_replace(btrim(raw), '\\s+', ' ', 'g'), '')
      WHEN 'status' THEN CASE WHEN sales_etl.match_key(raw) IN ('', ${list(COMPLETED)}) THEN 'false' WHEN sales_etl.match_key(raw) IN (${list(REFUND)}) THEN 'true' END
      ELSE nullif(btrim(replace(replace(replace(replace(replace(' ' || initcap(lower(regexp_replace(btrim(raw), '\\s+', ' ', 'g')) COLLATE public.etl_unicode) || ' ',
        ' De ', ' de '), ' Do ', ' do '), ' Da ', ' da '), ' Dos ', ' dos '), ' Das ', ' das ')), '')
    END AS value FROM d WHERE raw IS NOT NULL`);
  await deps.target.query(`CREATE UNIQUE INDEX ON ${t.typed}_dict (kind, raw)`);
  // Numbers are read in the source's locale (lib/io/numbers.ts): a value auto cannot read either way is quarantined.
  // Like the free text, each distinct number and sale date of the source is parsed once (`parsed`), and the rows join
  // the result: a million rows hold a few thousand distinct prices and dates, and the parsers' regular expressions
  // were most of the statement's time. The values come from all of `rawTable` (the rows read this run), not only the
  // rows an incremental run types: the filter joins the facts, and a superset of the values parses the same.
  const typedSelect = (raw: string, rawTable: string, locale: NumberLocale) => {
    const L = quoteLiteral(locale);
    return `
      WITH fx(code, rate) AS (${fx}),
      parsed AS MATERIALIZED (
        SELECT v, etl_parse_number(v, ${L}) AS number, etl_number_ambiguous(v, ${L}) AS ambiguous, sales_etl.parse_date(btrim(v)) AS day
        FROM (SELECT DISTINCT v FROM (SELECT coalesce(r.quantity, r.unit_price, rtrim(btrim(r.discount), '%'), r.unit_cost, r.sale_date) AS v
          FROM ${rawTable} r GROUP BY GROUPING SETS ((r.quantity), (r.unit_price), (rtrim(btrim(r.discount), '%')), (r.unit_cost), (r.sale_date))) g
          WHERE v IS NOT NULL) d)
      SELECT src, line, sale_id, d_sale AS sale_date, d_updated AS updated_at, customer_id, customer_name, product_id, product_name, category,
             city, uf, channel, quantity, round(gross - disc, 2) AS sales_amount, round(disc, 2) AS discount_amount,
             CASE WHEN cost IS NOT NULL AND gross - disc > 0 THEN round((gross - disc - cost * quantity) / (gross - disc), 4) END AS profit_margin,
             refunded, promotion, complete,
             CASE
               WHEN sale_id IS NULL THEN 'missing sale_id'
               WHEN d_sale IS NULL THEN 'invalid sale_date'
               WHEN d_sale > '${asOf}'::date THEN 'sale_date in the future'
               WHEN d_sale < date '2000-01-01' THEN 'sale_date before 2000'
               WHEN customer_id IS NULL THEN 'missing customer_id'
               WHEN product_id IS NULL THEN 'missing product_id'
               WHEN ambiguous_column IS NOT NULL THEN ${ambiguousNumberReasonSql('ambiguous_column', 'ambiguous_value')}
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
        SELECT src, line, sale_id, d_sale, d_updated, customer_id, customer_name, product_id, product_name, category, city, uf, channel, rate,
               quantity, price, price * quantity * rate AS gross,
               CASE WHEN raw_disc IS NULL THEN 0 WHEN raw_disc LIKE '%\\%' THEN discount_number / 100 * price * quantity * rate
                    ELSE discount_number * rate END AS disc,
               raw_cost, cost_number * rate AS cost, refunded, promotion, complete, ambiguous_column,
               CASE ambiguous_column WHEN 'quantity' THEN raw_quantity WHEN 'unit_price' THEN raw_price WHEN 'discount' THEN raw_disc ELSE raw_cost END AS ambiguous_value
        FROM (
          SELECT r.src, r.line, nullif(btrim(r.sale_id), '') AS sale_id,
                 psd.day AS d_sale, sales_etl.parse_timestamp(btrim(r.updated_at)) AS d_updated,
                 nullif(btrim(r.customer_id), '') AS customer_id,
                 dcn.value AS customer_name, upper(nullif(btrim(r.product_id), '')) AS product_id, dpn.value AS product_name,
                 dca.value AS category, coalesce(dci.value, '(não informada)') AS city, dst.value AS uf, dch.value AS channel, fx.rate,
                 pq.number AS quantity, pp.number AS price, pd.number AS discount_number, pc.number AS cost_number,
                 CASE WHEN pq.ambiguous THEN 'quantity' WHEN pp.ambiguous THEN 'unit_price' WHEN pd.ambiguous THEN 'discount'
                      WHEN pc.ambiguous THEN 'unit_cost' END AS ambiguous_column,
                 r.quantity AS raw_quantity, r.unit_price AS raw_price,
                 nullif(btrim(r.discount), '') AS raw_disc, nullif(btrim(r.unit_cost), '') AS raw_cost,
                 CASE WHEN r.status IS NULL THEN false ELSE dss.value::boolean END AS refunded,
                 nullif(btrim(r.promotion), '') AS promotion,
                 (nullif(btrim(r.sale_id), '') IS NOT NULL AND nullif(btrim(r.sale_date), '') IS NOT NULL AND nullif(btrim(r.customer_id), '') IS NOT NULL
                  AND nullif(btrim(r.product_id), '') IS NOT NULL AND nullif(btrim(r.quantity), '') IS NOT NULL AND nullif(btrim(r.unit_price), '') IS NOT NULL
                  AND nullif(btrim(r.state), '') IS NOT NULL AND nullif(btrim(r.channel), '') IS NOT NULL) AS complete
          FROM (${raw}) r
          LEFT JOIN ${t.typed}_dict dst ON dst.kind = 'state' AND dst.raw = r.state
          LEFT JOIN ${t.typed}_dict dch ON dch.kind = 'channel' AND dch.raw = r.channel
          LEFT JOIN ${t.typed}_dict dca ON dca.kind = 'category' AND dca.raw = r.category
          LEFT JOIN ${t.typed}_dict dss ON dss.kind = 'status' AND dss.raw = r.status
          LEFT JOIN ${t.typed}_dict dci ON dci.kind = 'city' AND dci.raw = r.city
          LEFT JOIN ${t.typed}_dict dcn ON dcn.kind = 'customer_name' AND dcn.raw = r.customer_name
          LEFT JOIN ${t.typed}_dict dpn ON dpn.kind = 'product_name' AND dpn.raw = r.product_name
          LEFT JOIN parsed pq ON pq.v = r.quantity
          LEFT JOIN parsed pp ON pp.v = r.unit_price
          LEFT JOIN parsed pd ON pd.v = rtrim(btrim(r.discount), '%')
          LEFT JOIN parsed pc ON pc.v = r.unit_cost
          LEFT JOIN parsed psd ON psd.v = r.sale_date
          LEFT JOIN fx ON fx.code = coalesce(upper(nullif(btrim(r.currency), '')),
            CASE WHEN position('US$' IN r.unit_price) > 0 THEN 'USD' WHEN position('€' IN r.unit_price) > 0 THEN 'EUR' ELSE 'BRL' END)
          -- OFFSET 0 keeps these subqueries apart: each parsed value is computed once, not again wherever the outer query uses it.
          OFFSET 0) y
        OFFSET 0) x`;
  };
  await deps.target.query(`CREATE UNLOGGED TABLE ${t.typed} AS ${typedSelect(rawSales, `(${rawSales})`, 'auto')} WITH NO DATA`);
  // One statement per source, each on its own connection: the sources are typed in parallel, one core each.
  await Promise.all(sales.map((e) => deps.target.query(`INSERT INTO ${t.typed} ${typedSelect(`SELECT ${e.src} AS src, r.* FROM ${e.table} r${since ? ` LEFT JOIN ${WAREHOUSE}.sales_fact f ON f.sale_id = btrim(r.sale_id)` : ''}${changedOnly(e)}`,
    e.table, e.numberLocale ?? 'auto')}`)));

  return withTransaction(deps.target, async (db) => {
    await db.query("SET LOCAL work_mem = '512MB'");
    // Rows that cannot be fixed: kept whole, with their source and reason.
    for (const e of sales) {
      await db.query(`INSERT INTO etl_quarantine (pipeline, workflow_id, run_id, source_table, row_data, reason)
        SELECT 'salesWarehouse', $1, $2, $3, to_jsonb(r) - 'source', t.reason FROM ${t.typed} t JOIN ${e.table} r USING (line)
        WHERE t.src = ${e.src} AND t.reason IS NOT NULL`, [run.workflowId, run.runId, e.source]);
    }
    const order = 'sale_id, updated_at DESC NULLS LAST, src, line DESC';
    // Clean sales and leads are logged: the gate and the load read them, and a Postgres crash empties unlogged tables.
    await db.query(`CREATE TABLE ${t.clean} AS
      SELECT DISTINCT ON (sale_id) t.*, s.source FROM ${t.typed} t JOIN (VALUES ${extracts.map((e, i) => `(${i}, ${quoteLiteral(e.source)})`).join(', ')}) s(src, source) USING (src)
      WHERE reason IS NULL ORDER BY ${order}`);
    // The same rule across runs: a source skipped this time (nothing in it changed) may hold the winning copy of a
    // sale another source re-sent; the warehouse's row from that source stays.
    if (since) {
      await db.query(`DELETE FROM ${t.clean} c USING ${WAREHOUSE}.sales_fact f,
          (VALUES ${extracts.map((e, i) => `(${i}, ${quoteLiteral(e.source)})`).join(', ')}) s(src, source)
        WHERE f.sale_id = c.sale_id AND f.source = s.source AND s.source <> c.source
          AND (f.updated_at > c.updated_at OR (c.updated_at IS NULL AND f.updated_at IS NOT NULL)
            OR (f.updated_at IS NOT DISTINCT FROM c.updated_at AND s.src < c.src))`);
    }

    // Leads: same rules, fewer fields.
    const rawLeads = leads.length ? leads.map((e) => `SELECT ${e.src} AS src, * FROM ${e.table}`).join(' UNION ALL ')
      : "SELECT 0 AS src, NULL::text AS lead_id, NULL::text AS lead_date, NULL::text AS customer_id, NULL::text AS channel, ''::text AS source, 0::bigint AS line WHERE false";
    // Each distinct channel text is matched once, as the sales' free text is.
    await db.query(`CREATE TABLE ${t.leads} AS
      WITH channels(key, name) AS (${channels}),
      lead_channels AS MATERIALIZED (SELECT raw, (SELECT name FROM channels WHERE key = sales_etl.match_key(raw)) AS name
        FROM (SELECT DISTINCT channel AS raw FROM (${rawLeads}) r) d)
      SELECT r.src, r.source, r.line, nullif(btrim(r.lead_id), '') AS lead_id, sales_etl.parse_date(btrim(r.lead_date)) AS lead_date,
             nullif(btrim(r.customer_id), '') AS customer_id, ch.name AS channel,
             CASE WHEN nullif(btrim(r.lead_id), '') IS NULL THEN 'missing lead_id'
                  WHEN sales_etl.parse_date(btrim(r.lead_date)) IS NULL THEN 'invalid lead_date'
                  WHEN ch.name IS NULL THEN 'unknown channel' END AS reason
      FROM (${rawLeads}) r LEFT JOIN lead_channels ch ON ch.raw = r.channel`);
    for (const e of leads) {
      await db.query(`INSERT INTO etl_quarantine (pipeline, workflow_id, run_id, source_table, row_data, reason)
        SELECT 'salesWarehouse', $1, $2, $3, to_jsonb(r) - 'source', t.reason FROM ${t.leads} t JOIN ${e.table} r USING (line)
        WHERE t.src = ${e.src} AND t.reason IS NOT NULL`, [run.workflowId, run.runId, e.source]);
    }
    await db.query(`DELETE FROM ${t.leads} WHERE reason IS NOT NULL`);
    await db.query(`DELETE FROM ${t.leads} l USING ${t.leads} o WHERE l.lead_id = o.lead_id AND (o.src, o.line) > (l.src, l.line)`);
    // Statistics for the gate's and the load's joins (without them the planner takes a million rows for a thousand
    // and joins the dimensions row by row).
    await db.query(`ANALYZE ${t.clean}, ${t.leads}`);

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
    const extractedSales = sales.reduce((sum, e) => sum + e.rows, 0);
    return {
      rawRows: Number(c.raw), leadRows, completeRows: Number(c.complete), validRows: Number(c.valid), cleanRows: Number(clean.rows[0].n),
      unchangedRows: extractedSales - Number(c.raw) + sales.reduce((sum, e) => sum + (e.unchangedRows ?? 0), 0),
      changesOnly: sales.some((e) => e.read?.mode === 'changes'),
      cleanLeads: Number(cleanLeads.rows[0].n), duplicatesRemoved: Number(c.valid) - Number(clean.rows[0].n),
      quarantined: Object.values(byReason).reduce((a, b) => a + b, 0), quarantinedBySource: bySource, reasons: byReason,
      // Nothing changed since the watermark: the newest sale is the one the warehouse already holds.
      newestSaleDate: c.newest ?? since?.slice(0, 10) ?? null, durationMs: Date.now() - started,
    };
  });
}

/** The warehouse's watermark (`YYYY-MM-DD HH:MM:SS`), or null before the first load. */
async function currentWatermark(deps: SalesDeps): Promise<string | null> {
  const { rows } = await deps.target.query<{ w: string | null }>('SELECT watermark::text AS w FROM sales_etl.load_state');
  return rows[0]?.w ?? null;
}
