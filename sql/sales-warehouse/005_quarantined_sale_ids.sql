-- An incremental run looks up whether a sale it has never loaded was already quarantined, unchanged, by an earlier run
-- (activities/sales-warehouse/clean.ts): by its raw sale_id.
CREATE INDEX IF NOT EXISTS etl_quarantine_sales_sale_id ON etl_quarantine ((row_data->>'sale_id')) WHERE pipeline = 'salesWarehouse';
