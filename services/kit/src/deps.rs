//! One clear line when Postgres, Redis or RabbitMQ is missing, naming it and how to start it.
//!
//! A workshop attendee whose broker is not running should read "RabbitMQ is not reachable ... start it
//! with ..." and not a 40-line backtrace from deep inside a client library.

/// How to start each dependency natively or with compose.
const START_POSTGRES: &str =
    "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` or `docker compose up -d postgres`";
const START_REDIS: &str = "start it with `redis-server --daemonize yes` or `docker compose up -d redis`";
const START_RABBITMQ: &str = "start it with `rabbitmq-server -detached` or `docker compose up -d rabbitmq`";

/// The host:port part of a connection URL, without credentials.
pub fn endpoint(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .map(|u| format!("{}:{}", u.host_str().unwrap_or("?"), u.port_or_known_default().unwrap_or(0)))
        .unwrap_or_else(|| "(unparsable URL)".to_owned())
}

/// `url` with its password (if any) replaced by `***`, fit for logs and error messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

/// Postgres connect failure -> one actionable line.
pub fn postgres_error(url: &str, e: &sqlx::Error) -> anyhow::Error {
    if let sqlx::Error::Database(db) = e
        && db.code().as_deref() == Some("3D000")
    {
        return anyhow::anyhow!("Postgres at {} has no database for {}: run `shoplab migrate`", endpoint(url), redact(url));
    }
    anyhow::anyhow!("Postgres is not reachable at {} ({}): {START_POSTGRES}", endpoint(url), short(e))
}

/// Redis failure -> one actionable line.
pub fn redis_error(url: &str, e: &dyn std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("Redis is not reachable at {} ({e}): {START_REDIS}", endpoint(url))
}

/// RabbitMQ failure -> one actionable line.
pub fn rabbitmq_error(url: &str, e: &dyn std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("RabbitMQ is not reachable at {} ({e}): {START_RABBITMQ}", endpoint(url))
}

fn short(e: &sqlx::Error) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or_default().to_owned()
}

/// Runs a binary's main future and turns an error into one line on stderr and exit code 1.
pub fn exit_on_error(res: anyhow::Result<()>) -> std::process::ExitCode {
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        let url = "postgres://shop:s3cret@db:5432/shoplab";
        assert_eq!(redact(url), "postgres://shop:***@db:5432/shoplab");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        let missing = sqlx::Error::Configuration("no database".into());
        let msg =
            postgres_error(url, &missing).to_string() + &rabbitmq_error("amqp://u:s3cret@mq:5672/%2f", &"refused").to_string();
        assert!(!msg.contains("s3cret"), "{msg}");
    }
}
