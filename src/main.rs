//! The `segl` binary: parses the command line, sets up tracing and settings, runs a command.
//! Errors end as one line on stderr and a non-zero exit.

mod cli;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    match cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// A word outside its list (a status, level, algorithm, ...) is the one-line error and exit
/// code 1 it was when the domain parsers read these words; every other usage error, `--help`
/// and `--version` are clap's own (exit code 2, or 0).
fn usage_error(error: clap::Error) -> ExitCode {
    use std::error::Error;
    match error
        .source()
        .and_then(|source| source.downcast_ref::<cli::UnknownWord>())
    {
        Some(unknown) => {
            eprintln!("error: {unknown}");
            ExitCode::FAILURE
        }
        None => error.exit(),
    }
}

/// The error and its causes on one line ("what failed: why"), skipping a cause that the
/// message before it already quotes (many library errors print their source themselves).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}
