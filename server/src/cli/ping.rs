//! `cairn ping`: can Cairn reach and log in to every host (and, with --become, use sudo)?

use super::hosts::{BecomeArgs, HostArgs, Outcome, run_each};
use cairn_engine::ssh::ExecRequest;
use std::time::Instant;

#[derive(clap::Args, Debug)]
#[command(after_help = super::EXIT_CODES)]
pub struct Args {
    #[command(flatten)]
    pub hosts: HostArgs,

    /// Also check privilege escalation: run the probe through sudo as --become-user.
    #[command(flatten)]
    pub escalate: BecomeArgs,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let sel = match args.hosts.select(None) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let forks = args.hosts.reach.forks as usize;
    let width = sel.hosts.iter().map(String::len).max().unwrap_or(0);
    let code = run_each(sel.hosts.clone(), forks, |host| {
        let (sel, args) = (&sel, &args);
        async move {
            let (outcome, detail) = ping_one(sel, args, &host).await;
            let line = match &outcome {
                Outcome::Ok => format!("{host:width$}  ok           {detail}\n"),
                Outcome::Failed(m) => format!("{host:width$}  FAILED       {m}\n"),
                Outcome::Unreachable(m) => format!("{host:width$}  UNREACHABLE  {m}\n"),
            };
            (outcome, line)
        }
    })
    .await;
    Ok(code)
}

async fn ping_one(sel: &super::hosts::Selected, args: &Args, host: &str) -> (Outcome, String) {
    let target = match args.hosts.target(&sel.inventory, host) {
        Ok(t) => t,
        Err(e) => return (Outcome::Failed(e), String::new()),
    };
    let conn = match sel.connector.connect(&target).await {
        Ok(c) => c,
        Err(e) => return (Outcome::from_error(&e), String::new()),
    };
    let started = Instant::now();
    let become_user = args.escalate.for_host(&sel.inventory, host);
    let mut req = ExecRequest::new("id -un");
    if let Some(u) = &become_user {
        req = req.become_user(u);
    }
    let result = conn.exec(req).await;
    let rtt = started.elapsed();
    conn.close().await;
    match result {
        Ok(out) if out.success() => (
            Outcome::Ok,
            format!(
                "{:>7.1} ms  (connect {:.0} ms, user {})",
                rtt.as_secs_f64() * 1e3,
                conn.connect_time().as_secs_f64() * 1e3,
                out.stdout_str().trim()
            ),
        ),
        Ok(out) => (
            Outcome::Failed(format!(
                "{host}: probe exited {:?}: {}",
                out.exit_status,
                out.stderr_str().trim()
            )),
            String::new(),
        ),
        Err(e) => (Outcome::from_error(&e), String::new()),
    }
}
