-- lab: pg_stat_statements for `shoplab top-queries` and the console's slow-query view (the database
-- chapter's "find what the database spends its time on").
--
-- only when the server offers the extension, and only when this role may create it (it needs a
-- superuser): otherwise the migration still succeeds and `shoplab top-queries` says what is missing.
-- creating it is harmless when the library is not preloaded; reading the view then fails with a clear
-- message until shared_preload_libraries includes it.
do $$
begin
    if exists (select 1 from pg_available_extensions where name = 'pg_stat_statements') then
        begin
            create extension if not exists pg_stat_statements;
        exception when insufficient_privilege then
            raise notice 'pg_stat_statements not created: this role may not create extensions';
        end;
    end if;
end
$$;
