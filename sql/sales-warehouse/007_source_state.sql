-- What an incremental run may skip, per source (activities/sales-warehouse/extract.ts): a file source's files by
-- version (S3 ETag and size; a local file's size, mtime, ctime and inode) and rows, a database source's bound and the
-- fingerprint of its stamped rows, a REST source's updated-since cursor. `config` is a hash of the source's settings:
-- a source whose settings changed is read whole. Written only in the load's transaction (the rows the state vouches
-- for commit with it): a run that fails before then leaves the previous state, so its files are read again.
CREATE TABLE IF NOT EXISTS sales_etl.source_state (
  source      text        PRIMARY KEY,
  config      text        NOT NULL,
  state       jsonb       NOT NULL,
  run_id      text        NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
-- A run's state as its extraction found it, waiting for the load to commit it (removed with the run's staging).
CREATE TABLE IF NOT EXISTS sales_etl.source_state_pending (
  run_id      text        NOT NULL,
  source      text        NOT NULL,
  config      text        NOT NULL,
  state       jsonb       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, source)
);
