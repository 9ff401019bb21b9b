-- A campaign file that does not validate is recorded too (status 'invalid', the validation message in
-- error_message): it has no file name or remote path, since its configuration could not be read.
ALTER TABLE mailing_deliveries ALTER COLUMN file_name DROP NOT NULL, ALTER COLUMN remote_path DROP NOT NULL;
ALTER TABLE mailing_deliveries DROP CONSTRAINT IF EXISTS mailing_deliveries_status_check;
ALTER TABLE mailing_deliveries ADD CONSTRAINT mailing_deliveries_status_check
  CHECK (status IN ('renaming', 'delivered', 'already-present', 'empty-not-sent', 'failed', 'invalid'));
