-- SQL API: version, health rows for every configured service, Prometheus metrics.
SELECT odp.version() ~ '^\d+\.\d+\.\d+$' AS version_ok;
SELECT name, kind, reachable, error FROM odp.health()
 WHERE name IN ('features', 'graph', 'lake', 'objects', 'redis', 's3lake') ORDER BY name, kind;
-- every server of every wrapper is probed at the endpoint its tables use
CREATE SERVER health_nowhere FOREIGN DATA WRAPPER neo4j_fdw OPTIONS (uri 'bolt://127.0.0.1:1');
CREATE SERVER health_no_dir FOREIGN DATA WRAPPER object_fdw OPTIONS (root '/nonexistent/odp');
SELECT name, kind, reachable, error IS NOT NULL AS has_error FROM odp.health()
 WHERE name LIKE 'health%' ORDER BY name;
-- a role probes only the servers it may use: no probe of, nor row for, the others
CREATE ROLE health_prober;
GRANT USAGE ON SCHEMA odp TO health_prober;
GRANT USAGE ON FOREIGN SERVER health_nowhere TO health_prober;
SET ROLE health_prober;
SELECT name, kind FROM odp.health() ORDER BY name, kind;
RESET ROLE;
DROP OWNED BY health_prober;
DROP ROLE health_prober;
DROP SERVER health_nowhere;
DROP SERVER health_no_dir;
SELECT count(*), sum(quantity) FROM lake.transactions WHERE txn_date = '2026-02-02';
SELECT line FROM regexp_split_to_table(odp.metrics(), E'\n') AS line
 WHERE line LIKE '# TYPE %' ORDER BY 1;
SELECT (regexp_match(odp.metrics(), 'odp_delta_files_read_total (\d+)'))[1]::int >= 1 AS files_counted;
