-- SQL API: version, health rows for every configured service, Prometheus metrics.
SELECT odp.version() ~ '^\d+\.\d+\.\d+$' AS version_ok;
SELECT name, kind, reachable, error FROM odp.health() ORDER BY name;
SELECT count(*), sum(quantity) FROM lake.transactions WHERE txn_date = '2026-02-02';
SELECT line FROM regexp_split_to_table(odp.metrics(), E'\n') AS line
 WHERE line LIKE '# TYPE %' ORDER BY 1;
SELECT (regexp_match(odp.metrics(), 'odp_delta_files_read_total (\d+)'))[1]::int >= 1 AS files_counted;
