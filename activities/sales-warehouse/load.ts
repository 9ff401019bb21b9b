// Load the star schema from the run's clean tables.
//  incremental / merge: ONE transaction on sales_dw (dimensions upserted, partitions created, facts replaced by sale_id,
//    the KPI views' aggregates moved by the change, customers resegmented, watermark moved), so a failure leaves the warehouse as it was and a retry does the same work again.
//  full: a complete new warehouse is built in sales_dw_next (dimensions keep their surrogate keys), indexed, its KPI
//    aggregates and views created, then swapped in with two schema renames in one short transaction: a reader sees the old
//    warehouse or the new one, never a half-built one.
import type pg from 'pg';
import { inTransaction, stagingDdl, withLocalSettings, withTransaction } from '../../lib/io/postgres';
import { type RunRef, type SalesLoadStrategy, salesStaging } from '../../lib/contracts/sales-warehouse';
import type { SalesDeps } from './extract';
import { commitSourceStates, dropPendingStates } from './source-state';

export const WAREHOUSE = 'sales_dw';
const NEXT = 'sales_dw_next';
const OLD = 'sales_dw_old';
/** Statements a full load runs side by side (the facts, in parts). */
const FULL_LOAD_CONNECTIONS = 2;
const DIMENSIONS = [['dim_customer', 'customer_key'], ['dim_product', 'product_key'], ['dim_geography', 'geography_key'], ['dim_sales_channel', 'channel_key']];

export interface LoadRequest {
  strategy: SalesLoadStrategy;
  window?: { from: string; to: string };
  /** The day customer segments are computed as of (the run's asOf); a workflow older than segmentation sends none. */
  asOf?: string;
}

export interface Loaded {
  rows: number;
  leads: number;
  bySource: Record<string, number>;
  partitionsCreated: number;
  watermark: string | null;
  /** dim_customer members whose RFM segment, scores or value tier changed. */
  customersResegmented: number;
  durationMs: number;
}

const MONTHS = "ARRAY['janeiro','fevereiro','março','abril','maio','junho','julho','agosto','setembro','outubro','novembro','dezembro']";
const WEEKDAYS = "ARRAY['segunda-feira','terça-feira','quarta-feira','quinta-feira','sexta-feira','sábado','domingo']";

/** Dimensions, partitions, facts and leads of `batch` into schema `s` (inside the caller's transaction or build). */
async function loadBatch(db: pg.PoolClient, s: string, batch: string, leads: string, replace: boolean, helpers: pg.PoolClient[] = []) {
  // The calendar: every day of every year the batch touches, with Brazilian national holidays.
  await db.query(`WITH span AS (SELECT extract(year FROM min(sale_date))::int AS y1, extract(year FROM max(sale_date))::int AS y2 FROM ${batch}),
    holidays AS (SELECT h.day, string_agg(h.name, ' / ') AS name FROM span, generate_series(span.y1, span.y2) y, sales_etl.br_holidays(y) h GROUP BY h.day)
    INSERT INTO ${s}.dim_date SELECT (extract(year FROM d) * 10000 + extract(month FROM d) * 100 + extract(day FROM d))::int, d::date,
      extract(year FROM d)::int, extract(quarter FROM d)::int, extract(month FROM d)::int, (${MONTHS})[extract(month FROM d)::int],
      extract(day FROM d)::int, extract(isodow FROM d)::int, (${WEEKDAYS})[extract(isodow FROM d)::int], extract(isodow FROM d) >= 6,
      h.day IS NOT NULL, h.name
    FROM span, generate_series(make_date(span.y1, 1, 1), make_date(span.y2, 12, 31), interval '1 day') d LEFT JOIN holidays h ON h.day = d::date
    WHERE span.y1 IS NOT NULL
    ON CONFLICT (date_key) DO NOTHING`);
  // Type 1 dimensions: the newest non-empty name wins (distinct pairs first: a hash, then a small sort); surrogate keys never change.
  await db.query(`INSERT INTO ${s}.dim_customer AS d (customer_id, customer_name)
    SELECT DISTINCT ON (customer_id) customer_id, customer_name
    FROM (SELECT customer_id, customer_name, max(coalesce(updated_at, sale_date)) AS seen FROM ${batch} GROUP BY 1, 2) b
    ORDER BY customer_id, customer_name IS NULL, seen DESC
    ON CONFLICT (customer_id) DO UPDATE SET customer_name = EXCLUDED.customer_name
    WHERE EXCLUDED.customer_name IS NOT NULL AND EXCLUDED.customer_name IS DISTINCT FROM d.customer_name`);
  await db.query(`INSERT INTO ${s}.dim_product AS d (product_id, product_name, category)
    SELECT DISTINCT ON (product_id) product_id, product_name, category
    FROM (SELECT product_id, product_name, category, max(coalesce(updated_at, sale_date)) AS seen FROM ${batch} GROUP BY 1, 2, 3) b
    ORDER BY product_id, product_name IS NULL, seen DESC
    ON CONFLICT (product_id) DO UPDATE SET product_name = coalesce(EXCLUDED.product_name, d.product_name), category = coalesce(EXCLUDED.category, d.category)
    WHERE (EXCLUDED.product_name, EXCLUDED.category) IS DISTINCT FROM (d.product_name, d.category)`);
  await db.query(`INSERT INTO ${s}.dim_geography (region, state, state_name, city)
    SELECT st.region, st.uf, st.name, b.city FROM (SELECT DISTINCT uf, city FROM ${batch}) b JOIN sales_etl.states st USING (uf)
    ORDER BY st.uf, b.city ON CONFLICT (state, city) DO NOTHING`);
  await db.query(`INSERT INTO ${s}.dim_sales_channel (channel_name)
    SELECT channel FROM ${batch} UNION SELECT channel FROM ${leads} ORDER BY 1 ON CONFLICT (channel_name) DO NOTHING`);
  const made = await db.query<{ n: number }>(`SELECT sales_etl.ensure_partitions($1,
    ARRAY(SELECT DISTINCT date_trunc('month', sale_date)::date FROM ${batch} ORDER BY 1)) AS n`, [s]);
  // A sale keeps one row whatever its date became: the old one is removed before the new one goes in. What a
  // replacing load removes and inserts is kept (sales_gone, sales_added) for the KPI aggregates.
  if (replace) {
    await db.query(`CREATE TEMP TABLE sales_gone ON COMMIT DROP AS SELECT * FROM ${s}.sales_fact WITH NO DATA`);
    await db.query(`CREATE TEMP TABLE sales_added ON COMMIT DROP AS SELECT * FROM ${s}.sales_fact WITH NO DATA`);
    await db.query(`WITH gone AS (DELETE FROM ${s}.sales_fact f USING ${batch} b WHERE f.sale_id = b.sale_id RETURNING f.*)
      INSERT INTO sales_gone SELECT * FROM gone`);
  }
  const insertFacts = (where: string) => `${replace ? 'WITH added AS (' : ''}INSERT INTO ${s}.sales_fact (sale_id, sale_date, date_key, customer_key, product_key, geography_key, channel_key,
      sales_amount, quantity, discount_amount, profit_margin, refunded, promotion, source, updated_at)
    SELECT b.sale_id, b.sale_date, (extract(year FROM b.sale_date) * 10000 + extract(month FROM b.sale_date) * 100 + extract(day FROM b.sale_date))::int,
      c.customer_key, p.product_key, g.geography_key, ch.channel_key, b.sales_amount, b.quantity::int, b.discount_amount, b.profit_margin,
      b.refunded, b.promotion, b.source, b.updated_at
    FROM ${batch} b JOIN ${s}.dim_customer c USING (customer_id) JOIN ${s}.dim_product p USING (product_id)
    JOIN ${s}.dim_geography g ON g.state = b.uf AND g.city = b.city JOIN ${s}.dim_sales_channel ch ON ch.channel_name = b.channel
    ${where}
    ${replace ? 'RETURNING *) INSERT INTO sales_added SELECT * FROM added' : ''}`;
  // A warehouse built aside (no transaction around it) takes its facts in parts side by side, one connection each.
  if (helpers.length) {
    const lanes = [db, ...helpers];
    // Every row of a part joins its dimensions: hash joins. The planner cannot tell a part's size (`line % 2 = 0`): it
    // would take it for a few thousand rows and probe the dimensions' indexes row by row (3x slower).
    await Promise.all(lanes.map((lane, i) => inTransaction(lane, () => withLocalSettings(lane, { enable_nestloop: 'off' },
      () => lane.query(insertFacts(`WHERE b.line % ${lanes.length} = ${i}`))))));
  } else {
    await db.query(insertFacts(''));
  }
  // Every batch row found its members (the dimensions were just filled from the batch): the counts are the batch's.
  const inserted = await db.query<{ source: string; n: string }>(`SELECT source, count(*) AS n FROM ${batch} GROUP BY source`);
  const leadRows = await db.query<{ source: string; n: string }>(`WITH ins AS (INSERT INTO ${s}.leads (lead_id, lead_date, customer_id, channel_key, source)
    SELECT l.lead_id, l.lead_date, l.customer_id, ch.channel_key, l.source FROM ${leads} l JOIN ${s}.dim_sales_channel ch ON ch.channel_name = l.channel
    ON CONFLICT (lead_id) DO UPDATE SET lead_date = EXCLUDED.lead_date, customer_id = EXCLUDED.customer_id, channel_key = EXCLUDED.channel_key, source = EXCLUDED.source
    RETURNING source) SELECT source, count(*) AS n FROM ins GROUP BY source`);
  const bySource = Object.fromEntries(inserted.rows.map((r) => [r.source, Number(r.n)]));
  const rows = Object.values(bySource).reduce((a, b) => a + b, 0);
  for (const r of leadRows.rows) bySource[r.source] = Number(r.n);
  return { rows, bySource, leads: leadRows.rows.reduce((a, r) => a + Number(r.n), 0), partitionsCreated: made.rows[0].n };
}

const NEW_WATERMARK = (clean: string) => `SELECT greatest((SELECT watermark FROM sales_etl.load_state),
  (SELECT max(coalesce(updated_at, sale_date::timestamp)) FROM ${clean})) AS w`;

async function saveWatermark(db: pg.PoolClient, clean: string, run: RunRef, strategy: SalesLoadStrategy): Promise<string | null> {
  const { rows } = await db.query<{ w: Date | null }>(`INSERT INTO sales_etl.load_state (id, watermark, last_run_id, strategy, loaded_at)
    SELECT true, w, $1, $2, now() FROM (${NEW_WATERMARK(clean)}) x
    ON CONFLICT (id) DO UPDATE SET watermark = EXCLUDED.watermark, last_run_id = EXCLUDED.last_run_id, strategy = EXCLUDED.strategy, loaded_at = now()
    RETURNING watermark AS w`, [run.runId, strategy]);
  return rows[0].w ? rows[0].w.toISOString().slice(0, 19) : null;
}

export async function loadWarehouse(deps: SalesDeps, run: RunRef, request: LoadRequest): Promise<Loaded> {
  const started = Date.now();
  const t = salesStaging(run.runId);
  if (request.strategy === 'full') return { ...(await loadFull(deps, run, t.clean, t.leads, request.asOf)), durationMs: Date.now() - started };
  const result = await withTransaction(deps.target, async (db) => {
    await db.query("SET LOCAL work_mem = '512MB'");
    // One load at a time; readers keep reading the committed warehouse meanwhile.
    await db.query('SELECT pg_advisory_xact_lock(7233005)');
    const filter = request.strategy === 'incremental'
      // Inclusive: rows of the watermark's own instant (or day, for sources without updated_at) are merged again, harmlessly.
      // A sale the warehouse has never held loads whatever its date (a late-arriving row without updated_at).
      ? `(coalesce(updated_at, sale_date::timestamp) >= coalesce((SELECT watermark FROM sales_etl.load_state), '-infinity')
          OR NOT EXISTS (SELECT 1 FROM ${WAREHOUSE}.sales_fact f WHERE f.sale_id = c.sale_id))`
      : request.window ? `sale_date >= '${request.window.from}'::date AND sale_date < '${request.window.to}'::date` : 'true';
    await db.query(`CREATE TEMP TABLE sales_batch ON COMMIT DROP AS SELECT * FROM ${t.clean} c WHERE ${filter}`);
    const loaded = await loadBatch(db, WAREHOUSE, 'sales_batch', t.leads, true);
    // The KPI views read these aggregates: they change with the facts, in this transaction.
    await db.query(`SELECT sales_etl.apply_to_kpi_aggregates('${WAREHOUSE}', 'sales_gone', 'sales_added', '${t.leads}')`);
    const customersResegmented = await segmentCustomers(db, WAREHOUSE, request.asOf);
    const watermark = await saveWatermark(db, t.clean, run, request.strategy);
    // What the sources held is in the warehouse now: the next incremental run may skip it. Not after a merge: it
    // loads only its window of what it read.
    if (request.strategy === 'incremental') await commitSourceStates(db, run);
    return { ...loaded, customersResegmented, watermark };
  });
  return { ...result, durationMs: Date.now() - started };
}

/** RFM segment and value tier of every customer, recomputed as of the run's day (type 1, in place). */
async function segmentCustomers(db: pg.PoolClient, s: string, asOf: string | undefined): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT sales_etl.segment_customers($1, coalesce($2::date, current_date)) AS n', [s, asOf ?? null]);
  return rows[0].n;
}

async function loadFull(deps: SalesDeps, run: RunRef, clean: string, leads: string, asOf?: string): Promise<Omit<Loaded, 'durationMs'>> {
  const db = await deps.target.connect();
  const helpers: pg.PoolClient[] = [];
  try {
    for (let i = 1; i < FULL_LOAD_CONNECTIONS; i++) helpers.push(await deps.target.connect());
    for (const client of [db, ...helpers]) await client.query("SET work_mem = '512MB'; SET maintenance_work_mem = '512MB'");
    // Leftovers of an attempt that died half-way are dropped first: this attempt starts from scratch.
    await db.query(`DROP SCHEMA IF EXISTS ${NEXT} CASCADE`);
    await db.query(`DROP SCHEMA IF EXISTS ${OLD} CASCADE`);
    await db.query(`SELECT sales_etl.build_warehouse('${NEXT}')`);
    await db.query(`SELECT sales_etl.add_segment_columns('${NEXT}')`);
    // Surrogate keys stay stable across a full rebuild: the current members come along with their keys.
    await db.query(`INSERT INTO ${NEXT}.dim_date SELECT * FROM ${WAREHOUSE}.dim_date`);
    for (const [dim, key] of DIMENSIONS) {
      await db.query(`INSERT INTO ${NEXT}.${dim} SELECT * FROM ${WAREHOUSE}.${dim}`);
      await db.query(`SELECT setval(pg_get_serial_sequence('${NEXT}.${dim}', '${key}'), coalesce(max(${key}), 0) + 1, false) FROM ${NEXT}.${dim}`);
    }
    const loaded = await loadBatch(db, NEXT, clean, leads, false, helpers);
    // The index by customer first: the leads' conversion (agg_lead) looks each lead's sales up by customer; without
    // it that aggregate runs for minutes.
    await db.query(`SELECT sales_etl.index_customer_sales('${NEXT}')`);
    // Planner statistics for the aggregates' and the KPI views' joins; a small sample is plenty for these distributions.
    await db.query('SET default_statistics_target = 10');
    await db.query(`ANALYZE ${NEXT}.sales_fact, ${NEXT}.dim_customer, ${NEXT}.dim_product, ${NEXT}.dim_geography, ${NEXT}.leads`);
    await db.query('RESET default_statistics_target');
    // The other indexes beside the KPI aggregates: an index of a monthly partition is built on one core.
    const [aside = db] = helpers;
    await Promise.all([db.query(`SELECT sales_etl.index_warehouse('${NEXT}')`), aside.query(`SELECT sales_etl.build_kpi_aggregates('${NEXT}')`)]);
    const customersResegmented = await segmentCustomers(db, NEXT, asOf);
    await db.query(`SELECT sales_etl.create_kpi_views('${NEXT}')`);
    // The BI role's grants go with the new warehouse (a schema swapped in carries its own).
    await db.query(`SELECT sales_etl.grant_bi_reader('${NEXT}')`);
    const watermark = await inTransaction(db, async () => {
      await db.query('SELECT pg_advisory_xact_lock(7233005)');
      // A query names a table more than once (the facts, then a KPI view) and Postgres looks each name up as it
      // meets it: a rename committed between two lookups would let one query read both warehouses. Locking every
      // table of the old one first (the facts first, as queries usually start there) makes a query or a report's
      // transaction that already reads it finish on it, and one that starts now wait and then read the new one.
      await db.query(`SELECT sales_etl.lock_warehouse('${WAREHOUSE}')`);
      await db.query(`ALTER SCHEMA ${WAREHOUSE} RENAME TO ${OLD}`);
      await db.query(`ALTER SCHEMA ${NEXT} RENAME TO ${WAREHOUSE}`);
      // A full load replaces the warehouse: the watermark restarts from this run's data, and so does what the sources
      // may skip (a source this run did not read has none of its rows in the new warehouse: read whole next time).
      await db.query('DELETE FROM sales_etl.load_state');
      await db.query('DELETE FROM sales_etl.source_state');
      await commitSourceStates(db, run);
      return saveWatermark(db, clean, run, 'full');
    });
    // Outside the swap: waits for readers still on the old tables, without holding up the new ones.
    await db.query(`DROP SCHEMA ${OLD} CASCADE`);
    return { ...loaded, customersResegmented, watermark };
  } finally {
    for (const client of [db, ...helpers]) {
      await client.query('RESET work_mem; RESET maintenance_work_mem').catch(() => undefined);
      client.release();
    }
  }
}

/** Drops the run's staging tables (at the end, success or failure). */
export async function dropSalesStaging(deps: SalesDeps, run: RunRef): Promise<void> {
  const { rows } = await deps.target.query<{ t: string }>(`SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables
    WHERE schemaname = 'etl_staging' AND tablename LIKE $1`, [salesStaging(run.runId).prefix]);
  for (const { t } of rows) await stagingDdl(deps.target, `DROP TABLE IF EXISTS ${t}`);
  await dropPendingStates(deps, run);
}
