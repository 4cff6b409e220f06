//! Pre-flight checks over SSH: know before you install.
//!
//! For every host, in parallel (`forks` at a time): connect (host key verified as always),
//! run one exec that gathers the facts and the probe (`probe.rs`), read the clock a few times
//! (`clock.rs`), then judge it all against what the host's roles need (`policy.rs`,
//! `checks.rs`), then compare hosts with each other. The result is a list of [`Check`]s.
//!
//! Owns the order of that work and turning an unreachable host into failed checks (data, not
//! an error). Must not: print, store, or know about HTTP (the repo is fetched *by the host*).

pub mod checks;
pub mod clock;
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
}

/// Run pre-flight on `hosts`. Every host gets checks: an unreachable one gets a failed `ssh`
/// check saying why.
pub async fn run(
    hosts: &[String],
    connector: &Connector,
    policy: &Policy,
    opts: &Options<'_>,
) -> Vec<Check> {
    let req = probe::Request {
        repo_url: opts.repo_url.clone(),
        ..probe::Request::default()
    };
    let gathered = fanout::bounded(hosts.to_vec(), opts.forks, |host| {
        let req = &req;
        async move {
            let roles = (opts.roles)(&host);
            let needs = policy.needs(&roles);
            let req = probe::Request {
                paths: needs.disks.iter().map(|d| d.path.clone()).collect(),
                modules: needs.modules.iter().map(|m| m.to_string()).collect(),
                sysctls: needs.sysctls.iter().map(|s| s.0.to_string()).collect(),
                ..req.clone()
            };
            let started = Instant::now();
            let target = match (opts.target)(&host) {
                Ok(t) => t,
                Err(e) => return (host, roles, Err(e)),
            };
            let conn = match connector.connect(&target).await {
                Ok(c) => c,
                Err(e) => return (host, roles, Err(e.to_string())),
            };
            let connect = started.elapsed();
            let become_user = (opts.become_user)(&host);
            let probed = probe::run(&conn, become_user.as_deref(), &req).await;
            let offset = clock::measure(&conn, CLOCK_SAMPLES).await;
            conn.close().await;
            let r = match (probed, offset) {
                (Ok(Ok(p)), Ok(o)) => Ok((p, o, connect)),
                (Ok(Err(e)), _) => Err(e),
                (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
            };
            (host, roles, r)
        }
    })
    .await;

    let mut out = Vec::new();
    let mut reached = Vec::new();
    for (host, roles, r) in &gathered {
        match r {
            Ok((p, o, connect)) => {
                out.push(Check::new(
                    host,
                    "ssh",
                    Status::Pass,
                    format!("connected in {} ms", connect.as_millis()),
                ));
                out.extend(checks::host(
                    policy,
                    &checks::HostInput {
                        host,
                        roles,
                        probe: p,
                        offset: *o,
                        repo_wanted: opts.repo_url.is_some(),
                    },
                ));
                reached.push((host.as_str(), p, *o));
            }
            Err(e) => out.push(
                Check::new(host, "ssh", Status::Fail, e.clone())
                    .remedy("fix the address, user, key or host key (see the message), then run pre-flight again"),
            ),
        }
    }
    out.extend(checks::across(policy, &reached));
    // Group by host in inventory order, keeping each host's check order.
    let order = |h: &str| hosts.iter().position(|x| x == h).unwrap_or(usize::MAX);
    out.sort_by_key(|c| order(&c.host));
    out
}
