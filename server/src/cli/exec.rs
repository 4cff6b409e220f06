//! `cairn exec`: one shell command on every selected host (Ansible's ad-hoc `-m shell`).

use super::hosts::{BecomeArgs, HostArgs, Outcome, run_each};
use cairn_engine::ssh::{ExecRequest, SshError};
use std::time::Duration;

#[derive(clap::Args, Debug)]
#[command(after_help = super::EXIT_CODES)]
pub struct Args {
    #[command(flatten)]
    pub hosts: HostArgs,

    /// Run the command through sudo as --become-user.
    #[command(flatten)]
    pub escalate: BecomeArgs,

    /// Seconds a command may run on a host before it counts as failed.
    #[arg(short = 'T', long, value_name = "SECS")]
    pub timeout: Option<f64>,

    /// The shell command line.
    pub command: String,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let timeout = match args.timeout {
        Some(t) if !(t > 0.0 && t.is_finite()) => {
            eprintln!("error: --timeout must be a positive number of seconds");
            return Ok(super::EXIT_USAGE);
        }
        Some(t) => Some(Duration::from_secs_f64(t)),
        None => None,
    };
    let sel = match args.hosts.select(timeout) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let forks = args.hosts.reach.forks as usize;
    // One block per host, written whole, as each finishes.
    let code = run_each(sel.hosts.clone(), forks, |host| {
        let (sel, args) = (&sel, &args);
        async move { exec_one(sel, args, &host).await }
    })
    .await;
    Ok(code)
}

async fn exec_one(sel: &super::hosts::Selected, args: &Args, host: &str) -> (Outcome, String) {
    let target = match args.hosts.target(&sel.inventory, host) {
        Ok(t) => t,
        Err(e) => {
            return (
                Outcome::Failed(e.clone()),
                format!("{host} | FAILED! => {e}\n"),
            );
        }
    };
    let conn = match sel.connector.connect(&target).await {
        Ok(c) => c,
        Err(e) => return error_block(host, &e),
    };
    let become_user = args.escalate.for_host(&sel.inventory, host);
    let mut req = ExecRequest::new(&args.command);
    if let Some(u) = &become_user {
        req = req.become_user(u);
    }
    let result = conn.exec(req).await;
    conn.close().await;
    match result {
        Ok(out) => {
            let rc = out
                .exit_status
                .map(|c| c.to_string())
                .unwrap_or_else(|| format!("signal {}", out.exit_signal.as_deref().unwrap_or("?")));
            let (outcome, tag) = if out.success() {
                (Outcome::Ok, "SUCCESS")
            } else {
                (Outcome::Failed(format!("rc={rc}")), "FAILED")
            };
            let mut block = format!(
                "{host} | {tag} | rc={rc} | {:.0} ms >>\n",
                out.duration.as_secs_f64() * 1e3
            );
            block.push_str(&out.stdout_str());
            if !out.stdout.is_empty() && !out.stdout.ends_with(b"\n") {
                block.push('\n');
            }
            if !out.stderr.is_empty() {
                for l in out.stderr_str().lines() {
                    block.push_str(&format!("[stderr] {l}\n"));
                }
            }
            (outcome, block)
        }
        Err(e) => error_block(host, &e),
    }
}

fn error_block(host: &str, e: &SshError) -> (Outcome, String) {
    let o = Outcome::from_error(e);
    let block = format!("{host} | {} => {e}\n", o.tag());
    (o, block)
}
