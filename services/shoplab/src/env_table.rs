//! `shoplab env`: every environment variable of every command, with its default and who reads it,
//! generated from the clap definitions themselves (the table of docs/architecture.md, "Configuration",
//! is this output, and a test keeps the two equal).

use clap::{Arg, Command, CommandFactory};

use crate::cli::Cli;

/// One variable: where it is read and with which default.
struct Row {
    var: String,
    /// (command path, default) for every command that reads it.
    uses: Vec<(String, String)>,
    help: String,
    /// A global option of `shoplab`: every command reads it.
    global: bool,
}

/// The Markdown table of every variable (the clap options first, in command order, then the ones read by
/// the telemetry libraries).
pub fn markdown() -> String {
    let mut rows = Vec::new();
    visit(&Cli::command(), "", &mut rows);
    let mut out = String::from("| variable | default | read by | meaning |\n|---|---|---|---|\n");
    for row in &rows {
        out += &format!("| `{}` | {} | {} | {} |\n", row.var, defaults(row), readers(row), row.help);
    }
    for (var, default, meaning) in kit::config::LIBRARY_VARS {
        out += &format!("| `{var}` | {default} | every process (its library) | {meaning} |\n");
    }
    out
}

fn visit(cmd: &Command, path: &str, rows: &mut Vec<Row>) {
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let Some(var) = arg.get_env().and_then(|v| v.to_str()) else { continue };
        let default = arg.get_default_values().iter().map(|d| d.to_string_lossy()).collect::<Vec<_>>().join(",");
        let at = match rows.iter().position(|r| r.var == var) {
            Some(i) => i,
            None => {
                rows.push(Row { var: var.to_owned(), uses: vec![], help: help(arg), global: false });
                rows.len() - 1
            }
        };
        rows[at].global |= arg.is_global_set() && path.is_empty();
        rows[at].uses.push((path.to_owned(), default));
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        let sub_path = if path.is_empty() { sub.get_name().to_owned() } else { format!("{path} {}", sub.get_name()) };
        visit(sub, &sub_path, rows);
    }
}

/// The first sentence of the option's help, on one line.
fn help(arg: &Arg) -> String {
    let text = arg.get_help().map(|h| h.to_string()).unwrap_or_default().replace('\n', " ").replace('|', "/");
    text.split(". ").next().unwrap_or_default().trim_end_matches('.').to_owned()
}

fn defaults(row: &Row) -> String {
    let shown = |d: &str| if d.is_empty() { "none".to_owned() } else { format!("`{d}`") };
    let mut distinct: Vec<&str> = row.uses.iter().map(|(_, d)| d.as_str()).collect();
    distinct.dedup();
    if distinct.len() == 1 {
        return shown(distinct[0]);
    }
    let by = |d: &str| row.uses.iter().filter(|(_, x)| x == d).map(|(p, _)| format!("`{p}`")).collect::<Vec<_>>().join(", ");
    distinct.iter().map(|d| format!("{} ({})", shown(d), by(d))).collect::<Vec<_>>().join(", ")
}

fn readers(row: &Row) -> String {
    if row.global {
        return "every command".to_owned();
    }
    let mut paths: Vec<&str> = row.uses.iter().map(|(p, _)| p.as_str()).collect();
    paths.dedup();
    paths.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_option_with_a_variable_is_a_row() {
        let table = super::markdown();
        for var in ["DATABASE_URL", "PRODUCT_DB_POOL", "AUTH_TRUSTED_PROXIES", "SHOPLAB_LAB", "METRICS_ADDR", "RUST_LOG"] {
            assert_eq!(table.matches(&format!("| `{var}` |")).count(), 1, "{var} once:\n{table}");
        }
        let metrics = table.lines().find(|l| l.starts_with("| `METRICS_ADDR`")).unwrap();
        assert!(metrics.contains("`127.0.0.1:9101` (`auth relay`)") && metrics.contains("(`analytics aggregator`)"), "{metrics}");
    }
}
