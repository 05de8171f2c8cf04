//! The feature store's SQL functions: the batch feature pipeline
//! (`odp.refresh_features`) and real-time lookups (`odp.user_features`). Both work on
//! the foreign tables they are given, so the same functions serve any deployment
//! (Delta on disk or S3, one Redis or a cluster).

pgrx::extension_sql!(
    r#"
-- The streaming pipeline's outbox: odp.publish_transaction() adds each purchase inside
-- the purchasing transaction, so a purchase is here exactly when that transaction
-- committed; the feature stream worker claims (applied_as: the apply number, from
-- odp.feature_apply_seq), applies and deletes them (see docs/features.md). A purchase
-- whose application failed stays, with its error.
CREATE TABLE odp.feature_outbox (
    id bigserial PRIMARY KEY,
    applied_as bigint UNIQUE,
    transaction_id text,
    user_id text,
    product_id text,
    total_amount float8,
    transaction_time timestamptz,
    error text
);
CREATE SEQUENCE odp.feature_apply_seq;
REVOKE ALL ON odp.feature_outbox, odp.feature_outbox_id_seq, odp.feature_apply_seq FROM PUBLIC;
-- dumped with the database: purchases not yet applied survive pg_dump and restore
SELECT pg_catalog.pg_extension_config_dump('odp.feature_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('odp.feature_outbox_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('odp.feature_apply_seq', '');

-- Computes purchase_count, avg_order_value, last_categories (the most recent distinct
-- categories bought, newest first, at most `categories` of them) and amount_count (the
-- purchases with an amount) for every user with a transaction at or after `since` (all
-- users when NULL) from all of their transactions, and writes them in batches of
-- `batch_size` users. The writes reach Redis when the calling transaction commits.
--
-- With `marks` (a table over the same hashes with the columns user_id, purchase_count,
-- avg_order_value, last_categories, amount_count and stream_id) the refresh cuts the
-- streaming pipeline exactly: it holds the worker's claim lock until it commits, claims
-- the outbox purchases its lake read counted, and writes each user's features with the
-- watermark in one HSET, so the worker skips exactly those purchases on that hash.
-- Without `marks` it writes through `features` and knows nothing of the stream.
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
    watermark bigint;
    publishers text[];
BEGIN
    IF categories < 1 OR batch_size < 1 THEN
        RAISE EXCEPTION 'categories and batch_size must be positive' USING ERRCODE = '22023';
    END IF;
    IF marks IS NOT NULL THEN
        IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
            RAISE EXCEPTION 'odp.refresh_features with marks runs under READ COMMITTED'
                USING ERRCODE = '0A000',
                      HINT = 'It must read the lake and the outbox as committed after it paused the feature stream.';
        END IF;
        -- the worker claims nothing from here until this transaction ends (and a second
        -- refresh waits)
        PERFORM pg_catalog.pg_advisory_xact_lock(7300, 1);
    END IF;
    CREATE TEMP TABLE odp_refresh_transactions ON COMMIT DROP AS
        SELECT * FROM odp.refresh_features_source(transactions::regclass, NULL);
    CREATE TEMP TABLE odp_refresh_users ON COMMIT DROP AS
        SELECT DISTINCT user_id FROM odp_refresh_transactions
         WHERE user_id IS NOT NULL AND (since IS NULL OR transaction_time >= since);
    CREATE TEMP TABLE odp_refresh_rows ON COMMIT DROP AS
    WITH t AS (
        SELECT t.* FROM odp_refresh_transactions t
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
               avg(total_amount::numeric)::float8 AS avg_order_value,
               count(total_amount)::int AS amount_count
          FROM t GROUP BY user_id
    )
    SELECT row_number() OVER (ORDER BY totals.user_id) AS n, totals.user_id,
           totals.purchase_count, totals.avg_order_value,
           coalesce(recent.last_categories, '{}') AS last_categories, totals.amount_count
      FROM totals LEFT JOIN recent USING (user_id)
     WHERE totals.user_id IS NOT NULL;
    IF marks IS NOT NULL THEN
        -- A purchasing transaction lands its Delta commit just before Postgres's commit
        -- record: one the lake read saw may not show its outbox row yet. Wait for every
        -- purchasing transaction in its commit now (they hold lock 7300/2 shared from
        -- before their Delta commit to their end) to end.
        SELECT pg_catalog.array_agg(DISTINCT l.virtualtransaction) INTO publishers
          FROM pg_catalog.pg_locks l
         WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.classid OPERATOR(pg_catalog.=) 7300
           AND l.objid OPERATOR(pg_catalog.=) 2 AND l.objsubid OPERATOR(pg_catalog.=) 2
           AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid();
        WHILE publishers IS NOT NULL AND EXISTS (
            SELECT FROM pg_catalog.pg_locks l
             WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.classid OPERATOR(pg_catalog.=) 7300
               AND l.objid OPERATOR(pg_catalog.=) 2 AND l.objsubid OPERATOR(pg_catalog.=) 2
               AND l.virtualtransaction OPERATOR(pg_catalog.=) ANY (publishers)) LOOP
            PERFORM pg_catalog.pg_sleep(0.005);
        END LOOP;
        -- Claim the purchases this read counted (for the users it rewrites), then take
        -- a watermark above every apply number given so far: the worker skips them on
        -- these hashes, and applies everything it claims after this commit.
        UPDATE odp.feature_outbox o
           SET applied_as = pg_catalog.nextval('odp.feature_apply_seq'::pg_catalog.regclass)
          FROM (SELECT DISTINCT t.user_id, t.transaction_id FROM odp_refresh_transactions t
                  JOIN odp_refresh_users u USING (user_id)) seen
         WHERE o.applied_as IS NULL AND o.user_id OPERATOR(pg_catalog.=) seen.user_id
           AND o.transaction_id OPERATOR(pg_catalog.=) seen.transaction_id;
        watermark := pg_catalog.nextval('odp.feature_apply_seq'::pg_catalog.regclass);
    END IF;
    SELECT count(*) INTO users_total FROM odp_refresh_rows;
    RAISE NOTICE 'odp.refresh_features: % users to write', users_total;
    LOOP
        EXIT WHEN written >= users_total;
        IF marks IS NULL THEN
            EXECUTE format(
                'INSERT INTO %s (user_id, purchase_count, avg_order_value, last_categories)
                 SELECT user_id, purchase_count, avg_order_value, last_categories
                   FROM odp_refresh_rows WHERE n > $1 AND n <= $2', features::regclass)
              USING written, written + batch_size;
        ELSE
            EXECUTE format(
                'INSERT INTO %s (user_id, purchase_count, avg_order_value, last_categories,
                                 amount_count, stream_id)
                 SELECT user_id, purchase_count, avg_order_value, last_categories, amount_count, $3
                   FROM odp_refresh_rows WHERE n > $1 AND n <= $2', marks::regclass)
              USING written, written + batch_size, watermark::text;
        END IF;
        GET DIAGNOSTICS batch_rows = ROW_COUNT;
        written := written + batch_rows;
        RAISE NOTICE 'odp.refresh_features: % of % users', written, users_total;
    END LOOP;
    DROP TABLE odp_refresh_transactions, odp_refresh_users, odp_refresh_rows;
    RETURN written;
END
$fn$;

-- The transactions the pipeline reads: (transaction_id, user_id, product_id, total_amount,
-- transaction_time) of `transactions` at or after `since` (all when NULL).
CREATE FUNCTION odp.refresh_features_source(transactions regclass, since timestamptz)
RETURNS TABLE (transaction_id text, user_id text, product_id text, total_amount float8,
               transaction_time timestamptz)
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT transaction_id::text, user_id::text, product_id::text, total_amount::float8,
                transaction_time
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

-- Trigger function: adds the inserted transaction to the feature pipeline's outbox
-- (odp.feature_outbox), inside the inserting transaction, with the inserting role's
-- privileges (it needs INSERT on the purchase columns of odp.feature_outbox and USAGE
-- on its id sequence). The feature stream worker applies it once the transaction
-- committed. A transaction without a transaction_id is left to the batch pipeline: a
-- refresh could not tell it from the purchases it counted.
CREATE FUNCTION odp.publish_transaction() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.transaction_id IS NULL THEN
        RETURN NULL;
    END IF;
    -- its commit takes lock (7300, 2), which odp.refresh_features waits for
    PERFORM odp.note_publishing();
    INSERT INTO odp.feature_outbox (transaction_id, user_id, product_id, total_amount, transaction_time)
    VALUES (NEW.transaction_id::text, NEW.user_id::text, NEW.product_id::text,
            NEW.total_amount::float8, NEW.transaction_time);
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
    requires = ["wrappers"]
);
