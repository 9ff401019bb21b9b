-- marketingEnrichment: the customers as last read, which customers each run covers, and one message per
-- customer, campaign and prompt version, written as soon as its batch returns.
CREATE TABLE IF NOT EXISTS marketing_customers (
  customer_id  text PRIMARY KEY,
  name         text        NOT NULL,
  email        text,
  city         text,
  state        text,
  interest     text        NOT NULL,
  signup_date  date,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The customers of one run (from its file, in file order); `batch` groups the ones still without a message.
CREATE TABLE IF NOT EXISTS marketing_run_customers (
  workflow_id  text    NOT NULL,
  customer_id  text    NOT NULL,
  line         integer NOT NULL,
  batch        integer,
  PRIMARY KEY (workflow_id, customer_id)
);
CREATE INDEX IF NOT EXISTS marketing_run_customers_batch ON marketing_run_customers (workflow_id, batch);

CREATE TABLE IF NOT EXISTS marketing_messages (
  customer_id     text        NOT NULL,
  campaign        text        NOT NULL,
  -- First 12 hex digits of the SHA-256 of the prompt template, word limit and tone.
  prompt_version  text        NOT NULL,
  status          text        NOT NULL CHECK (status IN ('enriched', 'failed')),
  message         text,
  word_count      integer,
  failure_reason  text,
  provider        text        NOT NULL CHECK (provider IN ('gemini', 'offline')),
  model           text,
  workflow_id     text        NOT NULL,
  run_id          text        NOT NULL,
  batch           integer,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (customer_id, campaign, prompt_version)
);
