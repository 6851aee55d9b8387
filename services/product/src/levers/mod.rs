//! The product levers, one module each, named after its flag, naive and optimized paths side by side.
//! No lever module imports another: what several need (the Redis side of the cache, the read path that
//! chains the tiers) lives in the crate's own modules (`cache`, `read_path`).
//!
//! | flag | module | book chapter |
//! |---|---|---|
//! | `product.eager_loading` | [`eager_loading`] | Database and Storage Selection |
//! | `product.composite_indexes` | [`composite_indexes`] | Database and Storage Selection |
//! | `product.keyset_pagination` | [`keyset_pagination`] | Database and Storage Selection |
//! | `product.cache_ttl_secs` | [`cache_ttl_secs`] | Caching Strategies |
//! | `product.refresh_ahead` | [`refresh_ahead`] | Caching Strategies |
//! | `product.cache_warming` (+ `product.warm_top_n`) | [`cache_warming`] | Caching Strategies |
//! | `product.compression` (+ `product.compression_min_bytes`) | [`compression`] | Network Optimization |
//! | `product.conditional_requests` | [`conditional_requests`] | Network Optimization; Edge Infrastructure |
//! | `product.summary_fields` | [`summary_fields`] | Introduction (the opening story); Network Optimization |
//! | `product.load_shedding` (+ `load_shed_limit`, `load_shed_queue`) | [`load_shedding`] | Traffic Management |
//! | `product.hedged_requests` | [`hedged_requests`] | Advanced Techniques |
//! | `product.local_cache` (+ `product.local_cache_ttl_ms`) | [`local_cache`] | Caching Strategies |
//! | `product.redis_multiplexing` | [`redis_multiplexing`] | Network Optimization |

pub mod cache_ttl_secs;
pub mod cache_warming;
pub mod composite_indexes;
pub mod compression;
pub mod conditional_requests;
pub mod eager_loading;
pub mod hedged_requests;
pub mod keyset_pagination;
pub mod load_shedding;
pub mod local_cache;
pub mod redis_multiplexing;
pub mod refresh_ahead;
pub mod summary_fields;
