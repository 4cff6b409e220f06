//! `cairn preflight` and `cairn install` run inside `cairn serve` for the console: the very
//! same code paths as on the command line (flags parsed by the same clap definitions), with the
//! console's in-memory secrets handed over through `ReachArgs::secrets` instead of flags or
//! environment variables.
//!
//! Owns only that hand-over. Must not: re-implement any step of those commands.

use super::hosts::{HostSecrets, SecretOverrides};
use super::{Cli, Command, EXIT_USAGE};
use clap::Parser;
use std::collections::HashMap;
use std::sync::Arc;

pub use super::hosts::HostSecrets as Secrets;

/// Run `cairn ARGS...` (only `preflight` and `install`) in this process; returns its exit code.
/// Its output goes to this process's stdout/stderr like the CLI's.
pub async fn run(argv: Vec<String>, secrets: HashMap<String, HostSecrets>) -> u8 {
    let cli = match Cli::try_parse_from(std::iter::once("cairn".to_string()).chain(argv)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let secrets = SecretOverrides(Arc::new(secrets));
    let result = match cli.command {
        Command::Preflight(mut a) => {
            a.hosts.reach.secrets = secrets;
            super::preflight::run(a).await
        }
        Command::Install(mut a) => {
            a.reach.secrets = secrets;
            super::install::run(a).await
        }
        _ => {
            eprintln!("error: only preflight and install run inside cairn serve");
            return EXIT_USAGE;
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        EXIT_USAGE
    })
}
