-- How a sync run found its changed rows, and what it saw of the source while it ran.
ALTER TABLE etl_control
  -- 'snapshot': rows written by any transaction not finished before the previous run's snapshot (xmin);
  -- 'updated_at': rows whose updated_at is at or after the previous watermark minus the overlap.
  ADD COLUMN IF NOT EXISTS change_detection     text,
  -- The source's pg_current_snapshot() when the run began (before its first read), as text.
  ADD COLUMN IF NOT EXISTS source_snapshot      text,
  -- The source's now() when the run began: the watermark never passes it.
  ADD COLUMN IF NOT EXISTS source_now           timestamptz,
  -- Rows dated after source_now (a clock-skewed writer): loaded and counted, but they never move the watermark.
  ADD COLUMN IF NOT EXISTS rows_future_dated    bigint NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS warnings             text[] NOT NULL DEFAULT '{}',
  -- Who started the run: schedule:<id>, cli:<user>, ui, api:<name>.
  ADD COLUMN IF NOT EXISTS triggered_by         text;

-- The sync document's function: where the next incremental run of source -> target starts.
CREATE OR REPLACE FUNCTION get_last_successful_watermark(p_source text, p_target text)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT watermark FROM etl_control
   WHERE source_table = p_source AND target_table = p_target AND status = 'success' AND watermark IS NOT NULL
   ORDER BY finished_at DESC LIMIT 1
$$;
