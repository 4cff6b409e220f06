use super::*;
use crate::preflight::probe::{Disk, Listener};
use serde_json::json;

const GIB_K: u64 = 1024 * 1024;

/// A healthy bare-metal Debian 12 host with 4 CPUs, 8 GiB, big disks.
fn healthy() -> Probe {
    let facts = json!({
        "distribution": "Debian", "distribution_version": "12.5",
        "distribution_major_version": "12", "kernel": "6.1.0-28-amd64",
        "processor_vcpus": 4, "memtotal_mb": 8192, "pkg_mgr": "apt",
        "virtualization_role": "host", "virtualization_type": "kvm",
        "machine_id": "m1", "all_ipv4_addresses": ["10.0.0.11"],
    });
    let disk = |path: &str| Disk {
        path: path.into(),
        measured_at: path.into(),
        total_kib: 100 * GIB_K,
        used_kib: 10 * GIB_K,
        avail_kib: 90 * GIB_K,
        mount: "/".into(),
    };
    Probe {
        facts: facts.as_object().cloned().unwrap(),
        uid: Some(0),
        hostname: Some("node1".into()),
        disks: [
            "/",
            "/var/lib/etcd",
            "/var/lib/containerd",
            "/var/lib/kubelet",
        ]
        .iter()
        .map(|p| disk(p))
        .collect(),
        modules: vec![
            ("overlay".into(), ModuleState::Builtin),
            ("br_netfilter".into(), ModuleState::Loaded),
        ],
        sysctls: vec![
            ("net.ipv4.ip_forward".into(), Some("1".into())),
            (
                "net.bridge.bridge-nf-call-iptables".into(),
                Some("1".into()),
            ),
        ],
        cgroup_fs: Some("cgroup2fs".into()),
        time_services: vec!["chrony".into()],
        chrony_leap: Some("Normal".into()),
        repo: Some("curl 200".into()),
        ..Probe::default()
    }
}

fn run(p: &Probe, roles: &[&str], offset: Option<Offset>) -> Vec<Check> {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    host(
        &Policy::default(),
        &HostInput {
            host: "node1",
            roles: &roles,
            probe: p,
            offset,
            repo_wanted: true,
            ntp: None,
            arches: &[],
        },
    )
}

fn find<'a>(checks: &'a [Check], id: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {checks:#?}"))
}

fn ok_offset() -> Option<Offset> {
    Some(Offset {
        seconds: 0.01,
        error: 0.002,
    })
}

#[test]
fn a_healthy_host_passes_everything() {
    let checks = run(&healthy(), &["etcd", "kube_master"], ok_offset());
    let not_pass: Vec<_> = checks.iter().filter(|c| c.status != Status::Pass).collect();
    assert!(not_pass.is_empty(), "{not_pass:#?}");
    assert!(checks.iter().all(|c| c.remedy.is_none()));
    assert_eq!(find(&checks, "port:2379").value, "free (etcd client)");
}

/// (what is changed on the healthy host, roles, check id, status, value) — each failure mode
/// is one row.
#[test]
fn each_failure_is_caught_with_its_value() {
    type Change = fn(&mut Probe);
    let cases: Vec<(Change, &[&str], &str, &str, &str)> = vec![
        (
            |p| {
                p.facts.insert("memtotal_mb".into(), json!(1536));
            },
            &["kube_master"],
            "memory",
            "fail",
            "1.5 GiB",
        ),
        (
            |p| {
                p.facts.insert("processor_vcpus".into(), json!(1));
            },
            &["kube_node"],
            "cpu",
            "warn",
            "1 CPUs",
        ),
        (
            |p| {
                p.disks[1].avail_kib = GIB_K;
                p.disks[1].used_kib = 99 * GIB_K;
                p.disks[1].mount = "/var/lib/etcd".into();
            },
            &["etcd"],
            "disk:/var/lib/etcd",
            "fail",
            "1.0 GiB free of 100.0 GiB (99 % used) on /var/lib/etcd",
        ),
        (
            |p| {
                p.disks[1].measured_at = "/var/lib".into();
                p.disks[1].avail_kib = 8 * GIB_K;
            },
            &["etcd"],
            "disk:/var/lib/etcd",
            "warn",
            "8.0 GiB free of 100.0 GiB (56 % used) on / (/var/lib/etcd does not exist yet)",
        ),
        (
            |p| {
                p.listeners.push(Listener {
                    port: 2379,
                    address: "0.0.0.0".into(),
                    process: Some("perl (pid 4242)".into()),
                })
            },
            &["etcd"],
            "port:2379",
            "fail",
            "in use by perl (pid 4242) on 0.0.0.0 (needed by etcd client)",
        ),
        (
            |p| p.swaps.push(("/swapfile".into(), 2 * GIB_K)),
            &["kube_node"],
            "swap",
            "fail",
            "2.0 GiB of swap active",
        ),
        (
            |p| {
                p.facts
                    .insert("distribution_major_version".into(), json!("10"));
                p.facts
                    .insert("distribution_version".into(), json!("10.13"));
            },
            &[],
            "os",
            "fail",
            "Debian 10.13",
        ),
        (
            |p| {
                p.facts.insert("kernel".into(), json!("4.18.0-553.el8"));
            },
            &["kube_node"],
            "kernel",
            "fail",
            "4.18.0-553.el8",
        ),
        (
            |p| p.modules[1].1 = ModuleState::Missing,
            &["kube_node"],
            "module:br_netfilter",
            "fail",
            "not loaded, not built in, not found",
        ),
        (
            |p| p.sysctls[0].1 = Some("0".into()),
            &["kube_node"],
            "sysctl:net.ipv4.ip_forward",
            "warn",
            "0 (the install sets 1)",
        ),
        (
            |p| p.hostname = Some("Node_1".into()),
            &[],
            "hostname",
            "fail",
            "\"Node_1\": 'N' is not allowed (lowercase letters, digits and '-' only)",
        ),
        (
            |p| p.repo = Some("perl connect: Connection refused".into()),
            &[],
            "repo",
            "fail",
            "perl: connect: Connection refused",
        ),
        (
            |p| p.repo = Some("none".into()),
            &[],
            "repo",
            "fail",
            "no curl, wget or perl on the host to fetch it with",
        ),
        (
            |p| p.uid = Some(1000),
            &[],
            "sudo",
            "fail",
            "commands run as uid 1000, not root",
        ),
        (
            |p| {
                p.time_services.clear();
                p.chrony_leap = None;
            },
            &[],
            "time_sync",
            "warn",
            "no time service active (chrony, ntpd, systemd-timesyncd, ptp4l)",
        ),
        (
            |p| p.installed.push("etcd /usr/bin/etcd".into()),
            &[],
            "existing_install",
            "warn",
            "found: etcd",
        ),
        (
            |p| p.cgroup_fs = Some("tmpfs".into()),
            &[],
            "cgroup",
            "warn",
            "v1 or hybrid",
        ),
        (
            |p| p.fstab_swap.push("/swapfile none swap sw 0 0".into()),
            &["kube_node"],
            "swap_fstab",
            "warn",
            "/etc/fstab turns swap on: /swapfile none swap sw 0 0 (swap comes back at the next boot)",
        ),
        (
            |p| {
                p.chrony_leap = Some("Not synchronised".into());
                p.chrony_sources = vec![("^?".into(), "192.0.2.7".into())];
            },
            &[],
            "time_sync",
            "warn",
            "chrony, not synchronised (sources: 192.0.2.7)",
        ),
        (
            |p| {
                let mut s = vec![0.001; 98];
                s.extend([0.02, 0.03]);
                p.fsync = Some(("/var/lib/etcd".into(), Some(s)));
            },
            &["etcd"],
            "fsync",
            "warn",
            "p99 20.00 ms, p50 1.00 ms over 100 synchronous 2300-byte writes in /var/lib/etcd",
        ),
        (
            |p| p.fsync = Some(("/var/lib".into(), None)),
            &["etcd"],
            "fsync",
            "warn",
            "could not time synchronous writes in /var/lib (dd failed)",
        ),
        (
            |p| {
                p.installed.push("etcd /usr/bin/etcd".into());
                p.marks.push("etcd".into());
            },
            &[],
            "existing_install",
            "warn",
            "found: etcd (Cairn installed: etcd)",
        ),
    ];
    for (change, roles, id, status, value) in cases {
        let mut p = healthy();
        change(&mut p);
        let checks = run(&p, roles, ok_offset());
        let c = find(&checks, id);
        assert_eq!(
            (c.status.as_str(), c.value.as_str()),
            (status, value),
            "{id}"
        );
        assert!(c.remedy.is_some(), "{id} needs a remedy");
        // Exactly one check moved away from pass.
        let bad: Vec<&str> = checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(bad, vec![id], "{id}");
    }
}

#[test]
fn a_container_says_so_instead_of_failing() {
    let mut p = healthy();
    p.facts.insert("virtualization_role".into(), json!("guest"));
    p.facts
        .insert("virtualization_type".into(), json!("systemd-nspawn"));
    p.modules = vec![
        ("overlay".into(), ModuleState::Missing),
        ("br_netfilter".into(), ModuleState::Missing),
    ];
    p.swaps.push(("/dev/vda3".into(), GIB_K));
    p.time_services.clear();
    p.chrony_leap = None;
    let checks = run(&p, &["kube_node"], ok_offset());
    for id in ["module:overlay", "module:br_netfilter", "swap", "time_sync"] {
        let c = find(&checks, id);
        match &c.status {
            Status::Skipped(why) => assert!(why.starts_with("container"), "{id}: {why}"),
            other => panic!("{id}: {other:?}"),
        }
    }
    assert_eq!(
        find(&checks, "virtualization").value,
        "container: systemd-nspawn (kernel, modules, swap and clock are the host machine's)"
    );
    assert_eq!(
        find(&checks, "kernel").value,
        "6.1.0-28-amd64 (the host machine's)"
    );
}

/// What a module provides is visible even in a container: that passes, saying whose it is.
#[test]
fn modules_in_effect_pass_in_a_container_and_on_a_machine() {
    let mut p = healthy();
    p.modules = vec![
        ("overlay".into(), ModuleState::InEffect),
        ("br_netfilter".into(), ModuleState::InEffect),
    ];
    let checks = run(&p, &["kube_node"], ok_offset());
    let got = |checks: &[Check], id: &str| {
        let c = find(checks, id);
        (c.status.clone(), c.value.clone())
    };
    assert_eq!(
        got(&checks, "module:br_netfilter"),
        (Status::Pass, "in effect (its sysctls exist)".into())
    );
    p.facts
        .insert("virtualization_type".into(), json!("systemd-nspawn"));
    p.facts.insert("virtualization_role".into(), json!("guest"));
    let checks = run(&p, &["kube_node"], ok_offset());
    assert_eq!(
        got(&checks, "module:overlay"),
        (
            Status::Pass,
            "in effect (overlay is in /proc/filesystems): the host machine has it".into()
        )
    );
    assert_eq!(
        got(&checks, "module:br_netfilter"),
        (
            Status::Pass,
            "in effect (its sysctls exist): the host machine has it".into()
        )
    );
}

/// In a container only `net.*` sysctls are its own: a wrong one warns (and `--fix` sets it);
/// `kernel.*` and an absent `net.bridge.*` are the machine's and say so.
#[test]
fn container_sysctls_own_and_the_machines() {
    let mut p = healthy();
    p.facts
        .insert("virtualization_type".into(), json!("systemd-nspawn"));
    p.facts.insert("virtualization_role".into(), json!("guest"));
    p.sysctls = vec![
        ("net.ipv4.ip_forward".into(), Some("0".into())),
        ("net.bridge.bridge-nf-call-iptables".into(), None),
        ("kernel.panic".into(), Some("0".into())),
    ];
    let mut policy = Policy::default();
    policy.base.sysctls.push(("kernel.panic", "10"));
    let roles = vec!["kube_node".to_string()];
    let checks = host(
        &policy,
        &HostInput {
            host: "node1",
            roles: &roles,
            probe: &p,
            offset: ok_offset(),
            repo_wanted: true,
            ntp: None,
            arches: &[],
        },
    );
    let got = |id: &str| {
        let c = find(&checks, id);
        (c.status.clone(), c.value.clone())
    };
    assert_eq!(
        got("sysctl:net.ipv4.ip_forward"),
        (Status::Warn, "0 (the install sets 1)".into())
    );
    assert_eq!(
        got("sysctl:net.bridge.bridge-nf-call-iptables"),
        (
            Status::Skipped(
                "container (systemd-nspawn): net.bridge.bridge-nf-call-iptables is the host machine's kernel setting"
                    .into()
            ),
            "not present here (its module is not loaded on the machine)".into()
        )
    );
    assert_eq!(
        got("sysctl:kernel.panic"),
        (
            Status::Skipped(
                "container (systemd-nspawn): kernel.panic is the host machine's kernel setting"
                    .into()
            ),
            "0 (the install needs 10)".into()
        )
    );
    // Right already: a pass, container or not.
    p.sysctls[2].1 = Some("10".into());
    let checks = host(
        &policy,
        &HostInput {
            host: "node1",
            roles: &roles,
            probe: &p,
            offset: ok_offset(),
            repo_wanted: true,
            ntp: None,
            arches: &[],
        },
    );
    assert_eq!(find(&checks, "sysctl:kernel.panic").status, Status::Pass);
}

#[test]
fn clock_offset_thresholds_account_for_the_error_bound() {
    let cases = [
        (0.3, 0.01, "pass"),
        (0.7, 0.01, "warn"),
        (0.7, 0.3, "pass"), // could be 0.4: not proven beyond the bound
        (-2.5, 0.01, "fail"),
        (2.5, 0.6, "warn"),
    ];
    for (seconds, error, want) in cases {
        let checks = run(&healthy(), &[], Some(Offset { seconds, error }));
        assert_eq!(
            find(&checks, "clock_offset").status.as_str(),
            want,
            "{seconds}±{error}"
        );
    }
    let checks = run(&healthy(), &[], None);
    assert_eq!(find(&checks, "clock_offset").status, Status::Warn);
}

#[test]
fn duplicates_and_skew_across_hosts() {
    let a = healthy();
    let mut b = healthy();
    b.facts.insert("machine_id".into(), json!("m2"));
    b.facts.insert(
        "all_ipv4_addresses".into(),
        json!(["10.0.0.12", "127.0.0.1"]),
    );
    let mut c = healthy(); // a clone of a: same name, machine id, address
    c.facts.insert(
        "all_ipv4_addresses".into(),
        json!(["10.0.0.11", "127.0.0.1"]),
    );
    b.hostname = Some("node2".into());
    let o = |s| {
        Some(Offset {
            seconds: s,
            error: 0.001,
        })
    };
    let checks = across(
        &Policy::default(),
        &[("a", &a, o(0.0)), ("b", &b, o(0.1)), ("c", &c, o(3.0))],
    );
    let get = |h: &str, id: &str| {
        checks
            .iter()
            .find(|x| x.host == h && x.id == id)
            .map(|x| (x.status.as_str(), x.value.clone()))
            .unwrap()
    };
    assert_eq!(
        get("a", "hostname_unique"),
        (
            "fail",
            "same hostname as another host: node1 (also c)".into()
        )
    );
    assert_eq!(get("b", "hostname_unique").0, "pass");
    assert_eq!(
        get("c", "machine_id_unique").1,
        "same machine id as another host: m1 (also a)"
    );
    assert_eq!(get("b", "address_unique").0, "pass");
    assert_eq!(get("c", "address_unique").0, "fail");
    assert_eq!(
        get("b", "clock_skew"),
        ("pass", "+0.000 s vs the hosts' median".into())
    );
    assert_eq!(
        get("c", "clock_skew"),
        ("fail", "+2.900 s vs the hosts' median".into())
    );
}

#[test]
fn hostnames_and_kernel_versions() {
    for (h, ok) in [
        ("node-1", true),
        ("a.b.c", true),
        ("-x", false),
        ("x-", false),
        ("", false),
        ("a..b", false),
        ("UPPER", false),
        (&"a".repeat(64), false),
    ] {
        assert_eq!(valid_hostname(h).is_ok(), ok, "{h}");
    }
    assert_eq!(kernel_version("6.1.0-28-amd64"), Some((6, 1)));
    assert_eq!(kernel_version("4.18.0-553.el8_10.x86_64"), Some((4, 18)));
    assert_eq!(kernel_version("junk"), None);
}

/// A port held by the service Cairn installed there is a re-install, not a conflict; the same
/// process without Cairn's mark, or another process with it, is a conflict.
#[test]
fn a_port_held_by_our_own_service_passes() {
    let held = |process: &str, marks: &[&str]| {
        let mut p = healthy();
        p.listeners.push(Listener {
            port: 2379,
            address: "10.0.0.11".into(),
            process: Some(format!("{process} (pid 812)")),
        });
        p.marks = marks.iter().map(|m| m.to_string()).collect();
        let checks = run(&p, &["etcd"], ok_offset());
        let c = find(&checks, "port:2379");
        (c.status.as_str().to_string(), c.value.clone())
    };
    assert_eq!(
        held("etcd", &["etcd"]),
        (
            "pass".to_string(),
            "held by etcd (pid 812) on 10.0.0.11 (ours: Cairn installed etcd here; a re-install keeps it)"
                .to_string()
        )
    );
    assert_eq!(held("etcd", &[]).0, "fail");
    assert_eq!(held("etcd", &["prometheus"]).0, "fail");
    // The kube roles' units carry the mark too: kube-apiserver on 6443 of a control plane.
    let mut p = healthy();
    p.listeners.push(Listener {
        port: 6443,
        address: "*".into(),
        process: Some("kube-apiserver (pid 900)".into()),
    });
    p.marks = vec!["kube-apiserver".into()];
    let checks = run(&p, &["kube_master"], ok_offset());
    assert_eq!(
        find(&checks, "port:6443").value,
        "held by kube-apiserver (pid 900) on * (ours: Cairn installed kube-apiserver here; a re-install keeps it)"
    );
    p.marks.clear();
    let checks = run(&p, &["kube_master"], ok_offset());
    assert_eq!(find(&checks, "port:6443").status, Status::Fail);
    assert_eq!(
        held("perl", &["etcd"]),
        (
            "fail".to_string(),
            "in use by perl (pid 812) on 10.0.0.11 (needed by etcd client)".to_string()
        )
    );
}

#[test]
fn time_sync_names_its_source_and_the_installer() {
    let ntp = Some(("10.0.0.1".to_string(), 123));
    let cases: [(&str, &str, &str); 3] = [
        ("10.0.0.1", "pass", "chrony, synchronised to the installer"),
        (
            "192.0.2.7",
            "pass",
            "chrony, synchronised (sources: 192.0.2.7), not to the installer's NTP (10.0.0.1:123)",
        ),
        ("", "pass", "chrony, synchronised"),
    ];
    for (source, status, value) in cases {
        let mut p = healthy();
        if !source.is_empty() {
            p.chrony_sources = vec![("^*".into(), source.into())];
        }
        let roles: Vec<String> = Vec::new();
        let checks = host(
            &Policy::default(),
            &HostInput {
                host: "node1",
                roles: &roles,
                probe: &p,
                offset: ok_offset(),
                repo_wanted: false,
                ntp: ntp.clone(),
                arches: &[],
            },
        );
        let c = find(&checks, "time_sync");
        assert_eq!((c.status.as_str(), c.value.as_str()), (status, value));
    }
    // Not synchronised, chrony there: --fix can point it at the installer.
    let mut p = healthy();
    p.chrony_leap = Some("Not synchronised".into());
    p.chrony_installed = true;
    let roles: Vec<String> = Vec::new();
    let checks = host(
        &Policy::default(),
        &HostInput {
            host: "node1",
            roles: &roles,
            probe: &p,
            offset: ok_offset(),
            repo_wanted: false,
            ntp,
            arches: &[],
        },
    );
    let c = find(&checks, "time_sync");
    assert_eq!(
        c.remedy.as_deref(),
        Some("point chrony at the installer's NTP (10.0.0.1:123): cairn preflight --fix does")
    );
}

#[test]
fn the_architecture_must_be_the_bundles() {
    let roles: Vec<String> = Vec::new();
    let mut p = healthy();
    p.facts.insert("architecture".into(), json!("aarch64"));
    let cases: [(&[String], &str, &str); 3] = [
        (&[], "pass", "aarch64 (no bundle to compare with)"),
        (&["arm64".to_string()], "pass", "aarch64 (arm64)"),
        (&["amd64".to_string()], "fail", "aarch64 (arm64)"),
    ];
    for (arches, status, value) in cases {
        let checks = host(
            &Policy::default(),
            &HostInput {
                host: "node1",
                roles: &roles,
                probe: &p,
                offset: ok_offset(),
                repo_wanted: false,
                ntp: None,
                arches,
            },
        );
        let c = find(&checks, "arch");
        assert_eq!((c.status.as_str(), c.value.as_str()), (status, value));
    }
}

#[test]
fn percentiles_are_nearest_rank() {
    let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(percentile(&mut v, 99.0), Some(99.0));
    assert_eq!(percentile(&mut v, 50.0), Some(50.0));
    assert_eq!(percentile(&mut [3.0], 99.0), Some(3.0));
    assert_eq!(percentile(&mut [], 99.0), None);
}

/// cluster.yaml's `preflight.roles`: a role's own releases and kernel minimum replace the
/// built-in ones for hosts of that role (two roles' lists: a release both allow).
#[test]
fn per_role_releases_and_kernel_from_cluster_yaml() {
    use crate::inventory::install_settings::{Preflight, RoleNeeds};
    let mut settings = Preflight::default();
    settings.roles.insert(
        "etcd".into(),
        RoleNeeds {
            kernel_min: Some((6, 5)),
            os: Some(vec![
                ("Debian".into(), "12".into()),
                ("Rocky".into(), "9".into()),
            ]),
        },
    );
    settings.roles.insert(
        "ci".into(),
        RoleNeeds {
            kernel_min: None,
            os: Some(vec![("Rocky".into(), "9".into())]),
        },
    );
    let policy = Policy::from_settings(&settings);
    let check = |roles: &[&str], p: &Probe| {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        host(
            &policy,
            &HostInput {
                host: "node1",
                roles: &roles,
                probe: p,
                offset: ok_offset(),
                repo_wanted: true,
                ntp: None,
                arches: &[],
            },
        )
    };
    let p = healthy(); // Debian 12, kernel 6.1
    let etcd = check(&["etcd"], &p);
    assert_eq!(find(&etcd, "os").status, Status::Pass);
    assert_eq!(
        find(&etcd, "os").threshold.as_deref(),
        Some("Debian 12, Rocky 9")
    );
    let kernel = find(&etcd, "kernel");
    assert_eq!(
        (kernel.status.clone(), kernel.threshold.as_deref()),
        (Status::Fail, Some(">= 6.5"))
    );
    // etcd allows Debian 12 and Rocky 9, ci only Rocky 9: together, Rocky 9 only.
    let both = check(&["etcd", "ci"], &p);
    assert_eq!(find(&both, "os").status, Status::Fail);
    assert_eq!(find(&both, "os").threshold.as_deref(), Some("Rocky 9"));
    // A role without a list: the built-in releases, the built-in kernel minimum.
    let node = check(&["monitoring"], &p);
    assert_eq!(find(&node, "os").status, Status::Pass);
    assert_eq!(find(&node, "kernel").status, Status::Pass);
}
