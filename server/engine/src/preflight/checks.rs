//! Judging one host's [`Probe`] against what its roles need ([`Needs`]), and the checks that
//! compare hosts with each other (unique names, ids and addresses; clock skew).
//!
//! Owns every check's id, its pass/warn/fail rule, the words of its value and its remedy. In a
//! container some things are the host machine's (kernel modules, `kernel.*` sysctls, swap, the
//! clock): those checks say `skipped: container` instead of failing or pretending to pass.
//! Must not: talk to hosts (probe.rs and clock.rs do) or print.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::clock::{self, Offset};
use super::policy::{self, Needs, Policy};
use super::probe::{ModuleState, Probe};
use super::report::{Check, Status};

const GIB: f64 = 1024.0 * 1024.0; // KiB

fn gib(kib: u64) -> String {
    format!("{:.1} GiB", kib as f64 / GIB)
}

/// Everything known about one host for judging it.
pub struct HostInput<'a> {
    pub host: &'a str,
    pub roles: &'a [String],
    pub probe: &'a Probe,
    pub offset: Option<Offset>,
    /// Whether the repo was asked for (`--repo-url`).
    pub repo_wanted: bool,
    /// The installer's NTP server (`ADDRESS`, `PORT`), when cluster.yaml names the installer.
    pub ntp: Option<(String, u16)>,
    /// The bundle's architectures (`amd64`, `arm64`); empty when no bundle was given.
    pub arches: &'a [String],
}

/// The per-host checks, in a stable order.
pub fn host(policy: &Policy, h: &HostInput<'_>) -> Vec<Check> {
    let needs = policy.needs(h.roles);
    let p = h.probe;
    let container = p.container();
    let name = h.host;
    let mut out = Vec::new();

    // Privilege: pre-flight runs as root (become) to see ports' processes; the install will too.
    out.push(match p.uid {
        Some(0) => Check::new(name, "sudo", Status::Pass, "commands run as root"),
        Some(u) => Check::new(
            name,
            "sudo",
            Status::Fail,
            format!("commands run as uid {u}, not root"),
        )
        .remedy("use --become (and a sudo password if needed) or log in as root"),
        None => Check::new(name, "sudo", Status::Warn, "could not tell the user id"),
    });

    out.push(os(policy, name, p, &needs));
    out.push(kernel(name, p, &needs, container.as_deref()));
    out.push(arch(name, p, h.arches));
    if let Some(c) = &container {
        out.push(Check::new(
            name,
            "virtualization",
            Status::Pass,
            format!("container: {c} (kernel, modules, swap and clock are the host machine's)"),
        ));
    } else {
        let v = format!(
            "{} {}",
            p.fact_str("virtualization_role").unwrap_or("?"),
            p.fact_str("virtualization_type").unwrap_or("?")
        );
        out.push(Check::new(name, "virtualization", Status::Pass, v));
    }

    let cpus = p
        .fact("processor_vcpus")
        .and_then(Json::as_u64)
        .unwrap_or(0) as u32;
    out.push(
        Check::new(
            name,
            "cpu",
            grade_min(cpus as f64, needs.cpus_fail as f64, needs.cpus_warn as f64),
            format!("{cpus} CPUs"),
        )
        .threshold(format!(
            "fail < {}, warn < {}",
            needs.cpus_fail, needs.cpus_warn
        ))
        .remedy("give the host more CPUs, or move a role elsewhere"),
    );
    let mem_kib = p.fact("memtotal_mb").and_then(Json::as_u64).unwrap_or(0) * 1024;
    out.push(
        Check::new(
            name,
            "memory",
            grade_min(
                mem_kib as f64,
                needs.mem_fail_kib as f64,
                needs.mem_warn_kib as f64,
            ),
            gib(mem_kib),
        )
        .threshold(format!(
            "fail < {}, warn < {}",
            gib(needs.mem_fail_kib),
            gib(needs.mem_warn_kib)
        ))
        .remedy("give the host more memory, or move a role elsewhere"),
    );

    for need in &needs.disks {
        let id = format!("disk:{}", need.path);
        let Some(d) = p.disks.iter().find(|d| d.path == need.path) else {
            out.push(
                Check::new(name, id, Status::Fail, "df could not measure it")
                    .remedy("check that the path's file system is mounted and df works"),
            );
            continue;
        };
        let used_pct = if d.used_kib + d.avail_kib == 0 {
            0.0
        } else {
            100.0 * d.used_kib as f64 / (d.used_kib + d.avail_kib) as f64
        };
        let status = if d.avail_kib < need.fail_below_kib || used_pct > policy.used_fail_pct {
            Status::Fail
        } else if d.avail_kib < need.warn_below_kib || used_pct > policy.used_warn_pct {
            Status::Warn
        } else {
            Status::Pass
        };
        let at = if d.measured_at == d.path {
            format!("on {}", d.mount)
        } else {
            format!("on {} ({} does not exist yet)", d.mount, d.path)
        };
        out.push(
            Check::new(
                name,
                id,
                status,
                format!(
                    "{} free of {} ({used_pct:.0} % used) {at}",
                    gib(d.avail_kib),
                    gib(d.total_kib)
                ),
            )
            .threshold(format!(
                "fail < {} free or > {:.0} % used; warn < {} or > {:.0} %",
                gib(need.fail_below_kib),
                policy.used_fail_pct,
                gib(need.warn_below_kib),
                policy.used_warn_pct
            ))
            .remedy(format!(
                "free space on {} or mount a larger disk at {}",
                d.mount, need.path
            )),
        );
    }

    for (port, what) in &needs.ports {
        let id = format!("port:{port}");
        let holders: Vec<_> = p.listeners.iter().filter(|l| l.port == *port).collect();
        let busy: Vec<String> = holders
            .iter()
            .map(|l| match &l.process {
                Some(pr) => format!("{pr} on {}", l.address),
                None => format!("an unknown process on {}", l.address),
            })
            .collect();
        // A re-install finds the very service Cairn installed here: not a conflict. Ours
        // means every holder is the expected process AND the host carries Cairn's mark of
        // that component (a same-named service someone else installed is still a conflict).
        let ours = policy::owner(*port).filter(|o| {
            p.marks.iter().any(|m| m == o.component)
                && holders.iter().all(|l| {
                    l.process
                        .as_deref()
                        .and_then(|pr| pr.split(" (pid").next())
                        .is_some_and(|pr| o.process.contains(&pr))
                })
        });
        out.push(if busy.is_empty() {
            Check::new(name, id, Status::Pass, format!("free ({what})"))
        } else if let Some(o) = ours {
            Check::new(
                name,
                id,
                Status::Pass,
                format!(
                    "held by {} (ours: Cairn installed {} here; a re-install keeps it)",
                    busy.join(", "),
                    o.component
                ),
            )
        } else {
            Check::new(
                name,
                id,
                Status::Fail,
                format!("in use by {} (needed by {what})", busy.join(", ")),
            )
            .remedy(format!(
                "stop what listens on {port}, or move the role that needs it"
            ))
        });
    }

    if needs.swap_off {
        let total: u64 = p.swaps.iter().map(|s| s.1).sum();
        let check = if p.swaps.is_empty() {
            Check::new(name, "swap", Status::Pass, "off")
        } else if container.is_some() {
            Check::new(
                name,
                "swap",
                Status::Skipped("container: swap is the host machine's".into()),
                format!("{} of swap on the host machine", gib(total)),
            )
        } else {
            Check::new(
                name,
                "swap",
                Status::Fail,
                format!("{} of swap active", gib(total)),
            )
            .remedy(
                "swapoff -a and comment out the swap lines in /etc/fstab (kubelet refuses swap)",
            )
        };
        out.push(check.threshold("off (kubelet)"));
        out.push(if p.fstab_swap.is_empty() {
            Check::new(name, "swap_fstab", Status::Pass, "no swap in /etc/fstab")
        } else {
            let boot = if container.is_some() {
                "systemd skips it in a container, but it turns swap on when this system boots on a machine"
            } else {
                "swap comes back at the next boot"
            };
            Check::new(
                name,
                "swap_fstab",
                Status::Warn,
                format!("/etc/fstab turns swap on: {} ({boot})", p.fstab_swap.join("; ")),
            )
            .threshold("no swap entry (kubelet)")
            .remedy("comment out the swap lines in /etc/fstab (cairn preflight --fix does)")
        });
    }

    for m in &needs.modules {
        let id = format!("module:{m}");
        let state = p.modules.iter().find(|x| x.0 == *m).map(|x| &x.1);
        out.push(match (state, &container) {
            (Some(ModuleState::Loaded), _) => Check::new(name, id, Status::Pass, "loaded"),
            (Some(ModuleState::Builtin), _) => {
                Check::new(name, id, Status::Pass, "built into the kernel")
            }
            (Some(ModuleState::Loadable), _) => {
                Check::new(name, id, Status::Pass, "loadable (the install loads it)")
            }
            (Some(ModuleState::InEffect), c) => Check::new(
                name,
                id,
                Status::Pass,
                format!(
                    "in effect ({}){}",
                    if *m == "overlay" {
                        "overlay is in /proc/filesystems"
                    } else {
                        "its sysctls exist"
                    },
                    if c.is_some() {
                        ": the host machine has it"
                    } else {
                        ""
                    }
                ),
            ),
            (_, Some(c)) => Check::new(
                name,
                id,
                Status::Skipped(format!("container ({c}): modules are the host machine's")),
                "not loaded here",
            )
            .remedy(format!(
                "load it on the machine running the containers: modprobe {m}"
            )),
            (_, None) => Check::new(
                name,
                id,
                Status::Fail,
                "not loaded, not built in, not found",
            )
            .remedy(format!(
                "install the kernel's extra modules package; modprobe {m}"
            )),
        });
    }

    for (s, want) in &needs.sysctls {
        let id = format!("sysctl:{s}");
        let have = p
            .sysctls
            .iter()
            .find(|x| x.0 == *s)
            .and_then(|x| x.1.clone());
        // In a container only net.* is its own (its network namespace); kernel.*, vm.*, ...
        // are the machine's, and net.bridge.* appears only when the machine loads br_netfilter.
        let machines = container
            .as_deref()
            .filter(|_| !s.starts_with("net.") || have.is_none());
        out.push(match (have, machines) {
            (Some(v), _) if v == *want => Check::new(name, id, Status::Pass, v),
            (v, Some(c)) => Check::new(
                name,
                id,
                Status::Skipped(format!(
                    "container ({c}): {s} is the host machine's kernel setting"
                )),
                match v {
                    Some(v) => format!("{v} (the install needs {want})"),
                    None => "not present here (its module is not loaded on the machine)".into(),
                },
            )
            .threshold(format!("= {want}"))
            .remedy(format!(
                "on the machine running the containers: sysctl -w {s}={want} (and modprobe br_netfilter for net.bridge.*)"
            )),
            (Some(v), None) => Check::new(
                name,
                id,
                Status::Warn,
                format!("{v} (the install sets {want})"),
            )
            .threshold(format!("= {want}"))
            .remedy(format!(
                "sysctl -w {s}={want} and persist it in /etc/sysctl.d/ (the install does this)"
            )),
            (None, None) => Check::new(
                name,
                id,
                Status::Warn,
                "not present (its module is not loaded)",
            )
            .threshold(format!("= {want}"))
            .remedy("it appears when br_netfilter is loaded (the install loads it)"),
        });
    }

    out.push(match p.cgroup_fs.as_deref() {
        Some("cgroup2fs") => Check::new(
            name,
            "cgroup",
            Status::Pass,
            format!("v2 ({})", p.cgroup_controllers.as_deref().unwrap_or("no controllers listed")),
        ),
        Some("tmpfs") if container.is_some() => Check::new(
            name,
            "cgroup",
            Status::Skipped(format!(
                "container ({}): its cgroup view is the container manager's",
                container.as_deref().unwrap_or("")
            )),
            "v1 or hybrid",
        ),
        Some("tmpfs") => Check::new(name, "cgroup", Status::Warn, "v1 or hybrid")
            .remedy("boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2 (recommended by Kubernetes)"),
        Some(other) => Check::new(name, "cgroup", Status::Warn, format!("unknown ({other})")),
        None => Check::new(name, "cgroup", Status::Warn, "could not tell"),
    });

    out.push(time_sync(name, p, container.as_deref(), h.ntp.as_ref()));
    out.push(offset(policy, name, h.offset));

    if p.selinux_enforcing == Some(true) {
        out.push(
            Check::new(name, "selinux", Status::Warn, "enforcing")
                .remedy("the install works with enforcing SELinux only with the bundle's policies; setenforce 0 to rule it out"),
        );
    } else {
        let v = if p.selinux_enforcing.is_some() {
            "permissive"
        } else {
            "not present"
        };
        out.push(Check::new(name, "selinux", Status::Pass, v));
    }
    out.push(if p.firewalld_active {
        Check::new(name, "firewalld", Status::Warn, "active")
            .remedy("open the roles' ports (the install can add firewalld rules) or stop firewalld")
    } else {
        Check::new(name, "firewalld", Status::Pass, "not active")
    });

    out.push(hostname(name, p));

    let pkg = p.fact_str("pkg_mgr").unwrap_or("unknown");
    out.push(if matches!(pkg, "apt" | "dnf" | "yum" | "dnf5") {
        Check::new(name, "package_manager", Status::Pass, pkg)
    } else {
        Check::new(
            name,
            "package_manager",
            Status::Fail,
            format!("{pkg}: none Cairn can drive"),
        )
        .remedy("Cairn installs packages with apt, dnf or yum")
    });

    if h.repo_wanted {
        out.push(repo(name, p));
    }
    out.push(if p.default_routes.is_empty() {
        Check::new(
            name,
            "default_route",
            Status::Pass,
            "none: the host is offline",
        )
    } else {
        Check::new(
            name,
            "default_route",
            Status::Pass,
            format!(
                "{} (Cairn uses only the installer's repos)",
                p.default_routes.join("; ")
            ),
        )
    });

    if let Some(c) = fsync(policy, name, p) {
        out.push(c);
    }

    out.push(if p.installed.is_empty() {
        Check::new(name, "existing_install", Status::Pass, "none found")
    } else {
        let what: Vec<&str> = p
            .installed
            .iter()
            .filter_map(|i| i.split(' ').next())
            .collect();
        let ours = if p.marks.is_empty() {
            String::new()
        } else {
            format!(" (Cairn installed: {})", p.marks.join(", "))
        };
        Check::new(
            name,
            "existing_install",
            Status::Warn,
            format!("found: {}{ours}", what.join(", ")),
        )
        .remedy(
            "an existing etcd/Kubernetes is upgraded or left as is: back up /var/lib/etcd first",
        )
    });
    out
}

fn grade_min(v: f64, fail: f64, warn: f64) -> Status {
    if v < fail {
        Status::Fail
    } else if v < warn {
        Status::Warn
    } else {
        Status::Pass
    }
}

fn os(policy: &Policy, name: &str, p: &Probe, needs: &Needs) -> Check {
    let dist = p.fact_str("distribution").unwrap_or("unknown");
    let ver = p.fact_str("distribution_version").unwrap_or("?");
    let major = p.fact_str("distribution_major_version").unwrap_or("?");
    // The host's roles' own list (cluster.yaml `preflight.roles`), else the built-in one.
    let (supported, list): (bool, Vec<String>) = match &needs.os {
        Some(allowed) => (
            allowed.iter().any(|(d, v)| d == dist && v == major),
            allowed.iter().map(|(d, v)| format!("{d} {v}")).collect(),
        ),
        None => (
            policy
                .os
                .iter()
                .find(|(d, _)| *d == dist)
                .is_some_and(|(_, vs)| vs.contains(&major)),
            policy
                .os
                .iter()
                .map(|(d, vs)| format!("{d} {}", vs.join("/")))
                .collect(),
        ),
    };
    let c = Check::new(
        name,
        "os",
        if supported {
            Status::Pass
        } else {
            Status::Fail
        },
        format!("{dist} {ver}"),
    )
    .threshold(list.join(", "));
    c.remedy("install a supported release (the bundle's packages are built for it)")
}

/// `6.1.0-28-amd64` → (6, 1).
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

fn kernel(name: &str, p: &Probe, needs: &Needs, container: Option<&str>) -> Check {
    let release = p.fact_str("kernel").unwrap_or("?");
    let (maj, min) = needs.kernel_min;
    let t = format!(">= {maj}.{min}");
    let c = match kernel_version(release) {
        Some(v) if v >= needs.kernel_min => Check::new(name, "kernel", Status::Pass, release),
        Some(_) => Check::new(name, "kernel", Status::Fail, release)
            .remedy(format!("upgrade the kernel to {maj}.{min} or later")),
        None => Check::new(
            name,
            "kernel",
            Status::Warn,
            format!("unreadable: {release}"),
        ),
    };
    let c = c.threshold(t);
    match container {
        Some(_) if c.status == Status::Pass => Check {
            value: format!("{release} (the host machine's)"),
            ..c
        },
        _ => c,
    }
}

fn time_sync(name: &str, p: &Probe, container: Option<&str>, ntp: Option<&(String, u16)>) -> Check {
    let services = p.time_services.join(", ");
    let synced = p.ntp_synced == Some(true) || p.chrony_leap.as_deref() == Some("Normal");
    // Which of chrony's sources it uses, and whether the installer is one of them.
    let sources: Vec<&str> = p.chrony_sources.iter().map(|s| s.1.as_str()).collect();
    let to_installer = ntp.is_some_and(|(a, _)| sources.contains(&a.as_str()));
    let source_text = if sources.is_empty() {
        String::new()
    } else {
        format!(" (sources: {})", sources.join(", "))
    };
    if !p.time_services.is_empty() && synced {
        // Any good time source is accepted (a site's own NTP, PTP): say which it is.
        let whose = match ntp {
            Some(_) if to_installer => " to the installer".to_string(),
            Some((a, port)) if !sources.is_empty() => {
                format!("{source_text}, not to the installer's NTP ({a}:{port})")
            }
            _ => source_text,
        };
        return Check::new(
            name,
            "time_sync",
            Status::Pass,
            format!("{services}, synchronised{whose}"),
        );
    }
    let point = match ntp {
        Some((a, port)) if p.chrony_installed => {
            format!("point chrony at the installer's NTP ({a}:{port}): cairn preflight --fix does")
        }
        _ => "the install points chrony at the installer's NTP server; or start your own time service".to_string(),
    };
    if let Some(c) = container
        && p.time_services.is_empty()
    {
        return Check::new(
            name,
            "time_sync",
            Status::Skipped(format!("container ({c}): the clock is the host machine's")),
            "no time service",
        );
    }
    let value = if services.is_empty() {
        "no time service active (chrony, ntpd, systemd-timesyncd, ptp4l)".to_string()
    } else {
        format!("{services}, not synchronised{source_text}")
    };
    Check::new(name, "time_sync", Status::Warn, value).remedy(point)
}

/// The host's architecture (`uname -m`) as Go/OCI name it, as bundles do (`linux/amd64`).
pub fn oci_arch(machine: &str) -> &str {
    match machine {
        "x86_64" | "amd64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        "armv7l" | "armv7" => "arm",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn arch(name: &str, p: &Probe, bundle: &[String]) -> Check {
    let machine = p.fact_str("architecture").unwrap_or("?");
    let a = oci_arch(machine);
    if bundle.is_empty() {
        return Check::new(
            name,
            "arch",
            Status::Pass,
            format!("{machine} (no bundle to compare with)"),
        );
    }
    let c = if bundle.iter().any(|b| b == a) {
        Check::new(name, "arch", Status::Pass, format!("{machine} ({a})"))
    } else {
        Check::new(name, "arch", Status::Fail, format!("{machine} ({a})"))
            .remedy("build a bundle for this architecture (platforms: in the bundle spec), or use hosts of the bundle's")
    };
    c.threshold(format!("the bundle's: {}", bundle.join(", ")))
}

/// The p-th percentile (nearest rank) of `v`, sorted in place.
pub fn percentile(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

fn fsync(policy: &Policy, name: &str, p: &Probe) -> Option<Check> {
    let (dir, samples) = p.fsync.as_ref()?;
    let t = format!("warn if p99 > {} ms", policy.fsync_warn_ms);
    let Some(samples) = samples.clone().filter(|s| !s.is_empty()) else {
        return Some(
            Check::new(
                name,
                "fsync",
                Status::Warn,
                format!("could not time synchronous writes in {dir} (dd failed)"),
            )
            .threshold(t)
            .remedy("check that the directory is writable by root and dd supports oflag=dsync"),
        );
    };
    let mut ms: Vec<f64> = samples.iter().map(|s| s * 1000.0).collect();
    let n = ms.len();
    let p50 = percentile(&mut ms, 50.0).unwrap_or(0.0);
    let p99 = percentile(&mut ms, 99.0).unwrap_or(0.0);
    let status = if p99 > policy.fsync_warn_ms {
        Status::Warn
    } else {
        Status::Pass
    };
    Some(
        Check::new(
            name,
            "fsync",
            status,
            format!("p99 {p99:.2} ms, p50 {p50:.2} ms over {n} synchronous 2300-byte writes in {dir}"),
        )
        .threshold(t)
        .remedy("etcd needs a fast disk for its WAL: put /var/lib/etcd on an SSD/NVMe of its own (slow fsync means leader elections and timeouts)"),
    )
}

fn offset(policy: &Policy, name: &str, o: Option<Offset>) -> Check {
    let Some(o) = o else {
        return Check::new(
            name,
            "clock_offset",
            Status::Warn,
            "could not read the host's clock",
        );
    };
    let abs = o.seconds.abs();
    let status = if abs - o.error > policy.offset_fail {
        Status::Fail
    } else if abs - o.error > policy.offset_warn {
        Status::Warn
    } else {
        Status::Pass
    };
    Check::new(
        name,
        "clock_offset",
        status,
        format!("{:+.3} s ± {:.3} s vs the installer", o.seconds, o.error),
    )
    .threshold(format!("warn > {} s, fail > {} s", policy.offset_warn, policy.offset_fail))
    .remedy("sync the clock (the install points chrony at the installer's NTP); etcd and TLS need agreeing clocks")
}

/// RFC 1123: labels of letters, digits and hyphens, 1–63 chars, not starting or ending with a
/// hyphen; at most 253 chars; lowercase for Kubernetes node names.
pub fn valid_hostname(h: &str) -> Result<(), String> {
    if h.is_empty() || h.len() > 253 {
        return Err("must be 1 to 253 characters".into());
    }
    for label in h.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each dot-separated part must be 1 to 63 characters".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a part may not start or end with '-'".into());
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(format!(
                "'{c}' is not allowed (lowercase letters, digits and '-' only)"
            ));
        }
    }
    Ok(())
}

fn hostname(name: &str, p: &Probe) -> Check {
    let h = p.hostname.as_deref().unwrap_or("");
    match valid_hostname(h) {
        Ok(()) => Check::new(name, "hostname", Status::Pass, h),
        Err(why) => Check::new(name, "hostname", Status::Fail, format!("{h:?}: {why}"))
            .threshold("RFC 1123, lowercase")
            .remedy("set a valid name (the install sets it from cluster.yaml: hostnamectl set-hostname NAME)"),
    }
}

fn repo(name: &str, p: &Probe) -> Check {
    let v = p.repo.as_deref().unwrap_or("");
    let (tool, result) = v.split_once(' ').unwrap_or((v, ""));
    if result.trim() == "200" {
        return Check::new(
            name,
            "repo",
            Status::Pass,
            format!("HTTP 200 (fetched with {tool})"),
        );
    }
    let seen = match tool {
        "none" => "no curl, wget or perl on the host to fetch it with".to_string(),
        "" => "not fetched".to_string(),
        _ => format!("{tool}: {}", result.trim()),
    };
    Check::new(name, "repo", Status::Fail, seen)
        .remedy("start `cairn serve` on an address the hosts can reach and check routes/firewalls between them")
}

/// What a host is identified by for one uniqueness check.
type Key = Box<dyn Fn(&Probe) -> Vec<String>>;

/// Checks across hosts: hostnames, machine ids and addresses must be unique; each clock
/// against the hosts' median.
pub fn across(policy: &Policy, hosts: &[(&str, &Probe, Option<Offset>)]) -> Vec<Check> {
    let mut out = Vec::new();
    let dup = |key: &dyn Fn(&Probe) -> Vec<String>| {
        let mut seen: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (h, p, _) in hosts {
            for k in key(p) {
                seen.entry(k).or_default().push(h);
            }
        }
        seen
    };
    let checks: [(&str, &str, Key); 3] = [
        (
            "hostname_unique",
            "hostname",
            Box::new(|p: &Probe| p.hostname.clone().into_iter().collect()),
        ),
        (
            "machine_id_unique",
            "machine id",
            Box::new(|p: &Probe| {
                p.fact_str("machine_id")
                    .map(str::to_string)
                    .into_iter()
                    .collect()
            }),
        ),
        (
            "address_unique",
            "address",
            Box::new(|p: &Probe| {
                p.fact("all_ipv4_addresses")
                    .and_then(Json::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Json::as_str)
                            .filter(|s| !s.starts_with("127."))
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default()
            }),
        ),
    ];
    for (id, what, key) in &checks {
        let seen = dup(key.as_ref());
        for (h, p, _) in hosts {
            let mine = key(p);
            let clashes: Vec<String> = mine
                .iter()
                .filter_map(|k| {
                    let others: Vec<&str> = seen[k].iter().copied().filter(|o| o != h).collect();
                    (!others.is_empty()).then(|| format!("{k} (also {})", others.join(", ")))
                })
                .collect();
            out.push(if clashes.is_empty() {
                Check::new(h, *id, Status::Pass, format!("{what} unique"))
            } else {
                Check::new(
                    h,
                    *id,
                    Status::Fail,
                    format!("same {what} as another host: {}", clashes.join("; ")),
                )
                .remedy(match *id {
                    "machine_id_unique" => {
                        "cloned machine: rm /etc/machine-id && systemd-machine-id-setup".to_string()
                    }
                    _ => format!("give each host its own {what}"),
                })
            });
        }
    }
    let offsets: Vec<f64> = hosts
        .iter()
        .filter_map(|h| h.2.map(|o| o.seconds))
        .collect();
    if let Some(m) = clock::median(&offsets) {
        for (h, _, o) in hosts {
            if let Some(o) = o {
                let skew = o.seconds - m;
                let status = if skew.abs() - o.error > policy.offset_fail {
                    Status::Fail
                } else if skew.abs() - o.error > policy.offset_warn {
                    Status::Warn
                } else {
                    Status::Pass
                };
                out.push(
                    Check::new(
                        h,
                        "clock_skew",
                        status,
                        format!("{skew:+.3} s vs the hosts' median"),
                    )
                    .threshold(format!(
                        "warn > {} s, fail > {} s",
                        policy.offset_warn, policy.offset_fail
                    ))
                    .remedy("sync every host to one time source (the installer's NTP)"),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
