-- Files the lake watcher (workflow salesLakeWatcher) has started a salesWarehouse run for, by key and ETag: a new
-- ETag (the file was replaced) is a new file. The run's workflow id is derived from both, so a start repeated after
-- a crash finds the run already there instead of loading the file twice.
CREATE TABLE IF NOT EXISTS sales_etl.lake_files (
  key         text        NOT NULL,
  etag        text        NOT NULL,
  size        bigint      NOT NULL,
  workflow_id text        NOT NULL,
  watcher_id  text        NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (key, etag)
);
