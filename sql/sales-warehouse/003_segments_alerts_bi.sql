-- salesWarehouse: customer segmentation (RFM and value tier on dim_customer), the KPI view by segment, the anomaly
-- alerts' table, and the read-only role for BI tools. Definitions: docs/pipelines/sales-warehouse.md.

-- The segment columns of dim_customer (a full load builds a new warehouse: it calls this on it too).
CREATE OR REPLACE FUNCTION sales_etl.add_segment_columns(s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format($f$
    ALTER TABLE %1$I.dim_customer
      ADD COLUMN IF NOT EXISTS recency_days int,
      ADD COLUMN IF NOT EXISTS frequency int,
      ADD COLUMN IF NOT EXISTS monetary numeric(14,2),
      ADD COLUMN IF NOT EXISTS r_score smallint,
      ADD COLUMN IF NOT EXISTS f_score smallint,
      ADD COLUMN IF NOT EXISTS m_score smallint,
      ADD COLUMN IF NOT EXISTS rfm_segment text,
      ADD COLUMN IF NOT EXISTS value_tier text,
      ADD COLUMN IF NOT EXISTS segmented_as_of date;
  $f$, s);
END $$;

-- Recomputes every customer's RFM scores, segment and value tier as of a day (type 1: overwritten in place; only
-- customers whose values changed are written). Each score is 1-5, min(5, 1 + floor(5 * percent_rank)), so customers
-- with equal values share the lower score: R ranks fewer days since the last non-refunded purchase higher, F more
-- non-refunded orders, M more non-refunded revenue. Value tier by cume_dist of M: top 20% high, next 30% medium.
-- Customers with no non-refunded purchase get segment 'no_purchase', tier 'none' and no scores.
CREATE OR REPLACE FUNCTION sales_etl.segment_customers(s text, as_of date) RETURNS int LANGUAGE plpgsql AS $$
DECLARE changed int;
BEGIN
  EXECUTE format($f$
    WITH base AS (
      SELECT c.customer_key, ($1 - max(f.sale_date))::int AS recency_days, count(f.sale_id)::int AS frequency,
             coalesce(sum(f.sales_amount), 0)::numeric(14,2) AS monetary
      FROM %1$I.dim_customer c LEFT JOIN %1$I.sales_fact f ON f.customer_key = c.customer_key AND NOT f.refunded AND f.sale_date <= $1
      GROUP BY c.customer_key),
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
  $f$, s) INTO changed USING as_of;
  RETURN changed;
END $$;

-- The KPI view by segment (refreshed with the others).
CREATE OR REPLACE FUNCTION sales_etl.create_segment_view(s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format($f$
    CREATE MATERIALIZED VIEW IF NOT EXISTS %1$I.kpi_customer_segments AS
      SELECT c.rfm_segment, c.value_tier, count(*) AS customers,
             round(count(*)::numeric / sum(count(*)) OVER (), 4) AS customer_share,
             coalesce(sum(c.frequency), 0) AS orders, coalesce(sum(c.monetary), 0) AS revenue,
             round(coalesce(sum(c.monetary), 0) / nullif(sum(sum(c.monetary)) OVER (), 0), 4) AS revenue_share,
             round(sum(c.monetary) / nullif(sum(c.frequency), 0), 2) AS average_order_value,
             round(avg(c.recency_days), 1) AS average_recency_days
      FROM %1$I.dim_customer c
      GROUP BY c.rfm_segment, c.value_tier;
    CREATE UNIQUE INDEX IF NOT EXISTS kpi_customer_segments_key ON %1$I.kpi_customer_segments (rfm_segment, value_tier);
  $f$, s);
END $$;

-- Anomalies found after a load: one row per day and KPI (a later load that sees the day again updates it).
CREATE TABLE IF NOT EXISTS sales_etl.anomalies (
  id           bigserial PRIMARY KEY,
  day          date        NOT NULL,
  kpi          text        NOT NULL,
  value        numeric     NOT NULL,
  median       numeric     NOT NULL,
  mad          numeric     NOT NULL,
  robust_z     numeric,
  direction    text        NOT NULL CHECK (direction IN ('up', 'down')),
  history      numeric[]   NOT NULL,
  workflow_id  text        NOT NULL,
  run_id       text        NOT NULL,
  detected_at  timestamptz NOT NULL DEFAULT now(),
  notified_at  timestamptz,
  notify_error text,
  UNIQUE (day, kpi)
);

-- Read access for BI tools (Power BI, Tableau, Metabase): the role `bi_reader` may read sales_dw (star schema and KPI
-- views) and nothing else, read-only. It is created without login; a DBA gives it one (docs/pipelines/sales-warehouse.md).
-- Grants follow every full load's new warehouse (the load calls grant_bi_reader on it before the swap).
CREATE OR REPLACE FUNCTION sales_etl.grant_bi_reader(s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bi_reader') THEN RETURN; END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %1$I TO bi_reader; GRANT SELECT ON ALL TABLES IN SCHEMA %1$I TO bi_reader', s);
END $$;

-- Where the ETL's user may not create roles, or grant on the database, a DBA does it (the notice says so).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bi_reader') THEN
    IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
      RAISE NOTICE 'role bi_reader not created: % may not create roles (docs/pipelines/sales-warehouse.md, BI access)', current_user;
      RETURN;
    END IF;
    CREATE ROLE bi_reader NOLOGIN;
    ALTER ROLE bi_reader SET default_transaction_read_only = on;
  END IF;
  BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO bi_reader', current_database());
  EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'CONNECT on database % not granted to bi_reader: % may not grant it', current_database(), current_user;
  END;
END $$;

SELECT sales_etl.add_segment_columns('sales_dw');
SELECT sales_etl.segment_customers('sales_dw', current_date);
SELECT sales_etl.create_segment_view('sales_dw');
SELECT sales_etl.grant_bi_reader('sales_dw');
