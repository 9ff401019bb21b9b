-- The segment view is built with the other KPI views (008's create_kpi_views); its own builder (003) has no caller left.
DROP FUNCTION IF EXISTS sales_etl.create_segment_view(text);
