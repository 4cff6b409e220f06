//! `cairn preflight --fix`: the safe remedies, planned from one host's checks and applied in
//! one exec of `fix.sh`; then the caller probes and checks again.
//!
//! Safe means: reversible, what the install's own roles would do anyway (same files: role
//! base's `/etc/sysctl.d/90-cairn.conf` and `/etc/modules-load.d/cairn.conf`, role chrony's
//! time source), and nothing that loses data or changes the clock: sysctls (set and persist),
//! kernel modules (load and persist), swap (swapoff and /etc/fstab's lines commented out),
//! chrony pointed at the installer's NTP server. Disks, ports, OS, memory are never "fixed".
//!
//! In a container the kernel is the machine's: modules, swap and non-`net.*` sysctls are not
//! touched and the plan says so (`NotApplied`), rather than failing or pretending.
//!
//! Owns the plan (pure, unit-tested), the script's arguments and reading its report. Must not:
//! judge hosts (checks.rs) or print.

use super::policy::Needs;
use super::probe::Probe;
use super::report::{Check, Status};
use crate::ssh::quote::shell_quote;
use crate::ssh::{Connection, ExecRequest, SshError};

pub const SCRIPT: &str = include_str!("fix.sh");

/// One remedy for the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Sysctl { name: String, value: String },
    Module(String),
    Swapoff,
    Fstab,
    Chrony { address: String, port: u16 },
}

impl Action {
    /// What the action does, in words (`sysctl net.ipv4.ip_forward=1, persisted`): the
    /// record's `action`.
    pub fn describe(&self) -> String {
        match self {
            Action::Sysctl { name, value } => {
                format!("sysctl {name}={value}, persisted in /etc/sysctl.d/90-cairn.conf")
            }
            Action::Module(m) => {
                format!("modprobe {m}, persisted in /etc/modules-load.d/cairn.conf")
            }
            Action::Swapoff => "swapoff -a".into(),
            Action::Fstab => "comment out the swap lines of /etc/fstab".into(),
            Action::Chrony { address, port } => {
                format!("chrony: the installer's NTP {address} port {port} as a source")
            }
        }
    }

    fn args(&self) -> Vec<String> {
        match self {
            Action::Sysctl { name, value } => vec!["sysctl".into(), name.clone(), value.clone()],
            Action::Module(m) => vec!["module".into(), m.clone()],
            Action::Swapoff => vec!["swapoff".into()],
            Action::Fstab => vec!["fstab".into()],
            Action::Chrony { address, port } => {
                vec!["chrony".into(), address.clone(), port.to_string()]
            }
        }
    }
}

/// What became of one remedy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied: what was changed.
    Changed(String),
    /// Nothing needed (already right).
    Unchanged(String),
    /// Tried and refused by the host: why.
    Failed(String),
    /// Not tried: why (a container's kernel, nothing to point chrony at, ...).
    NotApplied(String),
}

impl Outcome {
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Changed(_) => "changed",
            Outcome::Unchanged(_) => "ok",
            Outcome::Failed(_) => "failed",
            Outcome::NotApplied(_) => "not applied",
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Outcome::Changed(t) | Outcome::Unchanged(t) | Outcome::Failed(t) => t,
            Outcome::NotApplied(t) => t,
        }
    }
}

/// One host's remedy and its outcome, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fixed {
    pub host: String,
    /// The check it remedies (`sysctl:net.ipv4.ip_forward`, `swap_fstab`, `time_sync`).
    pub id: String,
    /// What the remedy is ([`Action::describe`]; for one not applied, what it would be).
    pub action: String,
    pub outcome: Outcome,
}

/// Whether `--fix` has a remedy for check `id` (when it warns or fails): what the console
/// offers a "Fix" button for. Whether it can be applied on a given host (a container's kernel)
/// is the plan's to say, with the reason.
pub fn fixable(id: &str) -> bool {
    id.starts_with("module:")
        || id.starts_with("sysctl:")
        || matches!(id, "swap" | "swap_fstab" | "time_sync")
}

/// The remedy of check `id` in words, for one that is not applied.
fn intended(id: &str) -> String {
    if let Some(m) = id.strip_prefix("module:") {
        format!("modprobe {m}, persisted in /etc/modules-load.d/cairn.conf")
    } else if let Some(s) = id.strip_prefix("sysctl:") {
        format!("sysctl {s}, persisted in /etc/sysctl.d/90-cairn.conf")
    } else {
        match id {
            "swap" => "swapoff -a".into(),
            "swap_fstab" => "comment out the swap lines of /etc/fstab".into(),
            "time_sync" => "chrony: the installer's NTP as a source".into(),
            _ => id.to_string(),
        }
    }
}

/// The plan for one host: actions to run (with the check id each remedies, in the script's
/// order: modules before the sysctls they bring), and remedies that will not be applied, why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<(String, Action)>,
    pub not_applied: Vec<(String, String)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Only the remedies of the check ids in `ids` (`--fix-only`; empty: all of them). `swap`
    /// keeps its `swap_fstab` step: swap turned off but left in /etc/fstab comes back at boot.
    pub fn only(mut self, ids: &[String]) -> Plan {
        if ids.is_empty() {
            return self;
        }
        let wanted = |id: &str| {
            ids.iter()
                .any(|w| w == id || (id == "swap_fstab" && w == "swap"))
        };
        self.actions.retain(|(id, _)| wanted(id));
        self.not_applied.retain(|(id, _)| wanted(id));
        self
    }
}

/// Plan the remedies for the checks of one host that warned or failed.
pub fn plan(needs: &Needs, probe: &Probe, checks: &[Check], ntp: Option<&(String, u16)>) -> Plan {
    let container = probe.container();
    let mut plan = Plan::default();
    let bad = |c: &&Check| matches!(c.status, Status::Warn | Status::Fail);
    let skipped = |c: &&Check| matches!(c.status, Status::Skipped(_));
    let mut modules = Vec::new();
    let mut sysctls = Vec::new();
    let mut swap = Vec::new();
    for c in checks {
        if let Some(m) = c.id.strip_prefix("module:") {
            match &container {
                Some(kind) if bad(&c) || skipped(&c) => plan.not_applied.push((
                    c.id.clone(),
                    format!(
                        "container ({kind}): kernel modules are the host machine's; on it: modprobe {m} and list it in /etc/modules-load.d/"
                    ),
                )),
                None if bad(&c) => modules.push((c.id.clone(), Action::Module(m.to_string()))),
                _ => {}
            }
        } else if let Some(s) =
            c.id.strip_prefix("sysctl:")
                .filter(|_| bad(&c) || (skipped(&c) && container.is_some()))
        {
            let Some((_, want)) = needs.sysctls.iter().find(|x| x.0 == s) else {
                continue;
            };
            let present = probe.sysctls.iter().any(|x| x.0 == s && x.1.is_some());
            let why = match &container {
                // A container has its own network namespace: net.* is its own; the rest
                // (kernel.*, vm.*, ...) is the machine's.
                Some(kind) if !s.starts_with("net.") => Some(format!(
                    "container ({kind}): {s} is the host machine's kernel setting; set it there"
                )),
                Some(kind) if !present => Some(format!(
                    "container ({kind}): {s} appears when its module is loaded on the host machine"
                )),
                _ => None,
            };
            match why {
                Some(w) => plan.not_applied.push((c.id.clone(), w)),
                None => sysctls.push((
                    c.id.clone(),
                    Action::Sysctl {
                        name: s.to_string(),
                        value: want.to_string(),
                    },
                )),
            }
        } else if c.id == "swap" {
            match &container {
                Some(kind) if bad(&c) || skipped(&c) => plan.not_applied.push((
                    c.id.clone(),
                    format!("container ({kind}): swap is the host machine's; on it: swapoff -a"),
                )),
                None if bad(&c) => {
                    swap.push((c.id.clone(), Action::Swapoff));
                    if probe.fstab_swap.is_empty() {
                        continue;
                    }
                    swap.push(("swap_fstab".to_string(), Action::Fstab));
                }
                _ => {}
            }
        } else if c.id == "swap_fstab" && bad(&c) {
            if !swap.iter().any(|(_, a)| *a == Action::Fstab) {
                swap.push((c.id.clone(), Action::Fstab));
            }
        } else if c.id == "time_sync" && bad(&c) {
            match ntp {
                Some((address, port)) if probe.chrony_installed => plan.actions.push((
                    c.id.clone(),
                    Action::Chrony {
                        address: address.clone(),
                        port: *port,
                    },
                )),
                Some(_) => plan.not_applied.push((
                    c.id.clone(),
                    "no chrony on the host: the install installs it from the bundle (role chrony)"
                        .to_string(),
                )),
                None => plan.not_applied.push((
                    c.id.clone(),
                    "no installer: section in cluster.yaml, so no NTP server to point chrony at"
                        .to_string(),
                )),
            }
        }
    }
    // Modules first: loading br_netfilter is what brings net.bridge.* sysctls.
    let chrony = std::mem::take(&mut plan.actions);
    plan.actions = modules
        .into_iter()
        .chain(sysctls)
        .chain(swap)
        .chain(chrony)
        .collect();
    plan
}

/// Apply `plan` on `conn` (one exec). Every planned action gets an outcome; a script that did
/// not report one is a failure of that action, never a silent success.
pub async fn apply(
    conn: &Connection,
    become_user: Option<&str>,
    host: &str,
    plan: &Plan,
) -> Result<Vec<Fixed>, SshError> {
    let mut out: Vec<Fixed> = plan
        .not_applied
        .iter()
        .map(|(id, why)| Fixed {
            host: host.to_string(),
            id: id.clone(),
            action: intended(id),
            outcome: Outcome::NotApplied(why.clone()),
        })
        .collect();
    if plan.actions.is_empty() {
        return Ok(out);
    }
    let mut cmd = format!("/bin/sh -c {} cairn-fix", shell_quote(SCRIPT));
    for (_, a) in &plan.actions {
        for arg in a.args() {
            cmd.push(' ');
            cmd.push_str(&shell_quote(&arg));
        }
    }
    let mut req = ExecRequest::new(&cmd);
    if let Some(u) = become_user {
        req = req.become_user(u);
    }
    let done = conn.exec(req).await?;
    let reported = parse(&done.stdout_str());
    for (id, action) in &plan.actions {
        let outcome = reported
            .iter()
            .find(|(r, _)| r == id)
            .map(|(_, o)| o.clone())
            .unwrap_or_else(|| {
                Outcome::Failed(format!(
                    "the fix script did not report it (exit {:?}): {}",
                    done.exit_status,
                    done.stderr_str().trim()
                ))
            });
        out.push(Fixed {
            host: host.to_string(),
            id: id.clone(),
            action: action.describe(),
            outcome,
        });
    }
    Ok(out)
}

/// The script's `@ID|changed|text` lines.
pub fn parse(output: &str) -> Vec<(String, Outcome)> {
    output
        .lines()
        .filter_map(|l| {
            let mut f = l.strip_prefix('@')?.splitn(3, '|');
            let (id, word, text) = (f.next()?, f.next()?, f.next().unwrap_or("").to_string());
            let o = match word {
                "changed" => Outcome::Changed(text),
                "ok" => Outcome::Unchanged(text),
                "failed" => Outcome::Failed(text),
                _ => return None,
            };
            Some((id.to_string(), o))
        })
        .collect()
}

#[cfg(test)]
mod tests;
