-- auth: users, sessions and the transactional outbox of case study 3.
create schema if not exists auth;

create table auth.users (
    id             uuid primary key,
    email          text not null,
    password_hash  text not null,
    display_name   text not null default '',
    verified_at    timestamptz,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
-- case-insensitive uniqueness: 'A@x.test' and 'a@x.test' are the same account.
create unique index users_email_lower_key on auth.users (lower(email));

-- refresh tokens: only the sha-256 of the token is stored.
create table auth.sessions (
    id            uuid primary key,
    user_id       uuid not null references auth.users (id) on delete cascade,
    token_hash    text not null unique,
    created_at    timestamptz not null default now(),
    expires_at    timestamptz not null,
    revoked_at    timestamptz
);
create index sessions_user_id_idx on auth.sessions (user_id);

create table auth.email_verifications (
    token        text primary key,
    user_id      uuid not null references auth.users (id) on delete cascade,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    used_at      timestamptz
);

-- the transactional outbox: written in the same transaction as the business change, published by the relay.
create table auth.outbox (
    id            bigserial primary key,
    message_id    uuid not null unique,
    exchange      text not null,
    routing_key   text not null,
    payload       jsonb not null,
    traceparent   text,
    created_at    timestamptz not null default now(),
    published_at  timestamptz
);
create index outbox_unpublished_idx on auth.outbox (id) where published_at is null;

-- idempotent consumer: a message id recorded here in the same transaction as its side effect is never sent twice.
create table auth.processed_messages (
    message_id    uuid primary key,
    processed_at  timestamptz not null default now()
);
