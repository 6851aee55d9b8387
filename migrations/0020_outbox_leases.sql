-- outbox relays claim rows with a short lease instead of holding a transaction open across their publishes
-- (docs/architecture.md, "outbox relay"): a claim is one quick update that commits at once, a relay that
-- dies leaves leases that simply run out, and a row that keeps failing is parked with its error.
alter table auth.outbox
    add column claimed_until timestamptz,  -- a relay is publishing this row until then
    add column attempts      int not null default 0,  -- failed publishes of this row (unroutable, refused)
    add column last_error    text,  -- why the last publish failed
    add column parked_at     timestamptz;  -- given up after too many attempts: kept for inspection, never retried

alter table analytics.outbox
    add column claimed_until timestamptz,
    add column attempts      int not null default 0,
    add column last_error    text,
    add column parked_at     timestamptz;

-- what the relay looks at: unpublished rows that are not parked
create index outbox_claimable_idx on auth.outbox (id) where published_at is null and parked_at is null;
create index outbox_claimable_idx on analytics.outbox (id) where published_at is null and parked_at is null;
