//! Rebuilds the kit when a migration is added or changed. `sqlx::migrate!` (in `migrate.rs`) embeds the
//! repository's `migrations/` at compile time, but cargo does not watch that directory on its own: without
//! this, a build made before a new migration landed keeps a migrator that silently lacks it.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
