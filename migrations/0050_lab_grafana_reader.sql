-- lab: a read-only role for grafana's postgres datasource (the flag annotations on every dashboard).
-- grafana runs whatever sql a dashboard or its explore page sends, so its datasource logs in as a role
-- that can read lab.flags and lab.flag_events and nothing else: no writes, no product/auth/analytics
-- tables. docker-compose.yml and the mixed mode (docker/compose.native.yml) both connect as this role;
-- a migration rather than a compose init script, so a native database gets it too.
--
-- roles belong to the whole server, not to one database: several databases (every test's own, a
-- second lab) run this migration, possibly at the same moment, so creating the role tolerates another
-- database having created it first. only the transaction that created it sets its defaults (two
-- concurrent `alter role` on one role fail with "tuple concurrently updated").
-- where the migrating user may not create roles (a managed postgres), the role is skipped with a
-- notice and grafana's datasource needs a read-only role of the operator's own.
do $$
begin
    begin
        create role shoplab_grafana with login noinherit connection limit 10;
        alter role shoplab_grafana set default_transaction_read_only = on;
        alter role shoplab_grafana set statement_timeout = '10s';
    exception
        when duplicate_object or unique_violation then
            null; -- created by another database's migration
        when insufficient_privilege then
            raise notice 'role shoplab_grafana not created (no CREATEROLE privilege); '
                'give grafana''s postgres datasource a read-only role of your own';
            return;
    end;
    grant usage on schema lab to shoplab_grafana;
    grant select on lab.flags, lab.flag_events to shoplab_grafana;
end
$$;
