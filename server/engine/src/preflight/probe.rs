//! One round trip per host: `setup.sh` (the facts) and `probe.sh` (what only pre-flight needs)
//! run in one exec, and their `key=value` output parsed into a [`Probe`].
//!
//! Owns reading what the host says. Must not: judge it (checks.rs does), or fail on a line
//! it does not understand (that value is simply missing, and its check says so).

use serde_json::Value as Json;

use crate::modules::setup;
use crate::playbook::Vars;
use crate::ssh::quote::shell_quote;
use crate::ssh::{Connection, ExecRequest, SshError};

pub const SCRIPT: &str = include_str!("probe.sh");
const MARK: &str = "#cairn-preflight-probe#";

/// What to look at on a host.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub repo_url: Option<String>,
    pub paths: Vec<String>,
    pub modules: Vec<String>,
    pub sysctls: Vec<String>,
    /// Component and the file where its role leaves `Managed by Cairn`.
    pub marks: Vec<(String, String)>,
    /// Where to time synchronous writes (the etcd data dir), and how many.
    pub fsync: Option<(String, u32)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Disk {
    /// The path the check is about, and where it was measured (its nearest existing ancestor).
    pub path: String,
    pub measured_at: String,
    pub total_kib: u64,
    pub used_kib: u64,
    pub avail_kib: u64,
    pub mount: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listener {
    pub port: u16,
    pub address: String,
    /// The process holding it (`sshd (pid 34)`), when ss could say.
    pub process: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleState {
    Loaded,
    Builtin,
    Loadable,
    /// Not listed as loaded or built in, but what the module provides is there (`overlay` in
    /// `/proc/filesystems`, br_netfilter's `/proc/sys/net/bridge/bridge-nf-call-iptables`):
    /// what a container sees of a module the machine has.
    InEffect,
    Missing,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Probe {
    /// The facts as `setup` reports them (names without the `ansible_` prefix).
    pub facts: Vars,
    pub uid: Option<u32>,
    pub hostname: Option<String>,
    /// Active swap areas (device, KiB).
    pub swaps: Vec<(String, u64)>,
    pub fstab_swap: Vec<String>,
    pub disks: Vec<Disk>,
    pub listeners: Vec<Listener>,
    pub modules: Vec<(String, ModuleState)>,
    /// Dotted name and value (`None`: not present on this kernel).
    pub sysctls: Vec<(String, Option<String>)>,
    pub cgroup_fs: Option<String>,
    pub cgroup_controllers: Option<String>,
    pub time_services: Vec<String>,
    pub ntp_synced: Option<bool>,
    pub chrony_leap: Option<String>,
    pub selinux_enforcing: Option<bool>,
    pub firewalld_active: bool,
    pub installed: Vec<String>,
    /// How the repo fetch went: the tool and the HTTP status or error.
    pub repo: Option<String>,
    pub default_routes: Vec<String>,
    /// chrony's sources: `^*`-style mode/state and the address.
    pub chrony_sources: Vec<(String, String)>,
    pub chrony_installed: bool,
    /// Components Cairn's roles installed on this host (their files carry Cairn's mark).
    pub marks: Vec<String>,
    /// The fsync probe: the directory measured and each write's seconds (`None`: dd failed).
    pub fsync: Option<(String, Option<Vec<f64>>)>,
}

/// Run the probe on `conn` (as `become_user` when set: ports' processes and some files need
/// root).
pub async fn run(
    conn: &Connection,
    become_user: Option<&str>,
    req: &Request,
) -> Result<Result<Probe, String>, SshError> {
    // setup.sh ends with `exit 0`: run it in a subshell so the probe follows it.
    let script = format!("(\n{}\n)\necho '{MARK}'\n{SCRIPT}", setup::SCRIPT);
    let marks: Vec<String> = req.marks.iter().map(|(c, f)| format!("{c}={f}")).collect();
    let (fsync_dir, fsync_n) = req.fsync.clone().unwrap_or_default();
    let args = [
        req.repo_url.clone().unwrap_or_default(),
        req.paths.join(" "),
        req.modules.join(" "),
        req.sysctls.join(" "),
        marks.join(" "),
        fsync_dir,
        fsync_n.to_string(),
    ];
    let mut cmd = format!("/bin/sh -c {} cairn-preflight", shell_quote(&script));
    for a in &args {
        cmd.push(' ');
        cmd.push_str(&shell_quote(a));
    }
    let mut req = ExecRequest::new(&cmd);
    if let Some(u) = become_user {
        req = req.become_user(u);
    }
    let out = conn.exec(req).await?;
    if out.exit_status != Some(0) {
        return Ok(Err(format!(
            "the probe did not run (exit {:?}): {}",
            out.exit_status,
            out.stderr_str().trim()
        )));
    }
    Ok(Ok(parse(&out.stdout_str())))
}

pub fn parse(output: &str) -> Probe {
    let (facts, rest) = output.split_once(MARK).unwrap_or((output, ""));
    let mut p = Probe {
        facts: setup::parse(facts),
        ..Probe::default()
    };
    for line in rest.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "uid" => p.uid = v.trim().parse().ok(),
            "hostname" if !v.is_empty() => p.hostname = Some(v.to_string()),
            "swap" => {
                let mut w = v.split_whitespace();
                if let (Some(d), Some(s)) = (w.next(), w.next().and_then(|s| s.parse().ok())) {
                    p.swaps.push((d.to_string(), s));
                }
            }
            "fstab_swap" => p.fstab_swap.push(v.to_string()),
            "disk" => {
                let w: Vec<&str> = v.split_whitespace().collect();
                if let [path, at, total, used, avail, mount] = w[..]
                    && let (Ok(total), Ok(used), Ok(avail)) =
                        (total.parse(), used.parse(), avail.parse())
                {
                    p.disks.push(Disk {
                        path: path.into(),
                        measured_at: at.into(),
                        total_kib: total,
                        used_kib: used,
                        avail_kib: avail,
                        mount: mount.into(),
                    });
                }
            }
            "listen" => {
                if let Some(l) = listener(v) {
                    p.listeners.push(l);
                }
            }
            "module" => {
                if let Some((m, s)) = v.split_once(' ') {
                    let state = match s.trim() {
                        "loaded" => ModuleState::Loaded,
                        "builtin" => ModuleState::Builtin,
                        "loadable" => ModuleState::Loadable,
                        "in-effect" => ModuleState::InEffect,
                        _ => ModuleState::Missing,
                    };
                    p.modules.push((m.to_string(), state));
                }
            }
            "sysctl" => {
                if let Some((n, val)) = v.split_once(' ') {
                    let val = val.trim();
                    p.sysctls
                        .push((n.to_string(), (val != "-").then(|| val.to_string())));
                }
            }
            "cgroup_fs" if !v.is_empty() => p.cgroup_fs = Some(v.to_string()),
            "cgroup_controllers" => p.cgroup_controllers = Some(v.to_string()),
            "timesvc" => p.time_services.push(v.to_string()),
            "ntp_synced" => {
                p.ntp_synced = match v.trim() {
                    "yes" => Some(true),
                    "no" => Some(false),
                    _ => None,
                }
            }
            "chrony_leap" if !v.is_empty() => p.chrony_leap = Some(v.to_string()),
            "selinux" => p.selinux_enforcing = Some(v.trim() == "1"),
            "firewalld" => p.firewalld_active = true,
            "installed" => p.installed.push(v.to_string()),
            "repo" => p.repo = Some(v.to_string()),
            "default_route" => p.default_routes.push(v.to_string()),
            "chrony_source" => {
                if let Some((state, addr)) = v.split_once(' ') {
                    p.chrony_sources
                        .push((state.to_string(), addr.trim().to_string()));
                }
            }
            "chrony_installed" => p.chrony_installed = true,
            "mark" if !v.is_empty() => p.marks.push(v.to_string()),
            "fsync" => {
                let mut w = v.split_whitespace();
                if let Some(dir) = w.next() {
                    let rest: Vec<&str> = w.collect();
                    let samples: Option<Vec<f64>> = if rest == ["error"] {
                        None
                    } else {
                        rest.iter().map(|t| t.parse().ok()).collect()
                    };
                    p.fsync = Some((dir.to_string(), samples));
                }
            }
            _ => {}
        }
    }
    p
}

/// One `ss -H -l -t -n -p` line: `LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=34,fd=3))`.
fn listener(line: &str) -> Option<Listener> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let local = w.get(3)?;
    let (address, port) = local.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let process = line.split_once("users:((\"").and_then(|(_, rest)| {
        let (name, rest) = rest.split_once('"')?;
        let pid = rest
            .split_once("pid=")
            .and_then(|(_, r)| r.split(|c: char| !c.is_ascii_digit()).next());
        Some(match pid {
            Some(pid) if !pid.is_empty() => format!("{name} (pid {pid})"),
            _ => name.to_string(),
        })
    });
    Some(Listener {
        port,
        address: address.to_string(),
        process,
    })
}

impl Probe {
    pub fn fact(&self, name: &str) -> Option<&Json> {
        self.facts.get(name)
    }

    pub fn fact_str(&self, name: &str) -> Option<&str> {
        self.facts.get(name).and_then(Json::as_str)
    }

    /// `systemd-nspawn`, `docker`, `lxc`... when the host is a container.
    pub fn container(&self) -> Option<String> {
        (self.fact_str("virtualization_role") == Some("guest"))
            .then(|| self.fact_str("virtualization_type"))
            .flatten()
            .filter(|t| {
                matches!(
                    *t,
                    "systemd-nspawn"
                        | "docker"
                        | "podman"
                        | "lxc"
                        | "lxc-libvirt"
                        | "container"
                        | "openvz"
                        | "wsl"
                        | "rkt"
                )
            })
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_captured_lab_probe() {
        let out = format!(
            "nodename=lab1\nkernel=6.1.0-28-amd64\n{MARK}\nuid=0\nhostname=lab1\n\
             swap=/dev/vda3 2097148\n\
             disk=/ / 264212084 54666600 40619288 /\n\
             disk=/var/lib/etcd /var/lib 264212084 54666600 40619288 /\n\
             listen=LISTEN 0      128    0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=34,fd=3))\n\
             listen=LISTEN 0      128       [::]:2379    [::]:*\n\
             module=br_netfilter missing\nmodule=overlay builtin\nmodule=dm_mod in-effect\n\
             sysctl=net.ipv4.ip_forward 0\nsysctl=net.bridge.bridge-nf-call-iptables -\n\
             cgroup_fs=cgroup2fs\ncgroup_controllers=cpu memory pids\n\
             timesvc=chrony\nntp_synced=no\nrepo=perl 200\nnonsense line\n=\n\
             chrony_source=^* 10.213.0.1\nchrony_source=^? 192.0.2.7\nchrony_installed=yes\n\
             mark=etcd\nfsync=/var/lib 0.00123 3.1e-05\n"
        );
        let p = parse(&out);
        assert_eq!(p.fact_str("kernel"), Some("6.1.0-28-amd64"));
        assert_eq!(p.uid, Some(0));
        assert_eq!(p.swaps, vec![("/dev/vda3".into(), 2097148)]);
        assert_eq!(p.disks.len(), 2);
        assert_eq!(p.disks[1].measured_at, "/var/lib");
        assert_eq!(p.disks[1].avail_kib, 40619288);
        assert_eq!(
            p.listeners,
            vec![
                Listener {
                    port: 22,
                    address: "0.0.0.0".into(),
                    process: Some("sshd (pid 34)".into())
                },
                Listener {
                    port: 2379,
                    address: "[::]".into(),
                    process: None
                }
            ]
        );
        assert_eq!(
            p.modules,
            vec![
                ("br_netfilter".into(), ModuleState::Missing),
                ("overlay".into(), ModuleState::Builtin),
                ("dm_mod".into(), ModuleState::InEffect)
            ]
        );
        assert_eq!(
            p.sysctls,
            vec![
                ("net.ipv4.ip_forward".into(), Some("0".into())),
                ("net.bridge.bridge-nf-call-iptables".into(), None)
            ]
        );
        assert_eq!(p.cgroup_fs.as_deref(), Some("cgroup2fs"));
        assert_eq!(p.time_services, vec!["chrony".to_string()]);
        assert_eq!(p.ntp_synced, Some(false));
        assert_eq!(p.repo.as_deref(), Some("perl 200"));
        assert_eq!(
            p.chrony_sources,
            vec![
                ("^*".to_string(), "10.213.0.1".to_string()),
                ("^?".to_string(), "192.0.2.7".to_string())
            ]
        );
        assert!(p.chrony_installed);
        assert_eq!(p.marks, vec!["etcd".to_string()]);
        assert_eq!(
            p.fsync,
            Some(("/var/lib".to_string(), Some(vec![0.00123, 3.1e-05])))
        );
        let failed = parse(&format!("{MARK}\nfsync=/var/lib/etcd error\n"));
        assert_eq!(failed.fsync, Some(("/var/lib/etcd".to_string(), None)));
    }

    #[test]
    fn garbage_gives_an_empty_probe_not_a_panic() {
        for junk in [
            "",
            "=",
            "disk=a b",
            "listen=LISTEN 0 1 nocolon",
            "swap=x notanumber",
        ] {
            let p = parse(&format!("{MARK}\n{junk}\n"));
            assert!(p.disks.is_empty() && p.listeners.is_empty() && p.swaps.is_empty());
        }
    }
}
