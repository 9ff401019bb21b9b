-- crmFeatures: the rest of the document's feature set (about 45 columns), formulas in docs/pipelines/crm-features.md.
-- Added at the end of the table; existing columns keep their names and types.
ALTER TABLE ml_features.user_features
  ADD COLUMN IF NOT EXISTS bet_count                          integer,
  ADD COLUMN IF NOT EXISTS win_rate                           numeric(12,4),
  ADD COLUMN IF NOT EXISTS game_type_entropy                  numeric(6,4),
  ADD COLUMN IF NOT EXISTS total_bet_amount                   numeric(14,2),
  ADD COLUMN IF NOT EXISTS total_win_amount                   numeric(14,2),
  ADD COLUMN IF NOT EXISTS net_gaming_revenue                 numeric(14,2),
  ADD COLUMN IF NOT EXISTS bet_amount_p50                     numeric(12,2),
  ADD COLUMN IF NOT EXISTS bet_amount_p90                     numeric(12,2),
  ADD COLUMN IF NOT EXISTS bonus_usage_share                  numeric(6,4),
  ADD COLUMN IF NOT EXISTS tenure_days                        integer,
  ADD COLUMN IF NOT EXISTS days_active_7d                     smallint,
  ADD COLUMN IF NOT EXISTS days_active_30d                    smallint,
  ADD COLUMN IF NOT EXISTS days_active_90d                    smallint,
  ADD COLUMN IF NOT EXISTS spend_trend_30d                    numeric(6,4),
  ADD COLUMN IF NOT EXISTS night_activity_share               numeric(6,4),
  ADD COLUMN IF NOT EXISTS session_count                      integer,
  ADD COLUMN IF NOT EXISTS avg_session_minutes                numeric(10,2),
  ADD COLUMN IF NOT EXISTS avg_hours_between_transactions     numeric(12,4),
  ADD COLUMN IF NOT EXISTS stddev_hours_between_transactions  numeric(12,4),
  ADD COLUMN IF NOT EXISTS rfm_score                          smallint,
  ADD COLUMN IF NOT EXISTS churn_label                        smallint;
