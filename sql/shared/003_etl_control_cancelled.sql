-- A run cancelled (from the Web UI or the CLI) is `cancelled`, not `failed`: nothing went wrong with the data.
ALTER TABLE etl_control DROP CONSTRAINT IF EXISTS etl_control_status_check;
ALTER TABLE etl_control ADD CONSTRAINT etl_control_status_check
  CHECK (status IN ('running', 'success', 'failed', 'cancelled'));
