//! Where the lab under test runs, and which of its processes each case study needs.
//!
//! `shoplab case`, `shoplab calibrate` and `shoplab reset` all act on one running lab (native `shoplab up`
//! or compose): its HTTP endpoints, its Redis key prefix (the cache namespaces live under it) and its
//! RabbitMQ prefix (the queues whose depth a phase records). The URLs default to the standard ports
//! shifted by `--port-offset`, like `shoplab up --port-offset`.

use clap::Args;

use crate::stack::processes_at;

/// The lab a command acts on.
#[derive(Args, Debug, Clone, Default)]
pub struct LabArgs {
    /// Shift every default port by this much (a lab started with `shoplab up --port-offset N`).
    #[arg(long, default_value_t = 0)]
    pub port_offset: u16,
    /// Product API base URL (default: port 8081 + offset).
    #[arg(long, env = "PRODUCT_URL")]
    pub product_url: Option<String>,
    /// Auth API base URL (default: port 8082 + offset).
    #[arg(long, env = "AUTH_URL")]
    pub auth_url: Option<String>,
    /// One or more analytics instances, comma-separated (default: port 8083 + offset).
    #[arg(long, env = "ANALYTICS_URL")]
    pub analytics_url: Option<String>,
    /// Email provider base URL (default: port 8090 + offset).
    #[arg(long, env = "EMAIL_PROVIDER_URL")]
    pub email_provider_url: Option<String>,
    /// The workers' health/metrics endpoints, in this order: auth relay, email worker, analytics relay,
    /// aggregator (default: ports 9101-9104 + offset).
    #[arg(long, value_delimiter = ',')]
    pub worker_urls: Vec<String>,
    /// Prefix of the lab's Redis keys; the case 1 cache namespace is `<prefix>product:`.
    #[arg(long, env = "SHOPLAB_REDIS_PREFIX", default_value = "shoplab:")]
    pub redis_prefix: String,
    /// Prefix of the lab's RabbitMQ queues (their depth is recorded at the start of each phase).
    #[arg(long, env = "SHOPLAB_AMQP_PREFIX", default_value = "shoplab")]
    pub amqp_prefix: String,
    /// Admin token handed to k6 scenarios that switch the provider mid-run (default: the one `shoplab up`
    /// stored in $SHOPLAB_HOME/admin-token).
    #[arg(long, env = "SHOPLAB_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

/// What kind of endpoint a process serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An API: `/readyz`, `/metrics` and `GET /admin/flags` (its view of every flag).
    Api,
    /// A worker: `/readyz` and `/metrics`; its view of the flags is the `shoplab_flag_value` gauge.
    Worker,
}

/// One process a case needs.
#[derive(Clone, Debug)]
pub struct Process {
    /// Name in reports (`product`, `auth-relay`, ...).
    pub name: String,
    /// Base URL, without a trailing slash.
    pub url: String,
    pub kind: Kind,
    /// The command that starts it alone, for the refusal message.
    pub start: &'static str,
}

impl LabArgs {
    fn default_url(&self, name: &str) -> String {
        processes_at(1, self.port_offset).into_iter().find(|p| p.name == name).map(|p| p.url()).unwrap_or_default()
    }

    fn given_or(&self, given: &Option<String>, name: &str) -> String {
        let url = given.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned);
        url.unwrap_or_else(|| self.default_url(name)).trim_end_matches('/').to_owned()
    }

    pub fn product(&self) -> String {
        self.given_or(&self.product_url, "product")
    }

    pub fn auth(&self) -> String {
        self.given_or(&self.auth_url, "auth")
    }

    pub fn email_provider(&self) -> String {
        self.given_or(&self.email_provider_url, "email-provider")
    }

    /// Every analytics instance.
    pub fn analytics(&self) -> Vec<String> {
        self.given_or(&self.analytics_url, "analytics").split(',').map(|u| u.trim().trim_end_matches('/').to_owned()).collect()
    }

    /// The worker endpoint at `index` (0 auth relay, 1 email worker, 2 analytics relay, 3 aggregator).
    fn worker(&self, index: usize, name: &str) -> String {
        match self.worker_urls.get(index) {
            Some(u) => u.trim().trim_end_matches('/').to_owned(),
            None => self.default_url(name),
        }
    }

    /// The processes case `case` needs, its API first.
    pub fn processes(&self, case: u8) -> Vec<Process> {
        let api = |name: &str, url: String, start| Process { name: name.to_owned(), url, kind: Kind::Api, start };
        let worker =
            |name: &str, i, start| Process { name: name.to_owned(), url: self.worker(i, name), kind: Kind::Worker, start };
        match case {
            1 => vec![api("product", self.product(), "shoplab product")],
            2 => {
                let mut v: Vec<Process> = self
                    .analytics()
                    .into_iter()
                    .enumerate()
                    .map(|(i, u)| {
                        api(
                            &if i == 0 { "analytics".into() } else { format!("analytics-{}", i + 1) },
                            u,
                            "shoplab analytics serve",
                        )
                    })
                    .collect();
                v.push(worker("analytics-relay", 2, "shoplab analytics relay"));
                v.push(worker("aggregator", 3, "shoplab analytics aggregator"));
                v
            }
            _ => vec![
                api("auth", self.auth(), "shoplab auth serve"),
                api("email-provider", self.email_provider(), "shoplab email-provider"),
                worker("auth-relay", 0, "shoplab auth relay"),
                worker("email-worker", 1, "shoplab auth email-worker"),
            ],
        }
    }

    /// The environment every k6 script reads its targets from.
    pub fn k6_env(&self) -> Vec<(String, String)> {
        vec![
            ("PRODUCT_URL".to_owned(), self.product()),
            ("AUTH_URL".to_owned(), self.auth()),
            ("ANALYTICS_URL".to_owned(), self.analytics().join(",")),
            ("EMAIL_PROVIDER_URL".to_owned(), self.email_provider()),
            ("SHOPLAB_ADMIN_TOKEN".to_owned(), crate::lab_secrets::admin_token(self.admin_token.clone()).unwrap_or_default()),
        ]
    }
}

/// The Redis namespace of a case and what a reset does with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Namespace {
    /// Key prefix after the lab's Redis prefix (`product:`), or None when the case keeps nothing in Redis.
    pub suffix: Option<&'static str>,
    /// Whether a reset empties it.
    pub emptied: bool,
    /// Why, in the report's words.
    pub policy: &'static str,
}

/// Case 1's cache is emptied; case 2's pre-aggregates are the after state's derived data and are kept;
/// case 3 keeps nothing in Redis (its breaker and rate limiter live in each process).
pub fn namespace(case: u8) -> Namespace {
    match case {
        1 => Namespace { suffix: Some("product:"), emptied: true, policy: "product cache emptied before each phase" },
        2 => Namespace {
            suffix: Some("analytics:"),
            emptied: false,
            policy: "pre-aggregates kept (derived data of the after state; a reset never destroys them)",
        },
        _ => Namespace {
            suffix: None,
            emptied: false,
            policy: "no Redis state (breaker and rate limiter are in-process; breaker state recorded)",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_port_offset() {
        let lab = LabArgs { port_offset: 3700, ..Default::default() };
        assert_eq!(lab.product(), "http://127.0.0.1:11781");
        let names: Vec<_> = lab.processes(3).into_iter().map(|p| (p.name, p.url)).collect();
        assert_eq!(names[2], ("auth-relay".to_owned(), "http://127.0.0.1:12801".to_owned()));
        assert_eq!(lab.processes(2).len(), 3, "analytics, its relay and the aggregator");
    }
}
