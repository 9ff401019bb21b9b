-- crmFeatures: per-user ML features for the CRM's clustering models, and every run's quality report.
CREATE SCHEMA IF NOT EXISTS ml_features;

CREATE TABLE IF NOT EXISTS ml_features.user_features (
  user_id                       varchar(50) PRIMARY KEY,
  favorite_game_type            text,
  game_diversity_score          numeric(6,4),
  bet_volatility                numeric(12,4),
  ticket_medio                  numeric(12,2),
  ticket_medio_categoria        text,
  total_transactions            integer     NOT NULL,
  total_deposits                numeric(14,2),
  total_withdrawals             numeric(14,2),
  balance_ratio                 numeric(14,4),
  dias_semana_preferidos        text,
  horarios_atividade            text,
  weekend_activity_ratio        numeric(6,4),
  activity_regularity           numeric(6,4),
  frequencia_jogo               numeric(12,4),
  recency_days                  integer,
  recency_score                 smallint,
  frequency_score               smallint,
  monetary_score                smallint,
  rfm_segment                   text,
  customer_lifetime_value_score numeric(6,4),
  churn_risk_score              numeric(6,4),
  behavioral_diversity_score    numeric(6,4),
  canal_preferido               text,
  last_transaction_at           timestamp,
  updated_at                    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ml_features.quality_reports (
  id           bigserial PRIMARY KEY,
  workflow_id  text        NOT NULL,
  run_id       text        NOT NULL,
  score        numeric(5,4) NOT NULL,
  grade        char(1)     NOT NULL,
  passed       boolean     NOT NULL,
  report       jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS quality_reports_created ON ml_features.quality_reports (created_at DESC);
