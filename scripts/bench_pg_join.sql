-- The pg_join baseline of scripts/bench.sh: the whole vendor-match job done
-- inside PostgreSQL, to compare the pipeline against (SPEC §4-§6).
--
-- Run in the SOURCE database (our "user" and user_practice tables are read in
-- place, not copied), in a fresh schema the caller drops afterwards:
--
--   psql "$SRC" -X -q -v ON_ERROR_STOP=1 -v report_date=2017-02-02 -v active_days=30 \
--        -f scripts/bench_pg_join.sql < vendor.tsv
--
-- vendor.tsv (COPY text format: id, page, position, firstname, lastname,
-- specialty, practice_location, user_type_classification, last_active_date)
-- is made by `bench_report.py vendor-tsv`, which also drops the records the
-- pipeline rejects (no usable id, a date that does not parse).

CREATE SCHEMA bench_pg_join;
SET search_path = bench_pg_join, public;

-- One key field, normalized as SPEC §4 says: NFKC, lowercase, '_' as a space,
-- whitespace runs collapsed, trimmed; NULL when missing or empty. Plain SQL
-- functions of one expression, so the planner inlines them.
CREATE FUNCTION norm(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(btrim(regexp_replace(replace(lower(normalize(t, NFKC)), '_', ' '), '\s+', ' ', 'g'), ' '), '') $$;

-- '\' and '|' inside a field are escaped with '\', so the key is injective.
CREATE FUNCTION esc(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT replace(replace(t, '\', '\\'), '|', '\|') $$;

-- lastname|firstname|specialty|location; NULL (unmatchable) when any field is.
CREATE FUNCTION match_key(l text, f text, s text, loc text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT esc(norm(l)) || '|' || esc(norm(f)) || '|' || esc(norm(s)) || '|' || esc(norm(loc)) $$;

CREATE TABLE vendor_staging (
  id bigint NOT NULL,
  page integer NOT NULL,
  position integer NOT NULL,
  firstname text,
  lastname text,
  specialty text,
  practice_location text,
  user_type_classification text,
  last_active_date date
);
\copy vendor_staging FROM pstdin
ANALYZE vendor_staging;

CREATE TABLE result (
  report_date date NOT NULL,
  run_id text NOT NULL,
  match_status text NOT NULL,
  match_key text,
  internal_user_id bigint,
  vendor_user_id bigint,
  firstname text,
  lastname text,
  specialty text,
  practice_location text,
  internal_classification text,
  internal_platform_registered_on text,
  internal_last_active_date date,
  internal_is_active boolean,
  vendor_classification text,
  vendor_last_active_date date,
  vendor_is_active boolean
);

INSERT INTO result
WITH vendor AS (
  -- One record per vendor id: the highest page wins, then the later position.
  SELECT DISTINCT ON (id) *
  FROM vendor_staging
  ORDER BY id, page DESC, position DESC
), records AS (
  SELECT 'v'::"char" AS side, match_key(lastname, firstname, specialty, practice_location) AS k,
         id, firstname, lastname, specialty,
         replace(practice_location, '_', ' ') AS location,  -- shown as our database writes it
         user_type_classification AS classification, NULL::text AS registered_on, last_active_date
  FROM vendor
  UNION ALL
  SELECT 'i'::"char", match_key(u.lastname, u.firstname, u.specialty, p.location),
         u.id, u.firstname, u.lastname, u.specialty, p.location,
         u.classification, u.platform_registered_on, u.last_active_date
  FROM public."user" u LEFT JOIN public.user_practice p ON p.id = u.practice_id
), counted AS (
  -- Records per key on each side; a key is matchable only as exactly one vendor and one internal record.
  SELECT r.*, CASE WHEN nv = 1 AND ni = 1 THEN k END AS pair_key
  FROM (
    SELECT r.*,
           count(*) FILTER (WHERE side = 'v') OVER w AS nv,
           count(*) FILTER (WHERE side = 'i') OVER w AS ni
    FROM records r
    WINDOW w AS (PARTITION BY k)
  ) r
), v AS (
  SELECT * FROM counted WHERE side = 'v'
), i AS (
  SELECT * FROM counted WHERE side = 'i'
)
SELECT
  DATE :'report_date',
  'pg_join',
  CASE
    WHEN COALESCE(i.k, v.k) IS NULL THEN 'unmatchable'
    WHEN i.id IS NOT NULL AND v.id IS NOT NULL THEN 'matched'
    WHEN COALESCE(i.nv, v.nv) > 1 OR COALESCE(i.ni, v.ni) > 1 THEN 'ambiguous'
    WHEN i.id IS NOT NULL THEN 'internal_only'
    ELSE 'vendor_only'
  END,
  COALESCE(i.k, v.k),
  i.id,
  v.id,
  -- Names and location: ours when we have the user, else the vendor's.
  CASE WHEN i.id IS NOT NULL THEN i.firstname ELSE v.firstname END,
  CASE WHEN i.id IS NOT NULL THEN i.lastname ELSE v.lastname END,
  CASE WHEN i.id IS NOT NULL THEN i.specialty ELSE v.specialty END,
  CASE WHEN i.id IS NOT NULL THEN i.location ELSE v.location END,
  i.classification,
  i.registered_on,
  i.last_active_date,
  CASE WHEN i.id IS NOT NULL THEN COALESCE(i.last_active_date BETWEEN DATE :'report_date' - :active_days AND DATE :'report_date', false) END,
  v.classification,
  v.last_active_date,
  CASE WHEN v.id IS NOT NULL THEN COALESCE(v.last_active_date BETWEEN DATE :'report_date' - :active_days AND DATE :'report_date', false) END
FROM v FULL JOIN i ON v.pair_key = i.pair_key;
