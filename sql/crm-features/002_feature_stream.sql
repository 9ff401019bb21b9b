-- crmFeaturesStream: the clean transactions the stream recomputes users from, and every batch it has applied
-- (a batch id is applied once, whatever retries, crashes or continue-as-new happen).
CREATE TABLE IF NOT EXISTS ml_features.clean_transactions (
  transaction_id   uuid PRIMARY KEY,
  user_id          varchar(50)   NOT NULL,
  amount           numeric(10,2) NOT NULL,
  transaction_type text          NOT NULL,
  created_at       timestamp     NOT NULL,
  game_type        text,
  channel          text,
  source           text          NOT NULL,
  stored_at        timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS clean_transactions_user ON ml_features.clean_transactions (user_id);

CREATE TABLE IF NOT EXISTS ml_features.stream_batches (
  batch_id     text PRIMARY KEY,
  stream_id    text        NOT NULL,
  s3_key       text        NOT NULL,
  rows         integer     NOT NULL,
  quarantined  integer     NOT NULL,
  users        integer     NOT NULL,
  applied_at   timestamptz NOT NULL DEFAULT now()
);
