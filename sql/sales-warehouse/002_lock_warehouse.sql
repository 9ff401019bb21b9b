-- Locks every table of a warehouse schema (the facts first, then the dimensions and the rest) for the full load's
-- swap, so that a query reads the old warehouse or the new one, never both (see activities/sales-warehouse/load.ts).
-- Materialized views cannot be locked; a query reads them through their name lookup like any other relation.
CREATE OR REPLACE FUNCTION sales_etl.lock_warehouse(s text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c
            WHERE c.relnamespace = s::regnamespace AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
            ORDER BY c.relname <> 'sales_fact', c.relkind = 'v', c.relname
  LOOP
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', r.rel);
  END LOOP;
END $$;
