use super::*;
use crate::preflight::policy::Policy;
use serde_json::json;

fn probe(container: bool) -> Probe {
    let mut facts = json!({"virtualization_role": "host", "virtualization_type": "kvm"});
    if container {
        facts = json!({"virtualization_role": "guest", "virtualization_type": "systemd-nspawn"});
    }
    Probe {
        facts: facts.as_object().cloned().unwrap(),
        sysctls: vec![
            ("net.ipv4.ip_forward".into(), Some("0".into())),
            ("net.bridge.bridge-nf-call-iptables".into(), None),
        ],
        fstab_swap: vec!["/swapfile none swap sw 0 0".into()],
        chrony_installed: true,
        ..Probe::default()
    }
}

fn check(id: &str, status: Status) -> Check {
    Check::new("h", id, status, "seen")
}

fn skipped(id: &str) -> Check {
    check(id, Status::Skipped("container".into()))
}

const NTP: (&str, u16) = ("10.0.0.1", 123);

/// (container?, checks, ntp?, actions planned, not applied (id, start of the reason))
#[test]
fn the_plan_applies_only_safe_remedies_and_says_what_it_cannot() {
    let needs = Policy::default().needs(&["kube_node".into()]);
    type Case = (
        bool,
        Vec<Check>,
        bool,
        Vec<(&'static str, Action)>,
        Vec<(&'static str, &'static str)>,
    );
    let sysctl = |n: &str| Action::Sysctl {
        name: n.into(),
        value: "1".into(),
    };
    let cases: Vec<Case> = vec![
        // A machine: everything fixable is fixed, modules before sysctls, swap, then time.
        (
            false,
            vec![
                check("time_sync", Status::Warn),
                check("sysctl:net.ipv4.ip_forward", Status::Warn),
                check("sysctl:net.bridge.bridge-nf-call-iptables", Status::Warn),
                check("module:br_netfilter", Status::Fail),
                check("module:overlay", Status::Pass),
                check("swap", Status::Fail),
                check("swap_fstab", Status::Warn),
                check("port:2379", Status::Fail),
                check("disk:/", Status::Fail),
            ],
            true,
            vec![
                ("module:br_netfilter", Action::Module("br_netfilter".into())),
                ("sysctl:net.ipv4.ip_forward", sysctl("net.ipv4.ip_forward")),
                (
                    "sysctl:net.bridge.bridge-nf-call-iptables",
                    sysctl("net.bridge.bridge-nf-call-iptables"),
                ),
                ("swap", Action::Swapoff),
                ("swap_fstab", Action::Fstab),
                (
                    "time_sync",
                    Action::Chrony {
                        address: "10.0.0.1".into(),
                        port: 123,
                    },
                ),
            ],
            vec![],
        ),
        // Nothing wrong: nothing to do.
        (
            false,
            vec![
                check("sysctl:net.ipv4.ip_forward", Status::Pass),
                check("swap", Status::Pass),
            ],
            true,
            vec![],
            vec![],
        ),
        // A container: net.* sysctls and fstab are its own; modules, swap and absent bridge
        // sysctls are the machine's.
        (
            true,
            vec![
                check("sysctl:net.ipv4.ip_forward", Status::Warn),
                skipped("sysctl:net.bridge.bridge-nf-call-iptables"),
                skipped("module:br_netfilter"),
                skipped("swap"),
                check("swap_fstab", Status::Warn),
            ],
            true,
            vec![
                ("sysctl:net.ipv4.ip_forward", sysctl("net.ipv4.ip_forward")),
                ("swap_fstab", Action::Fstab),
            ],
            vec![
                (
                    "sysctl:net.bridge.bridge-nf-call-iptables",
                    "container (systemd-nspawn): net.bridge.bridge-nf-call-iptables appears when its module is loaded on the host machine",
                ),
                (
                    "module:br_netfilter",
                    "container (systemd-nspawn): kernel modules are the host machine's; on it: modprobe br_netfilter and list it in /etc/modules-load.d/",
                ),
                (
                    "swap",
                    "container (systemd-nspawn): swap is the host machine's; on it: swapoff -a",
                ),
            ],
        ),
        // Time: nothing to point chrony at.
        (
            false,
            vec![check("time_sync", Status::Warn)],
            false,
            vec![],
            vec![(
                "time_sync",
                "no installer: section in cluster.yaml, so no NTP server to point chrony at",
            )],
        ),
    ];
    for (i, (container, checks, ntp, actions, not_applied)) in cases.into_iter().enumerate() {
        let p = probe(container);
        let ntp = ntp.then(|| (NTP.0.to_string(), NTP.1));
        let plan = plan(&needs, &p, &checks, ntp.as_ref());
        let got: Vec<(&str, Action)> = plan
            .actions
            .iter()
            .map(|(id, a)| (id.as_str(), a.clone()))
            .collect();
        assert_eq!(got, actions, "case {i}");
        let got: Vec<(&str, &str)> = plan
            .not_applied
            .iter()
            .map(|(id, w)| (id.as_str(), w.as_str()))
            .collect();
        assert_eq!(got, not_applied, "case {i}");
    }
}

#[test]
fn no_chrony_means_the_install_brings_it() {
    let needs = Policy::default().needs(&[]);
    let mut p = probe(false);
    p.chrony_installed = false;
    let ntp = (NTP.0.to_string(), NTP.1);
    let plan = plan(&needs, &p, &[check("time_sync", Status::Warn)], Some(&ntp));
    assert!(plan.is_empty());
    assert_eq!(
        plan.not_applied,
        vec![(
            "time_sync".to_string(),
            "no chrony on the host: the install installs it from the bundle (role chrony)"
                .to_string()
        )]
    );
}

#[test]
fn the_script_report_is_read_line_by_line() {
    let out = "noise\n@sysctl:net.ipv4.ip_forward|changed|set 0 -> 1; persisted in /etc/sysctl.d/90-cairn.conf\n\
               @swap_fstab|ok|no swap line in /etc/fstab\n@module:x|failed|modprobe x: not found\n@bad|weird|x\n@short\n";
    assert_eq!(
        parse(out),
        vec![
            (
                "sysctl:net.ipv4.ip_forward".to_string(),
                Outcome::Changed(
                    "set 0 -> 1; persisted in /etc/sysctl.d/90-cairn.conf".to_string()
                )
            ),
            (
                "swap_fstab".to_string(),
                Outcome::Unchanged("no swap line in /etc/fstab".to_string())
            ),
            (
                "module:x".to_string(),
                Outcome::Failed("modprobe x: not found".to_string())
            ),
        ]
    );
}

#[test]
fn fix_only_keeps_the_chosen_checks_remedies_and_swaps_fstab_step() {
    let p = Plan {
        actions: vec![
            ("module:overlay".into(), Action::Module("overlay".into())),
            (
                "sysctl:net.ipv4.ip_forward".into(),
                Action::Sysctl {
                    name: "net.ipv4.ip_forward".into(),
                    value: "1".into(),
                },
            ),
            ("swap".into(), Action::Swapoff),
            ("swap_fstab".into(), Action::Fstab),
        ],
        not_applied: vec![("time_sync".into(), "no chrony".into())],
    };
    assert_eq!(p.clone().only(&[]), p, "empty: everything");
    let one = p.clone().only(&["sysctl:net.ipv4.ip_forward".to_string()]);
    assert_eq!(
        one.actions.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
        ["sysctl:net.ipv4.ip_forward"]
    );
    assert!(one.not_applied.is_empty());
    let swap = p.only(&["swap".to_string(), "time_sync".to_string()]);
    assert_eq!(
        swap.actions
            .iter()
            .map(|a| a.0.as_str())
            .collect::<Vec<_>>(),
        ["swap", "swap_fstab"]
    );
    assert_eq!(swap.not_applied.len(), 1);
}

#[test]
fn fixable_ids_and_what_each_action_says() {
    for id in [
        "module:br_netfilter",
        "sysctl:net.ipv4.ip_forward",
        "swap",
        "swap_fstab",
        "time_sync",
    ] {
        assert!(fixable(id), "{id}");
    }
    for id in [
        "memory",
        "port:2379",
        "disk:/",
        "ssh:hostkey",
        "clock_offset",
        "os",
    ] {
        assert!(!fixable(id), "{id}");
    }
    assert_eq!(
        Action::Sysctl {
            name: "net.ipv4.ip_forward".into(),
            value: "1".into()
        }
        .describe(),
        "sysctl net.ipv4.ip_forward=1, persisted in /etc/sysctl.d/90-cairn.conf"
    );
    assert_eq!(
        Action::Chrony {
            address: "10.213.0.1".into(),
            port: 123
        }
        .describe(),
        "chrony: the installer's NTP 10.213.0.1 port 123 as a source"
    );
}
