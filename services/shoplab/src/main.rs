//! `shoplab`: the lab's command line, and the one binary every service and worker runs as
//! (`shoplab product`, `shoplab auth serve`, ...). Thin: parse, dispatch, print one clear line on error.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = shoplab::cli::Cli::parse();
    kit::deps::exit_on_error(shoplab::cli::run(cli).await)
}
