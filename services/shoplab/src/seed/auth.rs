//! Lab users `user<n>@shoplab.test` with password `shoplab-pass` (lab-only credentials). One argon2id
//! hash is computed once and shared: hashing 10 000 passwords would take minutes and teach nothing.

use std::fmt::Write as _;

use argon2::{Argon2, PasswordHasher};
use sqlx::PgPool;

use super::copy::copy_rows;
use super::{Bars, RNG_SEED, SeedArgs, count};

/// The password of every seeded user.
pub const LAB_PASSWORD: &str = "shoplab-pass";

/// Seeds users unless there are exactly the requested number of seeded ones.
pub(crate) async fn seed(pool: &PgPool, a: &SeedArgs, bars: &Bars) -> anyhow::Result<()> {
    let have: i64 =
        sqlx::query_scalar("select count(*) from auth.users where email like 'user%@shoplab.test'").fetch_one(pool).await?;
    if have == a.users && count(pool, "auth.users").await? >= have {
        bars.skip("users", have);
        return Ok(());
    }
    sqlx::query("delete from auth.users where email like 'user%@shoplab.test'").execute(pool).await?;
    let hash = Argon2::default().hash_password(LAB_PASSWORD.as_bytes()).map_err(|e| anyhow::anyhow!("argon2: {e}"))?.to_string();
    copy_rows(
        pool,
        "auth.users (id, email, password_hash, display_name, verified_at)",
        a.users,
        &bars.bar("auth.users", a.users as u64),
        |i, b| {
            let n = i + 1;
            // deterministic ids: the same user has the same id in every lab
            let id = uuid::Uuid::from_u64_pair(RNG_SEED, n as u64);
            let _ = writeln!(b, "{id}\tuser{n}@shoplab.test\t{hash}\tUser {n}\t2026-01-01T00:00:00Z");
        },
    )
    .await
}
