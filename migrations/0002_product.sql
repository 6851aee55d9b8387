-- product: the catalogue of case study 1.
-- only primary and foreign keys here: the composite indexes the hot queries need are created and dropped
-- at run time by the `product.composite_indexes` lever, so the "before" state really lacks them.
create schema if not exists product;

create table product.categories (
    id         integer primary key,
    parent_id  integer references product.categories (id),
    name       text not null,
    slug       text not null unique
);

create table product.products (
    id           bigint primary key,
    sku          text not null unique,
    name         text not null,
    description  text not null,
    category_id  integer not null references product.categories (id),
    brand        text not null,
    popularity   integer not null default 0,
    created_at   timestamptz not null default now()
);

-- price history: the current price is the newest row whose valid_from is not in the future.
create table product.prices (
    id            bigserial primary key,
    product_id    bigint not null references product.products (id),
    currency      text not null default 'EUR',
    amount_cents  bigint not null check (amount_cents >= 0),
    valid_from    timestamptz not null
);

create table product.inventory (
    product_id    bigint not null references product.products (id),
    warehouse_id  integer not null,
    quantity      integer not null check (quantity >= 0),
    updated_at    timestamptz not null default now(),
    primary key (warehouse_id, product_id)
);
