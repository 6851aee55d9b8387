-- lab: the feature flags every shoplab process reads, and the history of every flip.
create schema if not exists lab;

create table lab.flags (
    name        text primary key,
    value       jsonb not null,
    updated_at  timestamptz not null default now(),
    updated_by  text not null default 'default'
);

-- one row per change; grafana draws these as annotations on every dashboard.
create table lab.flag_events (
    id     bigserial primary key,
    at     timestamptz not null default now(),
    name   text not null,
    old    jsonb,
    new    jsonb not null,
    actor  text not null
);
create index flag_events_at_idx on lab.flag_events (at);
