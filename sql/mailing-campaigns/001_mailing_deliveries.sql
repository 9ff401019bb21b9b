-- What each dialer got, one row per campaign and slot: "what did the dialer get at 14:00?" is one query.
--   SELECT campaign, status, file_name, rows, bytes FROM mailing_deliveries
--    WHERE slot = '2025-12-22 14:00 America/Sao_Paulo'::timestamptz;
-- The row is also the delivery's journal: it is written ('renaming') before the temporary file is renamed, so a
-- retry after a crash knows whether the rename happened.
CREATE TABLE IF NOT EXISTS mailing_deliveries (
  id            bigserial   PRIMARY KEY,
  campaign      text        NOT NULL,
  slot          timestamptz NOT NULL,
  status        text        NOT NULL CHECK (status IN ('renaming', 'delivered', 'already-present', 'empty-not-sent', 'failed')),
  file_name     text        NOT NULL,
  remote_path   text        NOT NULL,
  rows          bigint,
  bytes         bigint,
  sha256        text,
  sql_file      text,
  workflow_id   text        NOT NULL,
  run_id        text        NOT NULL,
  error_message text,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  UNIQUE (campaign, slot)
);

CREATE INDEX IF NOT EXISTS mailing_deliveries_slot ON mailing_deliveries (slot);
