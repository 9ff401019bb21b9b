-- The facts' index by customer apart from the others: the leads' conversion (agg_lead, 008) looks each lead's sales
-- up by customer, so a full load builds this index first, then the other indexes beside the KPI aggregates, on two
-- connections (an index of a monthly partition is built on one core).
CREATE OR REPLACE FUNCTION sales_etl.index_customer_sales(s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE INDEX IF NOT EXISTS sales_fact_customer ON %I.sales_fact (customer_key, sale_date)', s);
END $$;

CREATE OR REPLACE FUNCTION sales_etl.index_warehouse(s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM sales_etl.index_customer_sales(s);
  EXECUTE format($f$
    CREATE INDEX IF NOT EXISTS sales_fact_sale_id ON %1$I.sales_fact (sale_id);
    CREATE INDEX IF NOT EXISTS sales_fact_date ON %1$I.sales_fact (date_key);
    CREATE INDEX IF NOT EXISTS sales_fact_product ON %1$I.sales_fact (product_key);
    CREATE INDEX IF NOT EXISTS sales_fact_geography ON %1$I.sales_fact (geography_key);
  $f$, s);
END $$;
