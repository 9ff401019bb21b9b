-- A delivery stopped by a cancelled run is closed as 'cancelled' (error_message says so, finished_at set): no
-- temporary file is left in the dialer's folder, and the next run for the slot delivers it.
ALTER TABLE mailing_deliveries DROP CONSTRAINT IF EXISTS mailing_deliveries_status_check;
ALTER TABLE mailing_deliveries ADD CONSTRAINT mailing_deliveries_status_check
  CHECK (status IN ('renaming', 'delivered', 'already-present', 'empty-not-sent', 'failed', 'invalid', 'cancelled'));
