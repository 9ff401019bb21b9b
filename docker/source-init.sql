-- Runs once, when the `source` container's data volume is first created (as postgres, in etl_source).
-- etl_reader: the read-only user the pipelines read the source with (SOURCE_DATABASE_URL).
CREATE ROLE etl_reader LOGIN PASSWORD 'etl_reader';
GRANT CONNECT ON DATABASE etl_source TO etl_reader;
GRANT USAGE ON SCHEMA public TO etl_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO etl_reader;
-- Tables created later by postgres (e.g. `npx etl sample-data conversations`) are readable too.
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON TABLES TO etl_reader;
ALTER ROLE etl_reader SET default_transaction_read_only = on;
