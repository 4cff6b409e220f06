//! `cairn preflight`: check the installer (cluster.yaml `installer:`: the bundle verifies and is
//! served where hosts will fetch it), then every host; with `--fix` apply the safe remedies and
//! check again; show a host × check table (or `--json`), record the checks in the state store,
//! and exit non-zero if any check failed.
//!
//! Owns the flags, `--ignore-preflight` and cluster.yaml's `preflight:` (thresholds, ids
//! ignored; an ignored check is shown as `ignored`, never as passed) and the rendering. Must not: hold check logic (the engine's `preflight` does).

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::time::Instant;

use super::hosts::{BecomeArgs, HostArgs};
use super::{EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE};
use cairn_engine::preflight::{self, Check, Policy, Status, policy::ROLES};
use cairn_protocol::{PreflightCheck, PreflightFix};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Exit status: 0 no check failed (warnings allowed); 1 bad input; 2 a check \
failed; 4 a host could not be reached (and nothing else failed)."
)]
pub struct Args {
    #[command(flatten)]
    pub hosts: HostArgs,

    /// Run the probe through sudo as --become-user (needed to see which process holds a port
    /// when logging in as a user other than root).
    #[command(flatten)]
    pub escalate: BecomeArgs,

    /// A URL of the installer's repository each host must be able to fetch, from the host
    /// itself (e.g. http://10.0.0.1:8080/repo/deb/Release).
    #[arg(long, value_name = "URL")]
    pub repo_url: Option<String>,

    /// Check ids to report as `ignored` instead of failing (comma-separated or repeated;
    /// `port:2379`, `memory`, ... as shown in the table).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub ignore_preflight: Vec<String>,

    /// Print the checks as JSON (one object: summary and checks) instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Show passed checks too (by default only what needs attention and a summary per host).
    #[arg(long)]
    pub all: bool,

    /// Apply the safe remedies (sysctls set and persisted, kernel modules loaded and
    /// persisted, swap off and out of /etc/fstab, chrony pointed at the installer's NTP),
    /// print what changed, then check again. Nothing else is touched.
    #[arg(long)]
    pub fix: bool,

    /// Like --fix, but only the remedies of these check ids (comma-separated or repeated;
    /// `sysctl:net.ipv4.ip_forward`, `time_sync`, ...).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub fix_only: Vec<String>,

    /// Time synchronous writes on etcd hosts' data disk (p99; as cluster.yaml's
    /// preflight.fsync_probe).
    #[arg(long)]
    pub fsync_probe: bool,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    if let Some(u) = &args.repo_url
        && !u.starts_with("http://")
        && !u.starts_with("https://")
    {
        eprintln!("error: --repo-url must be an http:// or https:// URL, got {u:?}");
        return Ok(EXIT_USAGE);
    }
    let sel = match args.hosts.select(None) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let started = Instant::now();
    let target = |h: &str| args.hosts.target(&sel.inventory, h);
    let become_user = |h: &str| args.escalate.for_host(&sel.inventory, h);
    let roles = |h: &str| -> Vec<String> {
        sel.inventory
            .groups_of(h)
            .into_iter()
            .filter(|g| ROLES.contains(&g.as_str()))
            .collect()
    };
    // The installer first (cluster.yaml `installer:`): the bundle verifies and is served
    // where the hosts will fetch it, before any host is touched.
    let installer = sel.settings.as_ref().and_then(|s| s.installer.clone());
    let mut found = crate::installer_checks::Found::default();
    if let Some(inst) = &installer {
        let mut contents = None;
        let mut bundle_check = None;
        if let Some((path, _)) = sel.settings.as_ref().and_then(|s| s.bundle.as_ref()) {
            let (c, got) = crate::installer_checks::verify_bundle(path).await;
            bundle_check = Some(c);
            contents = got;
        }
        found = crate::installer_checks::served(inst, contents.as_ref()).await;
        if let Some(c) = bundle_check {
            found.checks.insert(0, c);
        }
    }
    let repo_url = args
        .repo_url
        .clone()
        .or_else(|| installer.as_ref().map(|_| found.repo_url.clone()));
    let opts = preflight::Options {
        forks: args.hosts.reach.forks as usize,
        repo_url,
        target: &target,
        become_user: &become_user,
        roles: &roles,
        ntp: installer
            .as_ref()
            .map(|i| (i.address.to_string(), i.ntp_port)),
        arches: found.arches.clone(),
        fix: args.fix || !args.fix_only.is_empty(),
        fix_only: args.fix_only.clone(),
        source: source_flags(&args.hosts),
    };
    let fixing = opts.fix;
    // cluster.yaml's `preflight:` section: thresholds and ids ignored, with the flag's.
    let mut policy = sel
        .settings
        .as_ref()
        .map_or_else(Policy::default, |s| Policy::from_settings(&s.preflight));
    policy.fsync_probe |= args.fsync_probe;
    let outcome = preflight::run_all(&sel.hosts, &sel.connector, &policy, &opts).await;
    let fixed = outcome.fixed;
    let mut checks = found.checks;
    checks.extend(outcome.checks);
    let mut shown_hosts = sel.hosts.clone();
    if installer.is_some() {
        shown_hosts.insert(0, "installer".to_string());
    }
    let from_config = sel.settings.iter().flat_map(|s| s.preflight.ignore.iter());
    let ignore: BTreeSet<&str> = args
        .ignore_preflight
        .iter()
        .chain(from_config)
        .map(String::as_str)
        .collect();
    apply_ignore(&mut checks, &ignore);
    let took = started.elapsed();
    let wire: Vec<PreflightCheck> = checks.iter().map(to_wire).collect();
    let wire_fixed: Vec<PreflightFix> = fixed.iter().map(fix_to_wire).collect();
    record(&args, &sel.hosts, &wire, &wire_fixed);
    let sum = preflight::summary(&checks);
    if args.json {
        let mut v = serde_json::json!({
            "hosts": sel.hosts.len(),
            "seconds": took.as_secs_f64(),
            "summary": {"pass": sum.pass, "warn": sum.warn, "fail": sum.fail,
                        "skipped": sum.skipped, "ignored": sum.ignored},
            "checks": wire,
        });
        if sum.pending > 0 {
            v["summary"]["pending"] = sum.pending.into();
        }
        if fixing {
            v["fixed"] = serde_json::to_value(&wire_fixed)?;
        }
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        if fixing {
            super::out(fix_report(&fixed));
        }
        super::out(table(&shown_hosts, &checks, &roles, args.all, colour()));
        outln!(
            "{}",
            summary_line(sel.hosts.len(), checks.len(), took.as_secs_f64(), &sum)
        );
    }
    Ok(exit_code(&checks))
}

/// `--config cluster.yaml` (and the trust store's flags when given): how a remedy's command
/// names the same inventory and known_hosts.
pub(super) fn source_flags(hosts: &super::hosts::HostArgs) -> String {
    format!("{}{}", hosts.source.as_flag(), hosts.reach.trust_flags())
}

/// The closing line; `pending` only when a host key waits to be accepted.
pub(super) fn summary_line(
    hosts: usize,
    checks: usize,
    secs: f64,
    sum: &preflight::Summary,
) -> String {
    let mut line = format!(
        "pre-flight: {hosts} hosts, {checks} checks in {secs:.1} s: {} pass, {} warn, {} fail, {} skipped, {} ignored",
        sum.pass, sum.warn, sum.fail, sum.skipped, sum.ignored
    );
    if sum.pending > 0 {
        line.push_str(&format!(
            ", {} pending (host keys to accept: `cairn hosts accept`)",
            sum.pending
        ));
    }
    line
}

/// 2 when a check failed; 4 when only reaching hosts did (a failed `ssh` check, or a host key
/// pending acceptance: those hosts were not checked); else 0.
pub(super) fn exit_code(checks: &[Check]) -> u8 {
    let blocked = |ssh: bool| {
        checks.iter().any(|c| {
            preflight::report::is_connection(&c.id) == ssh
                && matches!(c.status, Status::Fail | Status::Pending)
        })
    };
    if blocked(false) {
        EXIT_FAILED
    } else if blocked(true) {
        EXIT_UNREACHABLE
    } else {
        EXIT_OK
    }
}

/// One `--fix` remedy in its wire form (JSON, the store, the API).
pub(super) fn fix_to_wire(f: &preflight::fix::Fixed) -> PreflightFix {
    PreflightFix {
        host: f.host.clone(),
        id: f.id.clone(),
        action: f.action.clone(),
        outcome: f.outcome.word().to_string(),
        changed: matches!(f.outcome, preflight::fix::Outcome::Changed(_)),
        text: f.outcome.text().to_string(),
    }
}

/// What `--fix` did, one line per remedy (then the table shows the state after it).
fn fix_report(fixed: &[preflight::fix::Fixed]) -> String {
    if fixed.is_empty() {
        return "fix: nothing to change\n".to_string();
    }
    let mut out = String::new();
    for f in fixed {
        out.push_str(&format!(
            "fix: {} {}: {}: {}\n",
            f.host,
            f.id,
            f.outcome.word(),
            f.outcome.text()
        ));
    }
    out
}

/// Report the checks named in `ignore` that warned or failed as `ignored` (never as passed).
pub(super) fn apply_ignore(checks: &mut [Check], ignore: &BTreeSet<&str>) {
    for c in checks {
        if ignore.contains(c.id.as_str()) && matches!(c.status, Status::Fail | Status::Warn) {
            c.status = Status::Ignored;
        }
    }
}

pub(super) fn to_wire(c: &Check) -> PreflightCheck {
    PreflightCheck {
        host: c.host.clone(),
        id: c.id.clone(),
        status: c.status.as_str().to_string(),
        reason: match &c.status {
            Status::Skipped(r) => Some(r.clone()),
            _ => None,
        },
        value: c.value.clone(),
        threshold: c.threshold.clone(),
        remedy: c.remedy.clone(),
        fixable: preflight::fix::fixable(&c.id) && matches!(c.status, Status::Warn | Status::Fail),
    }
}

/// Pre-flight results go to the store for the console; a store that cannot be written is a
/// warning (the table on screen is the result).
fn record(args: &Args, hosts: &[String], checks: &[PreflightCheck], fixes: &[PreflightFix]) {
    record_in(args.hosts.reach.state_dir.clone(), hosts, checks, fixes);
}

/// [`record`] for any command that runs pre-flight (`cairn install` too).
pub(super) fn record_in(
    state_dir: Option<std::path::PathBuf>,
    hosts: &[String],
    checks: &[PreflightCheck],
    fixes: &[PreflightFix],
) {
    let dir = crate::state_dir::resolve(state_dir);
    let saved = crate::store::Store::open_in(&dir).and_then(|mut s| {
        let id = s.begin_run("preflight", &hosts.join(" "))?;
        s.save_checks(id, checks)?;
        s.save_fixes(id, fixes)?;
        let failed = checks
            .iter()
            .any(|c| c.status == "fail" || c.status == "pending");
        let status = if failed {
            crate::store::RunStatus::Failed
        } else {
            crate::store::RunStatus::Ok
        };
        s.finish_run(id, status, None)
    });
    if let Err(e) = saved {
        eprintln!("[WARNING]: the pre-flight results are not recorded: {e}");
    }
}

pub(super) fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn status_text(s: &Status, colour: bool) -> String {
    let (word, code) = match s {
        Status::Pass => ("pass", "32"),
        Status::Warn => ("WARN", "33"),
        Status::Fail => ("FAIL", "31"),
        Status::Skipped(_) => ("skipped", "36"),
        Status::Ignored => ("ignored", "35"),
        Status::Pending => ("PENDING", "1;33"),
    };
    if colour {
        format!("\x1b[{code}m{word:<7}\x1b[0m")
    } else {
        format!("{word:<7}")
    }
}

/// Per host: its roles, then each check that needs attention (all with `--all`), with value,
/// threshold and remedy; then a count of the rest.
pub(super) fn table(
    hosts: &[String],
    checks: &[Check],
    roles: &dyn Fn(&str) -> Vec<String>,
    all: bool,
    colour: bool,
) -> String {
    let mut out = String::new();
    let width = checks
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(10)
        .min(32);
    for h in hosts {
        let mine: Vec<&Check> = checks.iter().filter(|c| &c.host == h).collect();
        let r = roles(h);
        let r = if h == "installer" {
            "this machine: the bundle and its server".to_string()
        } else if r.is_empty() {
            "no role".to_string()
        } else {
            r.join(", ")
        };
        out.push_str(&format!("\n{h}  ({r})\n"));
        let mut passed = 0;
        for c in mine {
            if c.status == Status::Pass && !all {
                passed += 1;
                continue;
            }
            let mut line = format!(
                "  {} {:<width$}  {}",
                status_text(&c.status, colour),
                c.id,
                c.value
            );
            if let Status::Skipped(why) = &c.status {
                line.push_str(&format!(" — skipped: {why}"));
            }
            if let Some(t) = c.threshold.as_ref().filter(|_| c.status != Status::Pass) {
                line.push_str(&format!("  [{t}]"));
            }
            out.push_str(&line);
            out.push('\n');
            if let Some(r) = &c.remedy {
                out.push_str(&format!("  {:7} {:<width$}  → {r}\n", "", ""));
            }
        }
        if passed > 0 {
            out.push_str(&format!("  {passed} checks passed\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_what_needs_attention_and_counts_the_rest() {
        let checks = vec![
            Check::new("lab1", "memory", Status::Pass, "8.0 GiB"),
            Check::new(
                "lab1",
                "port:2379",
                Status::Fail,
                "in use by perl (pid 9) on 0.0.0.0",
            )
            .threshold("free")
            .remedy("stop it"),
            Check::new(
                "lab1",
                "swap",
                Status::Skipped("container: swap is the host machine's".into()),
                "1.0 GiB",
            ),
            Check::new("lab1", "os", Status::Ignored, "Debian 10"),
        ];
        let roles = |_: &str| vec!["etcd".to_string()];
        let t = table(&["lab1".into()], &checks, &roles, false, false);
        assert_eq!(
            t,
            "\nlab1  (etcd)\n\
             \x20 FAIL    port:2379  in use by perl (pid 9) on 0.0.0.0  [free]\n\
             \x20                    → stop it\n\
             \x20 skipped swap       1.0 GiB — skipped: container: swap is the host machine's\n\
             \x20 ignored os         Debian 10\n\
             \x20 1 checks passed\n"
        );
    }

    #[test]
    fn a_pending_host_key_is_never_a_pass_and_stops_like_an_unreachable_host() {
        let pending = Check::new(
            "lab54",
            "ssh:hostkey",
            Status::Pending,
            "ssh-ed25519 SHA256:x",
        );
        let ok = Check::new("lab55", "memory", Status::Pass, "8 GiB");
        assert_eq!(exit_code(std::slice::from_ref(&ok)), EXIT_OK);
        assert_eq!(exit_code(&[ok.clone(), pending.clone()]), EXIT_UNREACHABLE);
        let failed = Check::new("lab55", "port:2379", Status::Fail, "in use");
        assert_eq!(exit_code(&[pending.clone(), failed]), EXIT_FAILED);
        // --ignore-preflight cannot turn a pending key into anything else.
        let mut checks = vec![pending.clone()];
        apply_ignore(&mut checks, &BTreeSet::from(["ssh:hostkey"]));
        assert_eq!(checks[0].status, Status::Pending);
        assert_eq!(to_wire(&pending).status, "pending");
        let sum = preflight::summary(&[ok, pending]);
        assert_eq!(
            summary_line(2, 2, 0.25, &sum),
            "pre-flight: 2 hosts, 2 checks in 0.2 s: 1 pass, 0 warn, 0 fail, 0 skipped, 0 ignored, 1 pending (host keys to accept: `cairn hosts accept`)"
        );
        assert_eq!(
            table(
                &["lab54".into()],
                &[Check::new("lab54", "ssh:hostkey", Status::Pending, "k")],
                &|_| vec![],
                false,
                false
            ),
            "\nlab54  (no role)\n  PENDING ssh:hostkey  k\n"
        );
    }

    #[test]
    fn only_warned_or_failed_checks_with_a_remedy_are_fixable() {
        let c = |id: &str, st: Status| to_wire(&Check::new("h", id, st, "v")).fixable;
        assert!(c("sysctl:net.ipv4.ip_forward", Status::Warn));
        assert!(c("time_sync", Status::Fail));
        assert!(!c("sysctl:net.ipv4.ip_forward", Status::Pass));
        assert!(!c("sysctl:net.ipv4.ip_forward", Status::Ignored));
        assert!(!c("port:2379", Status::Fail));
    }
}
