//! Rebuilds kit when a migration is added or changed: `sqlx::migrate!` embeds `migrations/` at compile
//! time, and without this hint an incremental build keeps the old set.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
