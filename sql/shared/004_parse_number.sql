-- Numbers written by people, read the same way by every pipeline (rules: docs/architecture.md#numbers-in-files).
-- Inlinable SQL (one expression, no exception handling): a statement over millions of rows calls no function per row.

-- Currency marks and spaces dropped: `R$ 1.234,56` -> `1.234,56`.
CREATE OR REPLACE FUNCTION etl_number_text(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT regexp_replace(t, '(R\$|US\$|€|\$|\s)', '', 'g')
$$;

-- The one shape both conventions read, differently: 1 to 3 digits (not starting with 0), one `.` or `,`, 3 digits.
CREATE OR REPLACE FUNCTION etl_number_ambiguous(t text, locale text) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT locale NOT IN ('pt-BR', 'en-US') AND etl_number_text(t) ~ '^[-+]?[1-9]\d{0,2}[.,]\d{3}$'
$$;

-- The value of t under locale ('pt-BR', 'en-US' or 'auto'); NULL when t is no number, or ambiguous under 'auto'.
-- A shape only one convention reads is read that way under any locale (`1.234,56`, `12,50`, `1,234.56`, `0.500`);
-- the locale decides the shapes both read: `1.234` is 1234 in pt-BR and 1.234 in en-US.
CREATE OR REPLACE FUNCTION etl_parse_number_text(v text, locale text) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN v ~ '^[-+]?\d+$' THEN v::numeric
    WHEN v ~ '^[-+]?[1-9]\d{0,2}[.,]\d{3}$' THEN CASE locale
      WHEN 'pt-BR' THEN replace(replace(v, '.', ''), ',', '.')::numeric
      WHEN 'en-US' THEN replace(v, ',', '')::numeric END
    WHEN v ~ '^[-+]?\d*\.\d+$' THEN v::numeric
    WHEN v ~ '^[-+]?\d*,\d+$' THEN replace(v, ',', '.')::numeric
    WHEN v ~ '^[-+]?[1-9]\d{0,2}(\.\d{3})+(,\d+)?$' THEN replace(replace(v, '.', ''), ',', '.')::numeric
    WHEN v ~ '^[-+]?[1-9]\d{0,2}(,\d{3})+(\.\d+)?$' THEN replace(v, ',', '')::numeric
  END
$$;

CREATE OR REPLACE FUNCTION etl_parse_number(t text, locale text) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT etl_parse_number_text(etl_number_text(t), locale)
$$;
