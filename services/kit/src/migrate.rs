//! The one ordered set of migrations for every schema (`migrations/` at the repository root).

use sqlx::PgPool;

/// Embedded at compile time, so binaries migrate without the source tree.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Applies pending migrations.
pub async fn run(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}
