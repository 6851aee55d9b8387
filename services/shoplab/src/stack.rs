//! The processes of a native lab and where each listens (docs/architecture.md, "Processes"), shared by
//! `shoplab up`, the compare reports and the console.

/// One process of the lab.
#[derive(Clone, Debug)]
pub struct Proc {
    /// Label in logs (`product`, `analytics-2`, ...).
    pub name: String,
    /// The service: the `shoplab` subcommand that runs it (`shoplab product`, `shoplab auth ...`).
    pub bin: &'static str,
    /// Arguments after the service (the process: `serve`, `relay`, ...).
    pub args: Vec<String>,
    /// Environment variable naming the listen address, and the address.
    pub addr_var: &'static str,
    pub addr: String,
}

impl Proc {
    fn new(name: &str, bin: &'static str, args: &[&str], addr_var: &'static str, addr: &str) -> Self {
        let args = args.iter().map(|a| (*a).to_owned()).collect();
        Self { name: name.to_owned(), bin, args, addr_var, addr: addr.to_owned() }
    }

    /// The `shoplab` command line that starts it: the service, then its arguments.
    pub fn argv(&self) -> Vec<&str> {
        std::iter::once(self.bin).chain(self.args.iter().map(String::as_str)).collect()
    }

    /// Base URL of its HTTP endpoint (API or worker metrics).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Every process on the standard ports, with `analytics` API instances on consecutive ports from 8083.
pub fn processes(analytics_instances: u16) -> Vec<Proc> {
    processes_at(analytics_instances, 0)
}

/// Like [`processes`], with every port shifted by `offset` (a second lab, or tests beside a running lab).
pub fn processes_at(analytics_instances: u16, offset: u16) -> Vec<Proc> {
    let at = |port: u16| format!("127.0.0.1:{}", port + offset);
    let mut procs = vec![
        Proc::new("email-provider", "email-provider", &[], "EMAIL_PROVIDER_ADDR", &at(8090)),
        Proc::new("product", "product", &[], "PRODUCT_ADDR", &at(8081)),
        Proc::new("auth", "auth", &["serve"], "AUTH_ADDR", &at(8082)),
        Proc::new("auth-relay", "auth", &["relay"], "METRICS_ADDR", &at(9101)),
        Proc::new("email-worker", "auth", &["email-worker"], "METRICS_ADDR", &at(9102)),
    ];
    for i in 0..analytics_instances.max(1) {
        let name = if i == 0 { "analytics".to_owned() } else { format!("analytics-{}", i + 1) };
        procs.push(Proc::new(&name, "analytics", &["serve"], "ANALYTICS_ADDR", &at(8083 + i)));
    }
    procs.push(Proc::new("analytics-relay", "analytics", &["relay"], "METRICS_ADDR", &at(9103)));
    procs.push(Proc::new("aggregator", "analytics", &["aggregator"], "METRICS_ADDR", &at(9104)));
    procs
}

/// Base URLs of the analytics API instances (comma-separated for k6's ANALYTICS_URL).
pub fn analytics_urls(procs: &[Proc]) -> String {
    procs.iter().filter(|p| p.bin == "analytics" && p.args == ["serve"]).map(Proc::url).collect::<Vec<_>>().join(",")
}

/// Metrics URLs of every process (for scrapes and compare deltas).
pub fn metrics_urls(procs: &[Proc]) -> Vec<(String, String)> {
    procs.iter().map(|p| (p.name.clone(), format!("{}/metrics", p.url()))).collect()
}
