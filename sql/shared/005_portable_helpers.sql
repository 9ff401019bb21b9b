-- What the pipelines' SQL needs from Postgres, on every supported major (14 to 18): a newer major's feature is used
-- behind a version check, with an equivalent on the older ones.

DO $do$
DECLARE
  major int := current_setting('server_version_num')::int / 10000;
  libc_utf8 text;
BEGIN
  -- etl_input_is_valid(value, type): whether a cast of value to type would work, without raising.
  -- 16+: pg_input_is_valid, wrapped in an SQL function the planner inlines (no call per row).
  -- 14 and 15: the cast itself in a block that catches the data error (a subtransaction per call: slower, same answers).
  IF major >= 16 THEN
    CREATE OR REPLACE FUNCTION public.etl_input_is_valid(value text, type text) RETURNS boolean
      LANGUAGE sql STABLE STRICT PARALLEL SAFE AS 'SELECT pg_input_is_valid(value, type)';
  ELSE
    CREATE OR REPLACE FUNCTION public.etl_input_is_valid(value text, type text) RETURNS boolean
      LANGUAGE plpgsql STABLE STRICT AS $f$
    BEGIN
      CASE type
        WHEN 'date' THEN PERFORM value::date;
        WHEN 'timestamp' THEN PERFORM value::timestamp;
        WHEN 'uuid' THEN PERFORM value::uuid;
        ELSE EXECUTE format('SELECT %L::%s', value, type);
      END CASE;
      RETURN true;
    EXCEPTION WHEN data_exception THEN
      RETURN false;
    END
    $f$;
  END IF;

  -- etl_unicode: a collation whose lower(), upper() and initcap() map every Unicode letter (É -> é), whatever the
  -- database's own locale (C maps ASCII only). 17+: the built-in pg_c_utf8. Older: the C.UTF-8 libc locale, else ICU.
  IF NOT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'etl_unicode' AND collnamespace = 'public'::regnamespace) THEN
    IF major >= 17 THEN
      CREATE COLLATION public.etl_unicode FROM pg_catalog.pg_c_utf8;
    ELSE
      SELECT collname INTO libc_utf8 FROM pg_collation
        WHERE collprovider = 'c' AND lower(replace(collname, '-', '')) = 'c.utf8'
          AND collencoding IN (-1, pg_char_to_encoding('UTF8'))
        ORDER BY collname LIMIT 1;
      IF libc_utf8 IS NOT NULL THEN
        EXECUTE format('CREATE COLLATION public.etl_unicode FROM pg_catalog.%I', libc_utf8);
      ELSIF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
        CREATE COLLATION public.etl_unicode FROM pg_catalog."und-x-icu";
      ELSE
        RAISE EXCEPTION 'Postgres % has neither the C.UTF-8 locale nor ICU, which the pipelines need for Unicode case mapping', major
          USING HINT = 'install the C.UTF-8 locale on the database server (Debian: locales), or use Postgres 17 or newer';
      END IF;
    END IF;
  END IF;
END
$do$;
