-- analytics: raw events of case study 2 and their outbox towards the aggregator.
create schema if not exists analytics;

create table analytics.events (
    id            uuid primary key,
    occurred_at   timestamptz not null,
    type          text not null check (type in ('view', 'add_to_cart', 'order')),
    product_id    bigint not null,
    user_id       bigint,
    session_id    text not null,
    amount_cents  bigint not null default 0 check (amount_cents >= 0)
);
-- the time range scan every dashboard query starts with.
create index events_occurred_at_idx on analytics.events (occurred_at);

create table analytics.outbox (
    id            bigserial primary key,
    message_id    uuid not null unique,
    exchange      text not null,
    routing_key   text not null,
    payload       jsonb not null,
    traceparent   text,
    created_at    timestamptz not null default now(),
    published_at  timestamptz
);
create index outbox_unpublished_idx on analytics.outbox (id) where published_at is null;
