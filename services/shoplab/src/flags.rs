//! `shoplab flags list|get|set|preset|reset`: the trainer's levers, written through the database so
//! every running process picks them up (LISTEN/NOTIFY) within a second.

use clap::Subcommand;
use kit::flags::{self, FLAGS};

use crate::database::connect;

#[derive(Subcommand, Debug)]
pub enum FlagsCmd {
    /// Show every flag with its current value (or the reference table as Markdown / JSON).
    List {
        /// Print the flags reference as a Markdown table (docs/flags.md is generated from this).
        #[arg(long)]
        markdown: bool,
        /// Print current values as JSON.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
    },
    /// Print one flag's current value.
    Get { name: String },
    /// Set a flag; VALUE is parsed by the flag's type (`true`, `300`, `0.3`, `flaky`).
    Set {
        name: String,
        value: String,
        /// Recorded in lab.flag_events as who changed it.
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Apply a preset: case1-before, case1-after, case2-..., case3-..., case3-degraded-provider, all-before, all-after.
    Preset {
        name: String,
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Put every flag back to its default (the before state).
    Reset {
        #[arg(long, default_value = "cli")]
        actor: String,
    },
}

/// Runs a flags subcommand.
pub async fn run(url: &str, cmd: FlagsCmd) -> anyhow::Result<()> {
    if let FlagsCmd::List { markdown: true, .. } = cmd {
        print!("{}", markdown());
        return Ok(());
    }
    let pool = connect(url, 2).await?;
    match cmd {
        FlagsCmd::List { json, .. } => list(&pool, json).await?,
        FlagsCmd::Get { name } => {
            if flags::find(&name).is_none() {
                anyhow::bail!("unknown flag '{name}'; valid flags: {}", flags::names().join(", "));
            }
            let current = current(&pool).await?;
            println!("{}", current.get(name.as_str()).cloned().unwrap_or_default());
        }
        FlagsCmd::Set { name, value, actor } => {
            let parsed = flags::parse_text(&name, &value)?;
            let stored = flags::set(&pool, &name, &parsed, &actor).await?;
            println!("{name} = {stored}");
        }
        FlagsCmd::Preset { name, actor } => print_applied(flags::apply_preset(&pool, &name, &actor).await?),
        FlagsCmd::Reset { actor } => print_applied(flags::reset(&pool, &actor).await?),
    }
    Ok(())
}

fn print_applied(applied: Vec<(&'static str, serde_json::Value)>) {
    for (name, value) in applied {
        println!("{name} = {value}");
    }
}

/// Current value of every flag (stored, else default).
async fn current(pool: &sqlx::PgPool) -> anyhow::Result<std::collections::HashMap<&'static str, serde_json::Value>> {
    let stored = flags::load(pool).await?;
    Ok(FLAGS
        .iter()
        .map(|f| (f.name, stored.get(f.name).map(|s| s.value.clone()).unwrap_or_else(|| f.default.to_json())))
        .collect())
}

async fn list(pool: &sqlx::PgPool, json: bool) -> anyhow::Result<()> {
    let current = current(pool).await?;
    if json {
        let map: serde_json::Map<String, serde_json::Value> =
            FLAGS.iter().map(|f| (f.name.to_owned(), current[f.name].clone())).collect();
        println!("{}", serde_json::to_string_pretty(&map)?);
        return Ok(());
    }
    println!("{:<30} {:<10} {:<10} CASE / CHAPTER", "FLAG", "VALUE", "DEFAULT");
    for f in FLAGS {
        println!(
            "{:<30} {:<10} {:<10} {} / {}",
            f.name,
            current[f.name].to_string(),
            f.default.to_json().to_string(),
            f.case,
            f.chapter
        );
    }
    Ok(())
}

/// The flags reference as Markdown, generated from the registry so docs cannot drift.
pub fn markdown() -> String {
    let mut out = String::from(
        "| flag | type | before (default) | after | case | book chapter | what it switches |\n|---|---|---|---|---|---|---|\n",
    );
    for f in FLAGS {
        let after = f.after.map(|v| format!("`{}`", v.to_json())).unwrap_or_else(|| "—".into());
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} | {} | {} | {} |\n",
            f.name,
            flags::describe_kind(&f.kind).replace('|', "\\|"),
            f.default.to_json(),
            after,
            f.case,
            f.chapter,
            f.description.replace('|', "\\|")
        ));
    }
    out.push_str(&format!("\nPresets: {}.\n", flags::PRESETS.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")));
    out
}
