-- product: the specifications of a product (case study 1 and the `product.summary_fields` lever).
-- a json object of named values, several KB per product once seeded: with the long description it is
-- what makes a "full document" heavy, and what the summary shape of listings and search leaves out.
-- a constant default makes this an instant change on an existing catalogue.
alter table product.products
    add column attributes jsonb not null default '{}'::jsonb;

-- search matches the name, the brand and the start of the description (where a catalogue puts the
-- sentence that names the product), not the whole text: a description is now a few KB of copy, and
-- indexing all of it made every row's tsvector (and the search index) many times larger for matches
-- nobody searches for. dropping and re-adding a generated column recomputes it for every row.
alter table product.products drop column search;
alter table product.products
    add column search tsvector
        generated always as (to_tsvector('english', name || ' ' || brand || ' ' || left(description, 200))) stored;
