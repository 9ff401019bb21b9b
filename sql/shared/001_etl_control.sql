-- Every run of a pipeline that moves rows records itself here: what it read, wrote and skipped.
CREATE TABLE IF NOT EXISTS etl_control (
  id                     bigserial PRIMARY KEY,
  pipeline               text        NOT NULL,
  workflow_id            text        NOT NULL,
  run_id                 text        NOT NULL,
  source_table           text        NOT NULL,
  target_table           text        NOT NULL,
  mode                   text        NOT NULL CHECK (mode IN ('incremental', 'full')),
  status                 text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'success', 'failed')),
  started_at             timestamptz NOT NULL DEFAULT now(),
  finished_at            timestamptz,
  rows_extracted         bigint      NOT NULL DEFAULT 0,
  rows_inserted          bigint      NOT NULL DEFAULT 0,
  rows_updated           bigint      NOT NULL DEFAULT 0,
  rows_unchanged         bigint      NOT NULL DEFAULT 0,
  rows_quarantined       bigint      NOT NULL DEFAULT 0,
  values_nulled          bigint      NOT NULL DEFAULT 0,
  rows_missing_at_source bigint,
  rows_deleted           bigint      NOT NULL DEFAULT 0,
  batches                integer     NOT NULL DEFAULT 0,
  -- Rows were read from watermark_from (minus the overlap window); watermark is the newest updated_at merged.
  watermark_from         timestamptz,
  watermark              timestamptz,
  -- Keyset position of the last committed batch: a retried attempt resumes after it.
  last_key               jsonb,
  error_message          text,
  UNIQUE (workflow_id, run_id)
);
CREATE INDEX IF NOT EXISTS etl_control_last_success
  ON etl_control (source_table, target_table, finished_at DESC) WHERE status = 'success';

CREATE OR REPLACE VIEW vw_etl_stats AS
SELECT pipeline,
       source_table,
       target_table,
       count(*)                                          AS runs,
       count(*) FILTER (WHERE status = 'success')        AS succeeded,
       count(*) FILTER (WHERE status = 'failed')         AS failed,
       max(finished_at) FILTER (WHERE status = 'success') AS last_success_at,
       max(watermark) FILTER (WHERE status = 'success')   AS current_watermark,
       sum(rows_extracted)                               AS rows_extracted,
       sum(rows_inserted)                                AS rows_inserted,
       sum(rows_updated)                                 AS rows_updated,
       sum(rows_quarantined)                             AS rows_quarantined,
       round(avg(extract(epoch FROM finished_at - started_at))::numeric, 2) AS avg_duration_s
FROM etl_control
WHERE started_at > now() - interval '30 days'
GROUP BY pipeline, source_table, target_table;

-- Rows a pipeline could not load, kept whole with the reason, so nothing accepted is silently lost.
CREATE TABLE IF NOT EXISTS etl_quarantine (
  id             bigserial PRIMARY KEY,
  pipeline       text        NOT NULL,
  workflow_id    text        NOT NULL,
  run_id         text        NOT NULL,
  source_table   text        NOT NULL,
  row_data       jsonb       NOT NULL,
  reason         text        NOT NULL,
  quarantined_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS etl_quarantine_run ON etl_quarantine (workflow_id, run_id);

CREATE SCHEMA IF NOT EXISTS etl_staging;
