-- The warehouse's number parsers read through the one every pipeline shares (sql/shared/004_parse_number.sql); the
-- clean step calls that one with each source's locale, these keep their names for queries written against them.
CREATE OR REPLACE FUNCTION sales_etl.parse_decimal(v text) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT etl_parse_number(v, 'auto')
$$;
CREATE OR REPLACE FUNCTION sales_etl.parse_money(t text) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT etl_parse_number(t, 'auto')
$$;
