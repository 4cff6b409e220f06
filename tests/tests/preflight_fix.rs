//! `cairn preflight` beyond the basic checks, against real lab hosts: `--fix` repairs what is
//! safe (a sysctl, a swap line in /etc/fstab) and nothing else (snapshots of /etc,
//! /proc/sys/net and swap before and after), checks again, and changes nothing the second time;
//! kernel modules the machine has pass as "in effect" in a container;
//! the installer-side checks fail while nothing serves the bundle and pass once `cairn serve`
//! does; a port held by the service Cairn installed is not a conflict (a re-install), while
//! the same process without Cairn's mark is; the etcd fsync probe times real writes.
//!
//! Host use: lab19, lab20 (`--fix`: ip_forward, /etc/fstab, /etc/sysctl.d/90-cairn.conf,
//! /etc/modules-load.d/cairn.conf; all restored by a guard), lab21 (installer checks, a
//! transient listener named etcd on 2379, /etc/default/etcd, a transient unit named ntp, the
//! fsync probe; restored).

use cairn_tests::{BRIDGE, Lab, Served, cairn_bin, free_tcp_port, free_udp_port, scratch};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// cluster.yaml for `hosts`, each with `role`, plus `extra` top-level YAML.
fn config(dir: &Path, lab: &Lab, hosts: &[&str], role: &str, extra: &str) -> String {
    let mut y = String::from("apiVersion: cairn/v1\nkind: Cluster\nname: pffix\nhosts:\n");
    for h in hosts {
        y.push_str(&format!(
            "  - {{ name: {h}, address: {}, user: root, auth: {{ key: {} }} }}\n",
            lab.address(h),
            lab.key("id_ed25519").display()
        ));
    }
    y.push_str(&format!(
        "roles:\n  {role}: [{}]\n{extra}",
        hosts.join(", ")
    ));
    let cfg = dir.join("cluster.yaml");
    std::fs::write(&cfg, y).unwrap();
    cfg.display().to_string()
}

/// `cairn preflight --config CFG ARGS...`: exit code, stdout, stderr.
fn preflight(dir: &Path, lab: &Lab, cfg: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(cairn_bin())
        .args(["preflight", "--config", cfg])
        .args(["--known-hosts", lab.known_hosts.to_str().unwrap()])
        .args(args)
        .env("CAIRN_STATE_DIR", dir.join("state"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(out: &str, err: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}\n{out}\n{err}"))
}

fn get<'a>(v: &'a Value, host: &str, id: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["host"] == host && c["id"] == id)
        .unwrap_or_else(|| panic!("no {host} {id} in {v:#}"))
}

fn status_value<'a>(v: &'a Value, host: &str, id: &str) -> (&'a str, &'a str) {
    let c = get(v, host, id);
    (c["status"].as_str().unwrap(), c["value"].as_str().unwrap())
}

const FSTAB_LINE: &str = "/cairn-pf-swapfile none swap sw 0 0";

/// What `--fix` could touch on a host, one `KEY VALUE` line each: every file under /etc (its
/// sha256), every readable setting under /proc/sys/net, and the active swap areas.
const SNAPSHOT: &str = "find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum | awk '{print $2 \" \" $1}'; \
     grep -r . /proc/sys/net 2>/dev/null | sed 's/:/ /'; sed 's/^/swap /' /proc/swaps";

fn snapshot(lab: &Lab, host: &str) -> std::collections::BTreeMap<String, String> {
    let text = lab.ssh_stdout(host, SNAPSHOT);
    let map: std::collections::BTreeMap<String, String> = text
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    assert!(map.len() > 100, "snapshot of {host} too small: {text}");
    map
}

/// The keys whose values differ between two snapshots (added, removed or changed).
fn changed(
    a: &std::collections::BTreeMap<String, String>,
    b: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// Setting net.ipv4.ip_forward makes the kernel itself turn forwarding on for every interface
/// and accept_redirects off for `all` (Documentation/networking/ip-sysctl.rst): consequences of
/// the one remedy, not other changes.
fn kernels_consequence_of_ip_forward(key: &str) -> bool {
    key == "/proc/sys/net/ipv4/conf/all/accept_redirects"
        || (key.starts_with("/proc/sys/net/ipv4/conf/") && key.ends_with("/forwarding"))
}

/// Put lab19/lab20 back as they were: ip_forward 0 (the containers' default), no Cairn
/// files, /etc/fstab without the test's line.
struct RestoreFix<'a>(&'a Lab);

impl Drop for RestoreFix<'_> {
    fn drop(&mut self) {
        for h in ["lab19", "lab20"] {
            self.0.ssh_stdout(h,
                "echo 0 > /proc/sys/net/ipv4/ip_forward; rm -f /etc/sysctl.d/90-cairn.conf /etc/modules-load.d/cairn.conf; \
                 if [ -e /etc/fstab.cairn-bak ]; then cat /etc/fstab.cairn-bak > /etc/fstab && rm -f /etc/fstab.cairn-bak; fi; \
                 sed -i '\\|cairn-pf-swapfile|d' /etc/fstab; true",
            );
        }
    }
}

#[test]
fn fix_repairs_only_what_failed_and_is_idempotent() {
    let lab = Lab::from_env();
    let dir = scratch("preflight-fix");
    let _restore = RestoreFix(&lab);
    // kube_master: kube hosts need the sysctls, modules and swap off (and cluster.yaml wants
    // a control plane before any worker).
    let cfg = config(&dir, &lab, &["lab19", "lab20"], "kube_master", "");

    // Break what --fix may repair: forwarding off (not persisted), a swap line in fstab (lab19).
    for h in ["lab19", "lab20"] {
        lab.ssh_stdout(h,
            "rm -f /etc/sysctl.d/90-cairn.conf /etc/modules-load.d/cairn.conf /etc/fstab.cairn-bak; echo 0 > /proc/sys/net/ipv4/ip_forward",
        );
    }
    lab.ssh_stdout("lab19", &format!("echo '{FSTAB_LINE}' >> /etc/fstab"));

    let (code, out, err) = preflight(&dir, &lab, &cfg, &["--json"]);
    let v = json(&out, &err);
    assert_eq!(code, Some(0), "warnings only: {out}\n{err}");
    assert_eq!(
        status_value(&v, "lab19", "sysctl:net.ipv4.ip_forward"),
        ("warn", "0 (the install sets 1)")
    );
    assert_eq!(
        status_value(&v, "lab19", "swap_fstab"),
        (
            "warn",
            &*format!(
                "/etc/fstab turns swap on: {FSTAB_LINE} (systemd skips it in a container, but it turns swap on when this system boots on a machine)"
            )
        )
    );
    assert_eq!(
        status_value(&v, "lab20", "swap_fstab"),
        ("pass", "no swap in /etc/fstab")
    );
    assert_eq!(
        status_value(&v, "lab19", "module:overlay"),
        (
            "pass",
            "in effect (overlay is in /proc/filesystems): the host machine has it"
        )
    );
    assert_eq!(
        status_value(&v, "lab19", "module:br_netfilter"),
        (
            "pass",
            "in effect (its sysctls exist): the host machine has it"
        )
    );

    // --fix: what changed, what could not be applied here, then the state after it.
    let before = [snapshot(&lab, "lab19"), snapshot(&lab, "lab20")];
    let (code, out, err) = preflight(&dir, &lab, &cfg, &["--fix"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    for want in [
        "fix: lab19 sysctl:net.ipv4.ip_forward: changed: set 0 -> 1; persisted in /etc/sysctl.d/90-cairn.conf\n",
        "fix: lab19 swap_fstab: changed: commented out 1 swap line(s) in /etc/fstab (backup: /etc/fstab.cairn-bak)\n",
        "fix: lab20 sysctl:net.ipv4.ip_forward: changed: set 0 -> 1; persisted in /etc/sysctl.d/90-cairn.conf\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}\n{err}");
    }
    // In a container, modules are the machine's: the lab's machine has both (overlay in
    // /proc/filesystems, br_netfilter's sysctls), so they pass and --fix leaves them alone.
    assert!(!out.contains("fix: lab19 module:"), "{out}");
    assert!(!out.contains(": failed: "), "{out}");
    assert!(
        out.contains("pre-flight: 2 hosts, "),
        "the re-check's summary: {out}"
    );

    // Nothing changed but what was failing: per host, exactly the remedies' files and
    // settings (and the kernel's own consequences of ip_forward).
    let after = [snapshot(&lab, "lab19"), snapshot(&lab, "lab20")];
    for (i, (h, want)) in [
        (
            "lab19",
            vec![
                "/etc/fstab",
                "/etc/fstab.cairn-bak",
                "/etc/sysctl.d/90-cairn.conf",
                "/proc/sys/net/ipv4/ip_forward",
            ],
        ),
        (
            "lab20",
            vec![
                "/etc/sysctl.d/90-cairn.conf",
                "/proc/sys/net/ipv4/ip_forward",
            ],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let got: Vec<String> = changed(&before[i], &after[i])
            .into_iter()
            .filter(|k| !kernels_consequence_of_ip_forward(k))
            .collect();
        assert_eq!(got, want, "what --fix changed on {h}");
    }

    // On the hosts: applied now and persisted; the fstab line commented, not deleted.
    assert_eq!(
        lab.ssh_stdout("lab19", "cat /proc/sys/net/ipv4/ip_forward")
            .trim(),
        "1"
    );
    assert!(
        lab.ssh_stdout("lab19", "cat /etc/sysctl.d/90-cairn.conf")
            .lines()
            .any(|l| l == "net.ipv4.ip_forward=1")
    );
    let fstab = lab.ssh_stdout("lab19", "cat /etc/fstab");
    assert!(
        fstab
            .lines()
            .any(|l| l == format!("# {FSTAB_LINE}  # swap off: Cairn (preflight --fix)")),
        "{fstab}"
    );
    // Persisted for real: the boot-time service sets it again after it is lost.
    lab.ssh_stdout(
        "lab19",
        "echo 0 > /proc/sys/net/ipv4/ip_forward; systemctl restart systemd-sysctl",
    );
    assert_eq!(
        lab.ssh_stdout("lab19", "cat /proc/sys/net/ipv4/ip_forward")
            .trim(),
        "1"
    );

    // The re-check passes; a second --fix changes nothing.
    let settled = [snapshot(&lab, "lab19"), snapshot(&lab, "lab20")];
    let (code, out, err) = preflight(&dir, &lab, &cfg, &["--fix", "--json"]);
    let v = json(&out, &err);
    assert_eq!(code, Some(0), "{err}");
    for h in ["lab19", "lab20"] {
        assert_eq!(
            status_value(&v, h, "sysctl:net.ipv4.ip_forward"),
            ("pass", "1")
        );
        assert_eq!(
            status_value(&v, h, "swap_fstab"),
            ("pass", "no swap in /etc/fstab")
        );
    }
    let outcomes: Vec<&str> = v["fixed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["outcome"].as_str().unwrap())
        .collect();
    // Nothing left to remedy (the modules pass as in effect; nothing the container cannot
    // apply is wrong here: that case is unit-tested in fix/tests.rs).
    assert!(outcomes.is_empty(), "{outcomes:?}\n{v:#}");
    for (i, h) in ["lab19", "lab20"].into_iter().enumerate() {
        assert_eq!(
            changed(&settled[i], &snapshot(&lab, h)),
            Vec::<String>::new(),
            "a second --fix changed {h}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// lab21's provocations undone: the listener, the fake etcd mark.
struct RestoreOurs<'a>(&'a Lab);

impl Drop for RestoreOurs<'_> {
    fn drop(&mut self) {
        self.0.ssh_stdout("lab21",
            "systemctl stop cairn-pffix-etcd ntp 2>/dev/null; systemctl reset-failed cairn-pffix-etcd ntp 2>/dev/null; \
             rm -rf /tmp/cairn-pffix; rm -f /etc/default/etcd; true",
        );
    }
}

#[test]
fn installer_checks_ports_held_by_our_own_service_and_the_fsync_probe() {
    let lab = Lab::from_env();
    let dir = scratch("preflight-installer");
    let _restore = RestoreOurs(&lab);

    // A small bundle (one file) for the installer to verify and serve.
    let blob = b"cairn preflight installer check\n";
    std::fs::write(dir.join("blob.txt"), blob).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(blob))
    };
    std::fs::write(
        dir.join("pf.yaml"),
        format!(
            "apiVersion: cairn/v1\nkind: Bundle\nname: pf\nversion: 0.0.1\nplatforms: [linux/amd64]\n\
             files:\n  - path: blob.txt\n    sha256: {sha}\n"
        ),
    )
    .unwrap();
    let o = Command::new(cairn_bin())
        .args(["bundle", "build", "pf.yaml", "--out", "."])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bundle = dir.join("pf-0.0.1.cairn");

    let port = free_tcp_port(BRIDGE);
    let ntp = free_udp_port(BRIDGE);
    let extra = format!(
        "installer: {{ address: {BRIDGE}, port: {port}, ntp_port: {ntp} }}\nbundle: {}\n\
         preflight: {{ fsync_probe: true, fsync_warn_ms: 1000000 }}\n",
        bundle.display()
    );
    let cfg = config(&dir, &lab, &["lab21"], "etcd", &extra);

    // Nothing serves yet: the installer's checks fail and say how to start it.
    let (code, out, err) = preflight(&dir, &lab, &cfg, &["--json"]);
    let v = json(&out, &err);
    assert_eq!(code, Some(2), "{err}");
    let (s, val) = status_value(&v, "installer", "installer:bundle");
    assert_eq!(s, "pass");
    assert!(val.starts_with("pf-0.0.1 verified: "), "{val}");
    assert_eq!(
        status_value(&v, "installer", "installer:address"),
        ("pass", &*format!("{BRIDGE} is an address of this machine"))
    );
    assert_eq!(
        status_value(&v, "installer", "installer:http"),
        (
            "fail",
            &*format!("nothing serves the bundle on http://{BRIDGE}:{port} (Connection refused)")
        )
    );
    assert_eq!(
        get(&v, "installer", "installer:http")["remedy"],
        format!(
            "start it: cairn serve --bundle BUNDLE --listen {BRIDGE}:{port} --ntp {BRIDGE}:{ntp} (cairn install serves it itself)"
        )
    );
    assert_eq!(status_value(&v, "installer", "installer:ntp").0, "fail");
    // The host fetched the installer's URL itself, and could not.
    assert_eq!(status_value(&v, "lab21", "repo").0, "fail");
    assert_eq!(
        status_value(&v, "lab21", "arch"),
        ("pass", "x86_64 (amd64)")
    );

    // Served: every installer check passes, and the host reaches it.
    let listen: std::net::SocketAddr = format!("{BRIDGE}:{port}").parse().unwrap();
    let _served = Served::start(&bundle, listen, &["--ntp", &format!("{BRIDGE}:{ntp}")]);
    let (code, out, err) = preflight(&dir, &lab, &cfg, &["--json"]);
    let v = json(&out, &err);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(
        status_value(&v, "installer", "installer:http"),
        (
            "pass",
            &*format!("the bundle server answers on http://{BRIDGE}:{port}")
        )
    );
    assert_eq!(
        status_value(&v, "installer", "installer:repo"),
        // Cairn's server answers apt's index even for a bundle without packages (empty).
        ("pass", "served: apt (/repo/deb/)")
    );
    let (s, val) = status_value(&v, "installer", "installer:ntp");
    assert_eq!(s, "pass");
    assert!(
        val.starts_with(&format!("NTP answers on {BRIDGE}:{ntp}: stratum ")),
        "{val}"
    );
    assert_eq!(
        status_value(&v, "lab21", "repo"),
        ("pass", "HTTP 200 (fetched with perl)")
    );

    // The fsync probe timed real synchronous writes (the threshold is huge: pass).
    let (s, val) = status_value(&v, "lab21", "fsync");
    assert_eq!(s, "pass");
    assert!(
        val.starts_with("p99 ")
            && val.ends_with(" ms over 100 synchronous 2300-byte writes in /var/lib"),
        "{val}"
    );
    assert_eq!(
        lab.ssh_stdout("lab21", "ls -a /var/lib | grep -c cairn-fsync")
            .trim(),
        "0"
    );

    // A process named etcd holds 2379, without Cairn's mark: someone else's, a conflict.
    lab.ssh_stdout("lab21",
        "mkdir -p /tmp/cairn-pffix && cp /usr/bin/perl /tmp/cairn-pffix/etcd && \
         systemd-run --unit cairn-pffix-etcd /tmp/cairn-pffix/etcd -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalPort => 2379, Listen => 5, ReuseAddr => 1) or die; sleep 600' && sleep 0.5",
    );
    // The same cluster with an fsync threshold no disk meets.
    let cfg_slow = dir.join("slow.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg_slow,
        text.replace("fsync_warn_ms: 1000000", "fsync_warn_ms: 0.000001"),
    )
    .unwrap();
    let (code, out, err) = preflight(&dir, &lab, cfg_slow.to_str().unwrap(), &["--json"]);
    let v = json(&out, &err);
    assert_eq!(code, Some(2), "{err}");
    let (s, val) = status_value(&v, "lab21", "port:2379");
    assert_eq!(s, "fail");
    assert!(
        val.starts_with("in use by etcd (pid ") && val.ends_with("(needed by etcd client)"),
        "{val}"
    );
    // Any disk is slower than a nanosecond: the probe warns, with etcd's remedy.
    let f = get(&v, "lab21", "fsync");
    assert_eq!(f["status"], "warn");
    assert_eq!(f["threshold"], "warn if p99 > 0.000001 ms");

    // A time service the probe knows by its unit name (a stand-in named ntp): found with the
    // other services in one systemctl, and its synchronisation asked of systemd (timedatectl),
    // since it is not chrony.
    assert_eq!(status_value(&v, "lab21", "time_sync").0, "skipped");
    lab.ssh_stdout(
        "lab21",
        "systemd-run --unit ntp sleep 600 >/dev/null 2>&1 && sleep 0.3",
    );
    let (_, out, err) = preflight(&dir, &lab, &cfg, &["--json"]);
    let v = json(&out, &err);
    let (s, val) = status_value(&v, "lab21", "time_sync");
    assert!(
        (s == "pass" && val == "ntp, synchronised")
            || (s == "warn" && val == "ntp, not synchronised"),
        "{s} {val}"
    );
    lab.ssh_stdout(
        "lab21",
        "systemctl stop ntp; systemctl reset-failed ntp 2>/dev/null; true",
    );

    // Cairn's etcd role marks its environment file: now the holder is ours (a re-install).
    lab.ssh_stdout(
        "lab21",
        "printf '# Managed by Cairn (role etcd): test\\n' > /etc/default/etcd",
    );
    let (code, out, err) = preflight(&dir, &lab, &cfg, &["--json"]);
    let v = json(&out, &err);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let (s, val) = status_value(&v, "lab21", "port:2379");
    assert_eq!(s, "pass");
    assert!(
        val.starts_with("held by etcd (pid ")
            && val.ends_with(" (ours: Cairn installed etcd here; a re-install keeps it)"),
        "{val}"
    );
    assert_eq!(
        status_value(&v, "lab21", "port:2380"),
        ("pass", "free (etcd peer)")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
