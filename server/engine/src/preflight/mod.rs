//! Pre-flight checks over SSH: know before you install.
//!
//! For every host, in parallel (`forks` at a time): connect (host key verified as always),
//! run one exec that gathers the facts and the probe (`probe.rs`), read the clock a few times
//! (`clock.rs`), then judge it all against what the host's roles need (`policy.rs`,
//! `checks.rs`), then compare hosts with each other. The result is a list of [`Check`]s.
//!
//! With `fix`, a host whose checks call for a safe remedy gets them (`fix.rs`, one more exec
//! on the same connection), then is probed and checked again: what is reported is the state
//! after the fix.
//!
//! Owns the order of that work and turning an unreachable host into checks (data, not an
//! error: `hostkey.rs`; an unknown host key is `pending`, not failed). Must not: print, store,
//! or know about HTTP (the repo is fetched *by the host*).

pub mod checks;
pub mod clock;
pub mod fix;
pub mod hostkey;
pub mod policy;
pub mod probe;
pub mod report;

use std::time::Instant;

use crate::ssh::{Connector, Target, fanout};
pub use policy::Policy;
pub use report::{Check, Status, Summary, summary};

/// Clock readings per host (the shortest round trip wins).
const CLOCK_SAMPLES: usize = 3;

pub struct Options<'a> {
    pub forks: usize,
    /// A URL of the installer's repository the hosts must reach (`http://10.0.0.1:8080/repo/deb/Release`).
    pub repo_url: Option<String>,
    pub target: &'a (dyn Fn(&str) -> Result<Target, String> + Sync),
    /// Who to run the probe as (`root` via sudo when the login user is not root).
    pub become_user: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// The host's roles (cluster.yaml's roles, or the inventory groups named like them).
    pub roles: &'a (dyn Fn(&str) -> Vec<String> + Sync),
    /// The installer's NTP server as hosts reach it (cluster.yaml `installer:`).
    pub ntp: Option<(String, u16)>,
    /// The bundle's architectures (`amd64`); empty: not compared.
    pub arches: Vec<String>,
    /// Apply the safe remedies, then check again (`--fix`).
    pub fix: bool,
    /// With `fix`: only the remedies of these check ids (`--fix-only`); empty: every safe one.
    pub fix_only: Vec<String>,
    /// How the command names its inventory (`--config cluster.yaml`), for the commands a
    /// remedy shows.
    pub source: String,
}

/// Everything a pre-flight produced: the checks (after any fix) and what `--fix` did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub checks: Vec<Check>,
    pub fixed: Vec<fix::Fixed>,
}

/// Run pre-flight on `hosts`. Every host gets checks: an unreachable one gets a failed `ssh`
/// check saying why.
pub async fn run(
    hosts: &[String],
    connector: &Connector,
    policy: &Policy,
    opts: &Options<'_>,
) -> Vec<Check> {
    run_all(hosts, connector, policy, opts).await.checks
}

/// Probe, offset and connect time of a host that answered; else the check saying why not.
type Reached = Result<(probe::Probe, Option<clock::Offset>, std::time::Duration), Check>;

/// [`run`], with what `--fix` changed.
pub async fn run_all(
    hosts: &[String],
    connector: &Connector,
    policy: &Policy,
    opts: &Options<'_>,
) -> Outcome {
    let req = probe::Request {
        repo_url: opts.repo_url.clone(),
        marks: policy::MARKS
            .iter()
            .map(|(c, f)| (c.to_string(), f.to_string()))
            .collect(),
        ..probe::Request::default()
    };
    let gathered = fanout::bounded(hosts.to_vec(), opts.forks, |host| {
        let req = &req;
        async move {
            let roles = (opts.roles)(&host);
            let needs = policy.needs(&roles);
            let fsync = (policy.fsync_probe && roles.iter().any(|r| r == "etcd"))
                .then(|| ("/var/lib/etcd".to_string(), policy::FSYNC_SAMPLES));
            let req = probe::Request {
                paths: needs.disks.iter().map(|d| d.path.clone()).collect(),
                modules: needs.modules.iter().map(|m| m.to_string()).collect(),
                sysctls: needs.sysctls.iter().map(|s| s.0.to_string()).collect(),
                fsync,
                ..req.clone()
            };
            let started = Instant::now();
            let target = match (opts.target)(&host) {
                Ok(t) => t,
                Err(e) => {
                    let c = hostkey::ssh_failed(&host, &e);
                    return (host, roles, Err(c), Vec::new());
                }
            };
            let conn = match connector.connect(&target).await {
                Ok(c) => c,
                Err(e) => {
                    let c = hostkey::unreached(&host, &e, &opts.source);
                    return (host, roles, Err(c), Vec::new());
                }
            };
            let connect = started.elapsed();
            let become_user = (opts.become_user)(&host);
            let look = || async {
                let probed = probe::run(&conn, become_user.as_deref(), &req).await;
                let offset = clock::measure(&conn, CLOCK_SAMPLES).await;
                match (probed, offset) {
                    (Ok(Ok(p)), Ok(o)) => Ok((p, o, connect)),
                    (Ok(Err(e)), _) => Err(hostkey::ssh_failed(&host, &e)),
                    (Err(e), _) | (_, Err(e)) => Err(hostkey::ssh_failed(&host, &e.to_string())),
                }
            };
            let mut r: Reached = look().await;
            let mut fixed = Vec::new();
            if opts.fix
                && let Ok((p, o, _)) = &r
            {
                let first = checks::host(policy, &input(&host, &roles, p, *o, opts));
                let plan = fix::plan(&needs, p, &first, opts.ntp.as_ref()).only(&opts.fix_only);
                match fix::apply(&conn, become_user.as_deref(), &host, &plan).await {
                    Ok(f) => fixed = f,
                    Err(e) => r = Err(hostkey::ssh_failed(&host, &e.to_string())),
                }
                if !plan.is_empty() && r.is_ok() {
                    r = look().await;
                }
            }
            conn.close().await;
            (host, roles, r, fixed)
        }
    })
    .await;

    let mut out = Vec::new();
    let mut reached = Vec::new();
    let mut fixed = Vec::new();
    for (host, roles, r, f) in &gathered {
        fixed.extend(f.iter().cloned());
        match r {
            Ok((p, o, connect)) => {
                out.push(Check::new(
                    host,
                    "ssh",
                    Status::Pass,
                    format!("connected in {} ms", connect.as_millis()),
                ));
                out.extend(checks::host(policy, &input(host, roles, p, *o, opts)));
                reached.push((host.as_str(), p, *o));
            }
            Err(c) => out.push(c.clone()),
        }
    }
    out.extend(checks::across(policy, &reached));
    // Group by host in inventory order, keeping each host's check order.
    let order = |h: &str| hosts.iter().position(|x| x == h).unwrap_or(usize::MAX);
    out.sort_by_key(|c| order(&c.host));
    Outcome { checks: out, fixed }
}

fn input<'a>(
    host: &'a str,
    roles: &'a [String],
    probe: &'a probe::Probe,
    offset: Option<clock::Offset>,
    opts: &'a Options<'_>,
) -> checks::HostInput<'a> {
    checks::HostInput {
        host,
        roles,
        probe,
        offset,
        repo_wanted: opts.repo_url.is_some(),
        ntp: opts.ntp.clone(),
        arches: &opts.arches,
    }
}
