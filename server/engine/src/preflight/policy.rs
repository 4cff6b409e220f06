//! What each role needs from a host: CPUs, memory, disk per path, free ports, kernel modules,
//! sysctls, swap, kernel version; plus the cluster-wide bounds (clock offset, disk % used,
//! supported OS releases). Defaults follow what Kubernetes, etcd and the installers users
//! trust document (kubeadm: 2 CPUs / 2 GiB for a control plane; etcd: its ports and a data
//! disk; kURL: fail above 80 % used).
//!
//! Owns the numbers and how several roles on one host combine (the strictest wins; ports,
//! paths and modules add up). Must not: look at hosts.

use std::collections::BTreeMap;

const GIB: u64 = 1024 * 1024; // in KiB
const MIB: u64 = 1024; // in KiB

/// Free space required under one path.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskNeed {
    pub path: String,
    pub fail_below_kib: u64,
    pub warn_below_kib: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Needs {
    pub cpus_fail: u32,
    pub cpus_warn: u32,
    pub mem_fail_kib: u64,
    pub mem_warn_kib: u64,
    pub disks: Vec<DiskNeed>,
    /// Port and what uses it (`2379 etcd client`).
    pub ports: Vec<(u16, &'static str)>,
    pub modules: Vec<&'static str>,
    /// Name and the value the role needs.
    pub sysctls: Vec<(&'static str, &'static str)>,
    pub swap_off: bool,
    pub kernel_min: (u32, u32),
    /// Releases allowed for this role (distribution, major version), when cluster.yaml's
    /// `preflight.roles.<role>.os` lists them; otherwise [`Policy::os`] applies.
    pub os: Option<Vec<(String, String)>>,
}

impl Needs {
    /// Both roles' needs on one host: the strictest bound, the union of lists.
    fn merge(&mut self, o: &Needs) {
        self.cpus_fail = self.cpus_fail.max(o.cpus_fail);
        self.cpus_warn = self.cpus_warn.max(o.cpus_warn);
        self.mem_fail_kib = self.mem_fail_kib.max(o.mem_fail_kib);
        self.mem_warn_kib = self.mem_warn_kib.max(o.mem_warn_kib);
        for d in &o.disks {
            match self.disks.iter_mut().find(|x| x.path == d.path) {
                Some(x) => {
                    x.fail_below_kib = x.fail_below_kib.max(d.fail_below_kib);
                    x.warn_below_kib = x.warn_below_kib.max(d.warn_below_kib);
                }
                None => self.disks.push(d.clone()),
            }
        }
        for p in &o.ports {
            if !self.ports.iter().any(|x| x.0 == p.0) {
                self.ports.push(*p);
            }
        }
        for m in &o.modules {
            if !self.modules.contains(m) {
                self.modules.push(m);
            }
        }
        for s in &o.sysctls {
            if !self.sysctls.iter().any(|x| x.0 == s.0) {
                self.sysctls.push(*s);
            }
        }
        self.swap_off |= o.swap_off;
        self.kernel_min = self.kernel_min.max(o.kernel_min);
        // Two roles that each list releases: the host must run one both allow.
        self.os = match (self.os.take(), &o.os) {
            (Some(mine), Some(theirs)) => {
                Some(mine.into_iter().filter(|r| theirs.contains(r)).collect())
            }
            (mine, theirs) => mine.or_else(|| theirs.clone()),
        };
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Every host, whatever its roles.
    pub base: Needs,
    pub roles: BTreeMap<&'static str, Needs>,
    /// Clock offset vs the installer and vs the hosts' median: warn, fail (seconds).
    pub offset_warn: f64,
    pub offset_fail: f64,
    /// Disk % used above which a path fails / warns.
    pub used_fail_pct: f64,
    pub used_warn_pct: f64,
    /// Supported distributions (Ansible's `ansible_distribution`) and major versions.
    pub os: Vec<(&'static str, Vec<&'static str>)>,
    /// Run the etcd disk fsync probe on etcd hosts (cluster.yaml `preflight.fsync_probe`).
    pub fsync_probe: bool,
    /// The fsync p99 (ms) above which the probe warns; etcd's guidance is < 10 ms.
    pub fsync_warn_ms: f64,
}

/// How many synchronous 2300-byte writes the fsync probe times (etcd's own fio recipe uses
/// writes of that size; 100 give a p99 that is one sample from the top).
pub const FSYNC_SAMPLES: u32 = 100;

/// A service Cairn installs that listens on a port: a re-install on a healthy cluster finds
/// it there, and that is not a conflict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Owner {
    pub port: u16,
    /// Process names as `ss` shows them (the kernel's 15-character `comm`).
    pub process: &'static [&'static str],
    /// The component whose Cairn mark proves Cairn installed it (see [`MARKS`]).
    pub component: &'static str,
}

/// The ports of services Cairn's roles install. Only components whose roles leave a mark
/// are here: a port held by a same-named process without Cairn's mark is someone else's
/// install and stays a conflict. Process names are the binaries' names cut to the kernel's
/// 15 characters (`kube-controller-manager` shows as `kube-controller`). The CI's buildbot
/// master sets its process title to `buildbot` (its mark is the master's `master.cfg`; a
/// bare `python3` would prove nothing and is not accepted).
pub const OWNERS: &[Owner] = &[
    Owner {
        port: 2379,
        process: &["etcd"],
        component: "etcd",
    },
    Owner {
        port: 2380,
        process: &["etcd"],
        component: "etcd",
    },
    Owner {
        port: 9100,
        process: &["prometheus-node", "node_exporter"],
        component: "node_exporter",
    },
    Owner {
        port: 9090,
        process: &["prometheus"],
        component: "prometheus",
    },
    Owner {
        port: 9093,
        process: &["prometheus-aler", "alertmanager"],
        component: "alertmanager",
    },
    Owner {
        port: 5000,
        process: &["docker-registry", "registry"],
        component: "registry",
    },
    Owner {
        port: 8010,
        process: &["buildbot"],
        component: "buildbot",
    },
    Owner {
        port: 6443,
        process: &["kube-apiserver"],
        component: "kube-apiserver",
    },
    Owner {
        port: 10257,
        process: &["kube-controller"],
        component: "kube-controller-manager",
    },
    Owner {
        port: 10259,
        process: &["kube-scheduler"],
        component: "kube-scheduler",
    },
    Owner {
        port: 10250,
        process: &["kubelet"],
        component: "kubelet",
    },
    Owner {
        port: 10256,
        process: &["kube-proxy"],
        component: "kube-proxy",
    },
];

/// Where each component's role leaves `Managed by Cairn` (the probe looks for that text).
pub const MARKS: &[(&str, &str)] = &[
    ("etcd", "/etc/default/etcd"),
    ("node_exporter", "/etc/default/prometheus-node-exporter"),
    ("prometheus", "/etc/prometheus/prometheus.yml"),
    ("chrony", "/etc/chrony/chrony.conf"),
    ("alertmanager", "/etc/prometheus/alertmanager.yml"),
    ("registry", "/etc/docker/registry/config.yml"),
    ("buildbot", "/var/lib/buildbot/masters/cairn/master.cfg"),
    (
        "kube-apiserver",
        "/etc/systemd/system/kube-apiserver.service",
    ),
    (
        "kube-controller-manager",
        "/etc/systemd/system/kube-controller-manager.service",
    ),
    (
        "kube-scheduler",
        "/etc/systemd/system/kube-scheduler.service",
    ),
    ("kubelet", "/etc/systemd/system/kubelet.service"),
    ("kube-proxy", "/etc/systemd/system/kube-proxy.service"),
];

/// The service Cairn installs on `port`, if any.
pub fn owner(port: u16) -> Option<&'static Owner> {
    OWNERS.iter().find(|o| o.port == port)
}

fn disk(path: &str, fail_gib: u64, warn_gib: u64) -> DiskNeed {
    DiskNeed {
        path: path.into(),
        fail_below_kib: fail_gib * GIB,
        warn_below_kib: warn_gib * GIB,
    }
}

const KUBE_MODULES: [&str; 2] = ["overlay", "br_netfilter"];
const KUBE_SYSCTLS: [(&str, &str); 2] = [
    ("net.ipv4.ip_forward", "1"),
    ("net.bridge.bridge-nf-call-iptables", "1"),
];

impl Policy {
    /// The defaults, with cluster.yaml's `preflight:` clock thresholds where it sets them.
    pub fn from_settings(s: &crate::inventory::install_settings::Preflight) -> Policy {
        let mut p = Policy::default();
        if let Some(w) = s.offset_warn_seconds {
            p.offset_warn = w;
        }
        if let Some(f) = s.offset_fail_seconds {
            p.offset_fail = f;
        }
        if let Some(ms) = s.fsync_warn_ms {
            p.fsync_warn_ms = ms;
        }
        p.fsync_probe = s.fsync_probe;
        for (role, given) in &s.roles {
            let Some(role) = ROLES.iter().find(|r| **r == role.as_str()) else {
                continue;
            };
            let needs = p.roles.entry(role).or_default();
            if let Some(k) = given.kernel_min {
                needs.kernel_min = k;
            }
            if let Some(os) = &given.os {
                needs.os = Some(os.clone());
            }
        }
        p
    }
}

impl Default for Policy {
    fn default() -> Policy {
        let kube = |cpus_fail, mem_fail_gib, mem_warn_gib, ports: Vec<(u16, &'static str)>| Needs {
            cpus_fail,
            cpus_warn: 2,
            mem_fail_kib: mem_fail_gib * GIB,
            mem_warn_kib: mem_warn_gib * GIB,
            disks: vec![
                disk("/var/lib/containerd", 10, 20),
                disk("/var/lib/kubelet", 2, 5),
            ],
            ports,
            modules: KUBE_MODULES.to_vec(),
            sysctls: KUBE_SYSCTLS.to_vec(),
            swap_off: true,
            kernel_min: (4, 19),
            os: None,
        };
        let mut roles = BTreeMap::new();
        roles.insert(
            "etcd",
            Needs {
                cpus_fail: 1,
                cpus_warn: 2,
                mem_fail_kib: GIB,
                mem_warn_kib: 2 * GIB,
                disks: vec![disk("/var/lib/etcd", 5, 10)],
                ports: vec![(2379, "etcd client"), (2380, "etcd peer")],
                ..Needs::default()
            },
        );
        roles.insert(
            "kube_master",
            kube(
                2,
                2,
                4,
                vec![
                    (6443, "kube-apiserver"),
                    (10250, "kubelet"),
                    (10257, "kube-controller-manager"),
                    (10259, "kube-scheduler"),
                ],
            ),
        );
        roles.insert(
            "kube_node",
            kube(
                1,
                1,
                2,
                vec![(10250, "kubelet"), (10256, "kube-proxy health")],
            ),
        );
        roles.insert(
            "registry",
            Needs {
                disks: vec![disk("/var/lib/registry", 10, 20)],
                ports: vec![(5000, "registry")],
                ..Needs::default()
            },
        );
        roles.insert(
            "ci",
            Needs {
                cpus_fail: 1,
                cpus_warn: 2,
                mem_fail_kib: GIB,
                mem_warn_kib: 2 * GIB,
                disks: vec![disk("/var/lib/cairn-ci", 5, 10)],
                ports: vec![(8080, "CI web UI"), (8010, "buildbot web UI")],
                ..Needs::default()
            },
        );
        roles.insert(
            "monitoring",
            Needs {
                mem_fail_kib: GIB,
                mem_warn_kib: 2 * GIB,
                disks: vec![disk("/var/lib/prometheus", 5, 10)],
                ports: vec![(9090, "prometheus"), (9093, "alertmanager")],
                ..Needs::default()
            },
        );
        Policy {
            base: Needs {
                cpus_fail: 1,
                cpus_warn: 1,
                mem_fail_kib: 512 * MIB,
                mem_warn_kib: GIB,
                disks: vec![disk("/", 2, 5)],
                ports: vec![(9100, "node exporter")],
                kernel_min: (3, 10),
                ..Needs::default()
            },
            roles,
            offset_warn: 0.5,
            offset_fail: 2.0,
            used_fail_pct: 80.0,
            used_warn_pct: 70.0,
            os: vec![
                ("Debian", vec!["11", "12"]),
                ("Ubuntu", vec!["20", "22", "24"]),
                ("RedHat", vec!["8", "9"]),
                ("Rocky", vec!["8", "9"]),
                ("AlmaLinux", vec!["8", "9"]),
                ("CentOS", vec!["8", "9"]),
                ("OracleLinux", vec!["8", "9"]),
            ],
            fsync_probe: false,
            fsync_warn_ms: 10.0,
        }
    }
}

/// The roles pre-flight knows (cluster.yaml's roles).
pub const ROLES: [&str; 6] = [
    "etcd",
    "kube_master",
    "kube_node",
    "registry",
    "ci",
    "monitoring",
];

impl Policy {
    /// What a host with these roles needs (the base plus every role's).
    pub fn needs(&self, roles: &[String]) -> Needs {
        let mut n = self.base.clone();
        for r in roles {
            if let Some(more) = self.roles.get(r.as_str()) {
                n.merge(more);
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port can only be "ours" if its component has a mark to look for, and the process
    /// names fit in the kernel's 15-character `comm` that `ss` shows.
    #[test]
    fn every_owner_has_a_mark_and_names_ss_can_show() {
        for o in OWNERS {
            assert!(
                MARKS.iter().any(|(c, _)| *c == o.component),
                "{} has no mark",
                o.component
            );
            assert!(o.process.iter().all(|p| p.len() <= 15), "{:?}", o.process);
            assert!(
                owner(o.port).is_some_and(|x| x == o),
                "port {} twice",
                o.port
            );
        }
    }

    #[test]
    fn roles_on_one_host_combine_strictest_first() {
        let p = Policy::default();
        let n = p.needs(&["etcd".into(), "kube_master".into()]);
        assert_eq!(n.cpus_fail, 2);
        assert_eq!(n.mem_warn_kib, 4 * GIB);
        let ports: Vec<u16> = n.ports.iter().map(|p| p.0).collect();
        assert_eq!(ports, vec![9100, 2379, 2380, 6443, 10250, 10257, 10259]);
        let paths: Vec<&str> = n.disks.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "/",
                "/var/lib/etcd",
                "/var/lib/containerd",
                "/var/lib/kubelet"
            ]
        );
        assert!(n.swap_off);
        assert_eq!(n.kernel_min, (4, 19));
        let bare = p.needs(&[]);
        assert!(!bare.swap_off && bare.modules.is_empty());
    }
}
