//! `cairn`: the one binary. Parses the command line, sets up logging, runs the subcommand and
//! turns its outcome into an exit code. `anyhow` lives here and nowhere below.

mod api;
mod cli;
mod install;
mod installer_checks;
mod limits;
mod net;
mod pki;
mod pull;
mod push;
mod state_dir;
mod store;
mod wire;

// `cairn serve` lives in the library (lib.rs) so the fuzz targets drive the same code; every
// `crate::serve::…` path of the binary resolves through this import.
use cairn::serve;

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            // --help and --version "fail" to stdout with success; real usage errors share
            // the exit status of every other bad-input error.
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { cli::EXIT_USAGE } else { 0 });
        }
    };
    let filter = match args.verbose {
        // A server's access log is its normal output.
        0 if matches!(args.command, cli::Command::Serve(_)) => "warn,cairn::access=info",
        0 => "warn",
        1 => "info,russh=warn",
        2 => "debug,russh=info",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: `cairn serve`'s log is often redirected to a file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    // A run over hundreds of hosts holds a socket per host for its whole length.
    limits::raise_open_files();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(cli::EXIT_USAGE)
        }
    }
}
