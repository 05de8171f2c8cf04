//! The feature store's SQL functions: the batch feature pipeline
//! (`odp.refresh_features`) and real-time lookups (`odp.user_features`). Both work on
//! the foreign tables they are given, so the same functions serve any deployment
//! (Delta on disk or S3, one Redis or a cluster).

pgrx::extension_sql!(
    r#"
-- Computes purchase_count, avg_order_value and last_categories (the most recent distinct
-- categories bought, newest first, at most `categories` of them) for every user with a
-- transaction at or after `since` (all users when NULL) from all of their transactions,
-- and writes them to the feature table in batches of `batch_size` users, with the
-- stream watermark in `marks` (so the stream worker does not count the same transactions
-- again; NULL: no stream). The writes reach Redis when the calling transaction commits
-- (see docs/features.md).
-- Idempotent: the same transactions give the same features.
CREATE FUNCTION odp.refresh_features(
    since timestamptz DEFAULT NULL,
    transactions text DEFAULT 'lake.transactions',
    products text DEFAULT 'lake.products',
    features text DEFAULT 'features.user_features',
    categories int DEFAULT 5,
    batch_size int DEFAULT 10000,
    marks text DEFAULT 'features.user_stream_marks'
) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    users_total bigint;
    written bigint := 0;
    batch_rows bigint;
    watermark text;
BEGIN
    IF categories < 1 OR batch_size < 1 THEN
        RAISE EXCEPTION 'categories and batch_size must be positive' USING ERRCODE = '22023';
    END IF;
    -- The stream's newest entry before the lake is read: the worker skips entries up to
    -- it on the hashes written here (their transactions are in what is read next).
    IF marks IS NOT NULL THEN
        watermark := odp.stream_watermark();
    END IF;
    CREATE TEMP TABLE odp_refresh_users ON COMMIT DROP AS
        SELECT DISTINCT user_id FROM odp.refresh_features_source(transactions::regclass, since);
    CREATE TEMP TABLE odp_refresh_rows ON COMMIT DROP AS
    WITH t AS (
        SELECT t.* FROM odp.refresh_features_source(transactions::regclass, NULL) t
         WHERE since IS NULL OR t.user_id IN (SELECT user_id FROM odp_refresh_users)
    ), per_category AS (
        SELECT t.user_id, p.category, max(t.transaction_time) AS last_time
          FROM t JOIN odp.refresh_features_products(products::regclass) p USING (product_id)
         WHERE p.category IS NOT NULL
         GROUP BY 1, 2
    ), recent AS (
        SELECT user_id, array_agg(category ORDER BY last_time DESC, category) AS last_categories
          FROM (SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY last_time DESC, category) AS n
                  FROM per_category) ranked
         WHERE n <= categories
         GROUP BY user_id
    ), totals AS (
        SELECT user_id, count(*)::int AS purchase_count,
               avg(total_amount::numeric)::float8 AS avg_order_value
          FROM t GROUP BY user_id
    )
    SELECT row_number() OVER (ORDER BY totals.user_id) AS n, totals.user_id,
           totals.purchase_count, totals.avg_order_value,
           coalesce(recent.last_categories, '{}') AS last_categories
      FROM totals LEFT JOIN recent USING (user_id)
     WHERE totals.user_id IS NOT NULL;
    SELECT count(*) INTO users_total FROM odp_refresh_rows;
    RAISE NOTICE 'odp.refresh_features: % users to write', users_total;
    LOOP
        EXIT WHEN written >= users_total;
        EXECUTE format(
            'INSERT INTO %s (user_id, purchase_count, avg_order_value, last_categories)
             SELECT user_id, purchase_count, avg_order_value, last_categories
               FROM odp_refresh_rows WHERE n > $1 AND n <= $2', features::regclass)
          USING written, written + batch_size;
        GET DIAGNOSTICS batch_rows = ROW_COUNT;
        IF marks IS NOT NULL THEN
            EXECUTE format(
                'INSERT INTO %s (user_id, stream_id)
                 SELECT user_id, $3 FROM odp_refresh_rows WHERE n > $1 AND n <= $2', marks::regclass)
              USING written, written + batch_size, watermark;
        END IF;
        written := written + batch_rows;
        RAISE NOTICE 'odp.refresh_features: % of % users', written, users_total;
    END LOOP;
    DROP TABLE odp_refresh_users, odp_refresh_rows;
    RETURN written;
END
$fn$;

-- The transactions the pipeline reads: (user_id, product_id, total_amount, transaction_time)
-- of `transactions` at or after `since` (all when NULL).
CREATE FUNCTION odp.refresh_features_source(transactions regclass, since timestamptz)
RETURNS TABLE (user_id text, product_id text, total_amount float8, transaction_time timestamptz)
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT user_id::text, product_id::text, total_amount::float8, transaction_time
           FROM %s WHERE $1 IS NULL OR transaction_time >= $1', transactions) USING since;
END
$fn$;

-- The products the pipeline reads: (product_id, category).
CREATE FUNCTION odp.refresh_features_products(products regclass)
RETURNS TABLE (product_id text, category text) LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN QUERY EXECUTE format('SELECT product_id::text, category::text FROM %s', products);
END
$fn$;

-- Trigger function: appends the inserted transaction to the transactions stream through
-- the stream foreign table named by the trigger's argument (default
-- features.transaction_events). The entry is added when the inserting transaction
-- commits, after its Delta commit; the feature stream worker applies it.
CREATE FUNCTION odp.publish_transaction() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format(
        'INSERT INTO %s (transaction_id, user_id, product_id, total_amount, transaction_time)
         VALUES ($1, $2, $3, $4, $5)',
        coalesce(TG_ARGV[0], 'features.transaction_events')::regclass)
      USING NEW.transaction_id::text, NEW.user_id::text, NEW.product_id::text,
            NEW.total_amount::float8, NEW.transaction_time;
    RETURN NULL;
END
$fn$;

-- One user's features as JSON (NULL when the user has none): one round trip to Redis.
CREATE FUNCTION odp.user_features(user_id text, features text DEFAULT 'features.user_features')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    result jsonb;
BEGIN
    EXECUTE format('SELECT to_jsonb(f) FROM %s f WHERE f.user_id = $1', features::regclass)
       INTO result USING user_id;
    RETURN result;
END
$fn$;
"#,
    name = "features",
    requires = ["redis_fdw"]
);
