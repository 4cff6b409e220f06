//! The command line: one subcommand per file. Each parses its flags (clap), calls the engine
//! and renders what comes back for a terminal. Must not: hold engine logic.

/// `println!` that ignores a closed stdout (see [`out`]).
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::cli::out(format!("{}\n", format_args!($($t)*)))
    };
}

mod bundle;
mod diff;
pub mod embedded;
mod exec;
mod host_keys;
mod hosts;
mod init;
mod install;
mod inventory;
mod json_lines;
mod ping;
mod play;
mod play_progress;
mod preflight;
mod registry;
mod render;
mod runs;
mod serve;
mod tee;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Every host answered / the command succeeded everywhere.
pub const EXIT_OK: u8 = 0;
/// At least one host failed (non-zero exit, sudo refused, bad credentials or host key), or a
/// bundle failed verification.
pub const EXIT_FAILED: u8 = 2;
/// Bad command line, unreadable or invalid inventory, playbook or bundle spec: nothing was
/// attempted.
pub const EXIT_USAGE: u8 = 1;
/// At least one host was unreachable (and none failed otherwise).
pub const EXIT_UNREACHABLE: u8 = 4;

const EXIT_CODES: &str = "Exit status (as ansible-playbook): 0 all hosts OK; 1 bad input \
(command line, inventory, playbook, bundle spec), nothing attempted; 2 a host failed (command, \
sudo, authentication or host key) or a bundle failed verification (or could not be served); 4 a host was unreachable.";

#[derive(Parser, Debug)]
#[command(
    name = "cairn",
    version,
    about = "Cairn: install clusters offline, from one bundle, over SSH",
    long_about = "Cairn installs Kubernetes-era platforms into datacenters without internet \
access: one bundle file, one binary, one command. Hosts are reached over SSH; no Python is \
needed on them.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); CAIRN_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Connect to every host (in parallel) and run a no-op: per-host result and latency.
    Ping(ping::Args),
    /// Run a shell command on every host, like `ansible -m shell`.
    Exec(exec::Args),
    /// Validate an inventory or cluster.yaml and show its hosts, groups and variables.
    Inventory(inventory::Args),
    /// Run a playbook on the inventory's hosts, or check it, list its tasks or hosts.
    Play(play::Args),
    /// Pre-flight checks on every host: pass/warn/fail, the value seen and a remedy.
    Preflight(preflight::Args),
    /// Host keys: accept one after comparing its fingerprint (`hosts accept HOST SHA256:...`).
    Hosts(host_keys::Args),
    /// Build, verify and inspect offline bundles (NAME-VERSION.cairn); make signing keys.
    Bundle(bundle::Args),
    /// Serve a verified bundle over HTTP: its files and an apt repository.
    Serve(serve::Args),
    /// List the runs recorded in the state store, or show one run's results or events.
    Runs(runs::Args),
    /// Install the cluster in cluster.yaml: bundle, pre-flight, PKI, then the playbooks.
    #[command(
        long_about = "Install the cluster described by cluster.yaml: verify the bundle, \
serve it (HTTP and NTP), run pre-flight, set up the PKI, then run the playbooks."
    )]
    Install(install::Args),
    /// Write a commented example cluster.yaml (stdout, or --out FILE).
    Init(init::Args),
    /// Push a bundle's images into a registry (`cairn install` does it by itself).
    #[command(hide = true)]
    Registry(registry::Args),
}

/// Print to stdout, ignoring a closed pipe (`cairn runs | head`): the reader has gone, which
/// is not an error of the command, and panicking (as `println!` does) would lose the exit code.
pub fn out(text: impl AsRef<str>) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_ref().as_bytes());
    let _ = o.flush();
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let code = match cli.command {
        Command::Ping(a) => ping::run(a).await?,
        Command::Exec(a) => exec::run(a).await?,
        Command::Inventory(a) => inventory::run(a)?,
        Command::Play(a) => play::run(a).await?,
        Command::Preflight(a) => preflight::run(a).await?,
        Command::Hosts(a) => host_keys::run(a).await?,
        Command::Bundle(a) => bundle::run(a)?,
        Command::Serve(a) => serve::run(a).await?,
        Command::Runs(a) => runs::run(a)?,
        Command::Install(a) => install::run(a).await?,
        Command::Init(a) => init::run(a)?,
        Command::Registry(a) => registry::run(a).await?,
    };
    Ok(ExitCode::from(code))
}
