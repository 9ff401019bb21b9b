-- salesWarehouse: the KPI views read aggregates that every load keeps current in its own transaction, instead of
-- materialized views refreshed over all the facts after it. A full load builds the aggregates from its facts; an
-- incremental or merge load applies its change: the facts it removed (their before-images) and the facts it inserted.
--   - sums and counts (revenue by month, place and product; revenue by day) move by the difference;
--   - what depends on a customer's whole history (lifetime value, churn, a lead's conversion) is recomputed for the
--     customers the change touched, from their facts (index sales_fact_customer): churn counts lose each touched
--     customer's share as it was and get it back as it is.
-- So a day's few changed sales cost a few index probes, not a pass over every fact; the views are plain views, always
-- consistent with the facts (no window where the KPIs lag a load), and lockable by the full load's swap.
-- The views' columns and values are those of the materialized views they replace (definitions: docs/pipelines/sales-warehouse.md).

-- The aggregates of a warehouse that has none yet (a full load's new warehouse, or the current one from before this
-- file), built from all its facts: CREATE TABLE AS, which Postgres runs with parallel workers.
CREATE OR REPLACE FUNCTION sales_etl.build_kpi_aggregates(s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format($f$
    -- fact_rows counts refunded facts too: a group of refunded sales only is still a KPI row (orders 0).
    CREATE TABLE %1$I.agg_revenue AS
      SELECT extract(year FROM sale_date)::int AS year, extract(month FROM sale_date)::int AS month, geography_key, product_key,
             count(*) FILTER (WHERE NOT refunded) AS orders, coalesce(sum(quantity) FILTER (WHERE NOT refunded), 0)::bigint AS units,
             coalesce(sum(sales_amount) FILTER (WHERE NOT refunded), 0)::numeric AS revenue,
             coalesce(sum(sales_amount) FILTER (WHERE refunded), 0)::numeric AS refunded_amount,
             coalesce(sum(discount_amount) FILTER (WHERE NOT refunded), 0)::numeric AS discounts, count(*) AS fact_rows
      FROM %1$I.sales_fact GROUP BY 1, 2, 3, 4;
    ALTER TABLE %1$I.agg_revenue ADD PRIMARY KEY (year, month, geography_key, product_key);

    CREATE TABLE %1$I.agg_daily AS
      SELECT date_key, coalesce(sum(sales_amount) FILTER (WHERE NOT refunded), 0)::numeric AS revenue, count(*) AS fact_rows
      FROM %1$I.sales_fact GROUP BY 1;
    ALTER TABLE %1$I.agg_daily ADD PRIMARY KEY (date_key);

    -- Customers with at least one non-refunded sale.
    CREATE TABLE %1$I.agg_customer AS
      SELECT customer_key, min(sale_date) AS first_purchase, max(sale_date) AS last_purchase, count(*) AS orders,
             sum(sales_amount)::numeric AS lifetime_value
      FROM %1$I.sales_fact WHERE NOT refunded GROUP BY 1;
    ALTER TABLE %1$I.agg_customer ADD PRIMARY KEY (customer_key);

    -- Per month with buyers: how many, and how many of them did not buy (not refunded) the month after.
    CREATE TABLE %1$I.agg_churn AS
      SELECT month, count(*) AS active, count(*) FILTER (WHERE churned) AS churned_next
      FROM (SELECT month, lead(month) OVER (PARTITION BY customer_key ORDER BY month) IS DISTINCT FROM (month + interval '1 month')::date AS churned
            FROM (SELECT DISTINCT customer_key, date_trunc('month', sale_date)::date AS month FROM %1$I.sales_fact WHERE NOT refunded) m) x
      GROUP BY month;
    ALTER TABLE %1$I.agg_churn ADD PRIMARY KEY (month);

    -- Whether a lead's customer bought (not refunded) within 30 days from the lead.
    CREATE TABLE %1$I.agg_lead AS
      SELECT l.lead_id, EXISTS (SELECT 1 FROM %1$I.dim_customer dc JOIN %1$I.sales_fact f USING (customer_key)
                                 WHERE dc.customer_id = l.customer_id AND NOT f.refunded AND f.sale_date >= l.lead_date AND f.sale_date < l.lead_date + 30) AS converted
      FROM %1$I.leads l;
    ALTER TABLE %1$I.agg_lead ADD PRIMARY KEY (lead_id);
  $f$, s);
END $$;

-- Applies a load's change of the facts to the aggregates: `gone` and `added` name relations shaped like sales_fact
-- (the facts the load removed, as they were, and those it inserted), `leads` one with the lead_id of every lead it
-- loaded. The same values as build_kpi_aggregates on the changed warehouse (test/workflows/sales-warehouse.kpis.test.ts).
CREATE OR REPLACE FUNCTION sales_etl.apply_to_kpi_aggregates(s text, gone text, added text, leads text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  columns text := 'sale_date, date_key, customer_key, product_key, geography_key, quantity, sales_amount, discount_amount, refunded';
  change text := format('(SELECT -1 AS sign, %1$s FROM %2$s UNION ALL SELECT 1, %1$s FROM %3$s)', columns, gone, added);
BEGIN
  DROP TABLE IF EXISTS pg_temp.kpi_customers, pg_temp.kpi_customer_facts, pg_temp.kpi_leads;
  EXECUTE format($f$
    INSERT INTO %1$I.agg_revenue AS a
      SELECT extract(year FROM sale_date)::int, extract(month FROM sale_date)::int, geography_key, product_key,
             coalesce(sum(sign) FILTER (WHERE NOT refunded), 0), coalesce(sum(sign * quantity) FILTER (WHERE NOT refunded), 0),
             coalesce(sum(sign * sales_amount) FILTER (WHERE NOT refunded), 0), coalesce(sum(sign * sales_amount) FILTER (WHERE refunded), 0),
             coalesce(sum(sign * discount_amount) FILTER (WHERE NOT refunded), 0), sum(sign)
      FROM %2$s c GROUP BY 1, 2, 3, 4
    ON CONFLICT (year, month, geography_key, product_key) DO UPDATE SET orders = a.orders + EXCLUDED.orders,
      units = a.units + EXCLUDED.units, revenue = a.revenue + EXCLUDED.revenue, refunded_amount = a.refunded_amount + EXCLUDED.refunded_amount,
      discounts = a.discounts + EXCLUDED.discounts, fact_rows = a.fact_rows + EXCLUDED.fact_rows;
    DELETE FROM %1$I.agg_revenue WHERE fact_rows = 0;

    INSERT INTO %1$I.agg_daily AS a
      SELECT date_key, coalesce(sum(sign * sales_amount) FILTER (WHERE NOT refunded), 0), sum(sign) FROM %2$s c GROUP BY 1
    ON CONFLICT (date_key) DO UPDATE SET revenue = a.revenue + EXCLUDED.revenue, fact_rows = a.fact_rows + EXCLUDED.fact_rows;
    DELETE FROM %1$I.agg_daily WHERE fact_rows = 0;

    -- The touched customers' facts now (index sales_fact_customer), for what depends on their whole history.
    CREATE TEMP TABLE kpi_customers ON COMMIT DROP AS SELECT DISTINCT customer_key FROM %2$s c;
    ANALYZE kpi_customers;
    CREATE TEMP TABLE kpi_customer_facts ON COMMIT DROP AS
      SELECT f.sale_id, f.customer_key, f.sale_date, f.sales_amount, f.refunded FROM %1$I.sales_fact f JOIN kpi_customers k USING (customer_key);
    DELETE FROM %1$I.agg_customer a USING kpi_customers k WHERE a.customer_key = k.customer_key;
    INSERT INTO %1$I.agg_customer
      SELECT customer_key, min(sale_date), max(sale_date), count(*), sum(sales_amount) FROM kpi_customer_facts WHERE NOT refunded GROUP BY 1;

    -- Each touched customer's share of the churn counts: taken out as it was (its facts now, minus those added, plus
    -- those gone), put back as it is now.
    INSERT INTO %1$I.agg_churn AS a
      SELECT month, sum(sign), coalesce(sum(sign) FILTER (WHERE churned), 0)
      FROM (SELECT sign, month, lead(month) OVER (PARTITION BY sign, customer_key ORDER BY month)
                     IS DISTINCT FROM (month + interval '1 month')::date AS churned
            FROM (SELECT DISTINCT 1 AS sign, customer_key, date_trunc('month', sale_date)::date AS month FROM kpi_customer_facts WHERE NOT refunded
                  UNION ALL
                  SELECT DISTINCT -1, customer_key, date_trunc('month', sale_date)::date
                  FROM (SELECT customer_key, sale_date, refunded FROM kpi_customer_facts f
                        WHERE NOT EXISTS (SELECT 1 FROM %3$s n WHERE n.sale_id = f.sale_id)
                        UNION ALL
                        SELECT customer_key, sale_date, refunded FROM %4$s) before
                  WHERE NOT refunded) m) x
      GROUP BY month
    ON CONFLICT (month) DO UPDATE SET active = a.active + EXCLUDED.active, churned_next = a.churned_next + EXCLUDED.churned_next;
    DELETE FROM %1$I.agg_churn WHERE active = 0;

    -- Leads loaded now, and the leads of every touched customer (their sales decide the conversion).
    CREATE TEMP TABLE kpi_leads ON COMMIT DROP AS
      SELECT lead_id FROM %5$s
      UNION
      SELECT l.lead_id FROM %1$I.leads l JOIN %1$I.dim_customer dc ON dc.customer_id = l.customer_id JOIN kpi_customers k USING (customer_key);
    INSERT INTO %1$I.agg_lead AS a
      SELECT l.lead_id, EXISTS (SELECT 1 FROM %1$I.dim_customer dc JOIN %1$I.sales_fact f USING (customer_key)
                                 WHERE dc.customer_id = l.customer_id AND NOT f.refunded AND f.sale_date >= l.lead_date AND f.sale_date < l.lead_date + 30)
      FROM %1$I.leads l JOIN kpi_leads k USING (lead_id)
    ON CONFLICT (lead_id) DO UPDATE SET converted = EXCLUDED.converted;
  $f$, s, change, added, gone, leads);
  DROP TABLE IF EXISTS pg_temp.kpi_customers, pg_temp.kpi_customer_facts, pg_temp.kpi_leads;
END $$;

-- The KPI views, over the aggregates and the dimensions (a renamed product or customer shows at once). Money in
-- kpi_revenue is rounded to cents: a sum that went back to zero reads 0.00 whichever way it got there.
CREATE OR REPLACE FUNCTION sales_etl.create_kpi_views(s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format($f$
    CREATE OR REPLACE VIEW %1$I.kpi_revenue AS
      SELECT a.year, a.month, g.region, g.state, p.category, p.product_key, p.product_id, p.product_name,
             sum(a.orders)::bigint AS orders, sum(a.units)::bigint AS units, round(sum(a.revenue), 2) AS revenue,
             round(sum(a.refunded_amount), 2) AS refunded_amount, round(sum(a.discounts), 2) AS discounts
      FROM %1$I.agg_revenue a JOIN %1$I.dim_geography g USING (geography_key) JOIN %1$I.dim_product p USING (product_key)
      GROUP BY a.year, a.month, g.region, g.state, p.category, p.product_key, p.product_id, p.product_name;

    CREATE OR REPLACE VIEW %1$I.kpi_conversion_rate AS
      SELECT date_trunc('month', l.lead_date)::date AS month, c.channel_name, count(*) AS leads, count(*) FILTER (WHERE a.converted) AS converted,
             round(count(*) FILTER (WHERE a.converted)::numeric / count(*), 4) AS conversion_rate
      FROM %1$I.leads l JOIN %1$I.agg_lead a USING (lead_id) JOIN %1$I.dim_sales_channel c USING (channel_key)
      GROUP BY 1, 2;

    CREATE OR REPLACE VIEW %1$I.kpi_customer_lifetime_value AS
      SELECT c.customer_key, c.customer_id, c.customer_name, a.first_purchase, a.last_purchase, a.orders,
             a.lifetime_value, round(a.lifetime_value / a.orders, 2) AS average_order_value
      FROM %1$I.agg_customer a JOIN %1$I.dim_customer c USING (customer_key);

    CREATE OR REPLACE VIEW %1$I.kpi_churn_rate AS
      SELECT (month + interval '1 month')::date AS month, active AS customers_previous_month, churned_next AS churned,
             round(churned_next::numeric / active, 4) AS churn_rate
      FROM %1$I.agg_churn WHERE month < (SELECT max(month) FROM %1$I.agg_churn);

    CREATE OR REPLACE VIEW %1$I.kpi_seasonality AS
      WITH span AS (SELECT min(d.date) AS first, max(d.date) AS last FROM %1$I.agg_daily a JOIN %1$I.dim_date d USING (date_key)),
      daily AS (
        SELECT d.date, d.year, d.month, d.weekday, coalesce(a.revenue, 0) AS revenue
        FROM generate_series((SELECT first FROM span), (SELECT last FROM span), interval '1 day') AS g(day)
        JOIN %1$I.dim_date d ON d.date = g.day::date
        LEFT JOIN %1$I.agg_daily a USING (date_key)),
      monthly AS (SELECT year, month, sum(revenue) AS revenue FROM daily GROUP BY year, month)
      SELECT 'month_of_year'::text AS kind, month AS period, round(avg(revenue), 2) AS average_revenue,
             round(avg(revenue) / nullif((SELECT avg(revenue) FROM monthly), 0), 4) AS seasonality_index
      FROM monthly GROUP BY month
      UNION ALL
      SELECT 'weekday', weekday, round(avg(revenue), 2), round(avg(revenue) / nullif((SELECT avg(revenue) FROM daily), 0), 4)
      FROM daily GROUP BY weekday;

    CREATE OR REPLACE VIEW %1$I.kpi_customer_segments AS
      SELECT c.rfm_segment, c.value_tier, count(*) AS customers,
             round(count(*)::numeric / sum(count(*)) OVER (), 4) AS customer_share,
             coalesce(sum(c.frequency), 0) AS orders, coalesce(sum(c.monetary), 0) AS revenue,
             round(coalesce(sum(c.monetary), 0) / nullif(sum(sum(c.monetary)) OVER (), 0), 4) AS revenue_share,
             round(sum(c.monetary) / nullif(sum(c.frequency), 0), 2) AS average_order_value,
             round(avg(c.recency_days), 1) AS average_recency_days
      FROM %1$I.dim_customer c
      GROUP BY c.rfm_segment, c.value_tier;
  $f$, s);
END $$;

-- Created with the other KPI views now.
CREATE OR REPLACE FUNCTION sales_etl.create_segment_view(s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM sales_etl.create_kpi_views(s);
END $$;

-- RFM segments (003) from the stored per-customer aggregates when no sale is dated after as_of (the usual case: a
-- pass over the customers, not the facts); otherwise from the facts up to as_of, as before. Same values either way.
CREATE OR REPLACE FUNCTION sales_etl.segment_customers(s text, as_of date) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  changed int;
  future boolean;
  base text;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.agg_customer WHERE last_purchase > $1)', s) INTO future USING as_of;
  base := CASE WHEN future THEN format($b$
      SELECT c.customer_key, ($1 - max(f.sale_date))::int AS recency_days, count(f.sale_id)::int AS frequency,
             coalesce(sum(f.sales_amount), 0)::numeric(14,2) AS monetary
      FROM %1$I.dim_customer c LEFT JOIN %1$I.sales_fact f ON f.customer_key = c.customer_key AND NOT f.refunded AND f.sale_date <= $1
      GROUP BY c.customer_key$b$, s)
    ELSE format($b$
      SELECT c.customer_key, ($1 - a.last_purchase)::int AS recency_days, coalesce(a.orders, 0)::int AS frequency,
             coalesce(a.lifetime_value, 0)::numeric(14,2) AS monetary
      FROM %1$I.dim_customer c LEFT JOIN %1$I.agg_customer a USING (customer_key)$b$, s) END;
  EXECUTE format($f$
    WITH base AS (%2$s),
    scored AS (
      SELECT customer_key, recency_days, frequency, monetary,
             least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY recency_days DESC)))::smallint AS r,
             least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY frequency)))::smallint AS f,
             least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY monetary)))::smallint AS m,
             cume_dist() OVER (ORDER BY monetary) AS m_rank
      FROM base WHERE frequency > 0),
    segmented AS (
      SELECT b.customer_key, b.recency_days, b.frequency, b.monetary, s.r, s.f, s.m,
        CASE
          WHEN s.r IS NULL THEN 'no_purchase'
          WHEN s.r >= 4 AND s.f >= 4 AND s.m >= 4 THEN 'champions'
          WHEN s.r >= 3 AND s.f >= 4 THEN 'loyal'
          WHEN s.r >= 4 AND s.f <= 1 THEN 'new'
          WHEN s.r >= 3 AND s.f >= 2 THEN 'potential_loyalist'
          WHEN s.r >= 3 THEN 'promising'
          WHEN s.r <= 2 AND s.f >= 3 THEN 'at_risk'
          WHEN s.r <= 2 AND s.f <= 2 AND s.m >= 4 THEN 'cannot_lose'
          WHEN s.r = 1 THEN 'lost'
          ELSE 'hibernating'
        END AS rfm_segment,
        CASE WHEN s.r IS NULL THEN 'none' WHEN s.m_rank > 0.8 THEN 'high' WHEN s.m_rank > 0.5 THEN 'medium' ELSE 'low' END AS value_tier
      FROM base b LEFT JOIN scored s USING (customer_key)),
    written AS (
      UPDATE %1$I.dim_customer d SET recency_days = x.recency_days, frequency = x.frequency, monetary = x.monetary,
             r_score = x.r, f_score = x.f, m_score = x.m, rfm_segment = x.rfm_segment, value_tier = x.value_tier, segmented_as_of = $1
      FROM segmented x
      WHERE d.customer_key = x.customer_key
        AND (d.recency_days, d.frequency, d.monetary, d.r_score, d.f_score, d.m_score, d.rfm_segment, d.value_tier, d.segmented_as_of)
            IS DISTINCT FROM (x.recency_days, x.frequency, x.monetary, x.r, x.f, x.m, x.rfm_segment, x.value_tier, $1)
      RETURNING 1)
    SELECT count(*) FROM written
  $f$, s, base) INTO changed USING as_of;
  RETURN changed;
END $$;

-- The current warehouse: its materialized views give way to the views over its aggregates.
DO $$
DECLARE v text;
BEGIN
  FOR v IN SELECT matviewname FROM pg_matviews WHERE schemaname = 'sales_dw' AND matviewname LIKE 'kpi\_%' LOOP
    EXECUTE format('DROP MATERIALIZED VIEW sales_dw.%I', v);
  END LOOP;
END $$;
SELECT sales_etl.build_kpi_aggregates('sales_dw');
SELECT sales_etl.create_kpi_views('sales_dw');
SELECT sales_etl.grant_bi_reader('sales_dw');
