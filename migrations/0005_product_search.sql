-- product: full-text search over the catalogue (GET /search, case study 1).
-- the tsvector is a stored generated column, so a search without an index scans precomputed vectors
-- (the honest "before": a sequential scan, but not one that re-parses every description per request).
-- the GIN index over it is deliberately not here: the `product.composite_indexes` lever creates and
-- drops it at run time together with the other indexes the hot queries need.
alter table product.products
    add column search tsvector
        generated always as (to_tsvector('english', name || ' ' || brand || ' ' || description)) stored;
