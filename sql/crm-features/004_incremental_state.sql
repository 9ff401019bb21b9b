-- crmFeatures incremental mode: per dataset (sourceTable|lakePrefix), where the last successful incremental run left
-- off. Its tables (ml_features.crm_inc_<state_id>_{copies,rejects,aggregates,files}) are created by the runs.
CREATE TABLE IF NOT EXISTS ml_features.incremental_state (
  dataset          text PRIMARY KEY,
  state_id         text        NOT NULL,
  generation       bigint      NOT NULL,
  as_of            timestamp   NOT NULL,
  source_snapshot  text        NOT NULL,
  table_rows       bigint      NOT NULL,
  signature        text        NOT NULL,
  applied_by       text        NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now()
);
