//! `cairn registry push --bundle F --registry HOST:PORT --ca FILE [--key PUB]` (hidden from
//! `--help`: `cairn install` pushes by itself; this is for `cairn play` users who run
//! `site.yml` on their own, and for operators re-filling a registry). Verifies the bundle,
//! then pushes every image into the registry over HTTPS trusting only the CA file
//! (`crate::push`). Prints one line: what was sent and what was already there.
//!
//! Exit: 0 pushed (or everything already there); 1 bad input (unreadable bundle or CA file);
//! 2 the bundle failed verification or the push failed.

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::push;
use crate::serve::open;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Push every image of a bundle into a registry (HTTPS, trusting only --ca).
    Push(PushArgs),
}

#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// The bundle (NAME-VERSION.cairn) whose images are pushed.
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// The registry, HOST:PORT (the name or address its certificate carries).
    #[arg(long, value_name = "HOST:PORT")]
    pub registry: String,
    /// The CA certificate(s) to trust (PEM), e.g. the cluster CA `pki/<cluster>/ca.crt`.
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,
    /// Require the bundle to be signed by this public key.
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let Command::Push(a) = args.command;
    let ca = match std::fs::read(&a.ca) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: --ca {}: {e}", a.ca.display());
            return Ok(EXIT_USAGE);
        }
    };
    let tls = match push::tls_config(&ca, &a.ca.display().to_string()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let file = match std::fs::File::open(&a.bundle) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: bundle {}: {e}", a.bundle.display());
            return Ok(EXIT_USAGE);
        }
    };
    let key = a.key.clone();
    let opened = tokio::task::spawn_blocking(move || open::open(file, key.as_deref())).await?;
    let opened = match opened {
        Ok(o) => o,
        Err(e @ (open::OpenError::Key(_) | open::OpenError::Io(_))) => {
            eprintln!("error: {}: {e}", a.bundle.display());
            return Ok(EXIT_USAGE);
        }
        Err(e) => {
            eprintln!("error: {}: {e}", a.bundle.display());
            return Ok(EXIT_FAILED);
        }
    };
    match push::push_all(&opened.index, &opened.registry, &a.registry, tls).await {
        Ok(report) => {
            outln!("pushed to {}: {report}", a.registry);
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: push to {} failed: {e}", a.registry);
            Ok(EXIT_FAILED)
        }
    }
}
