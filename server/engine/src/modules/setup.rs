//! `setup`: gather facts about a host in one round trip, with no Python on it.
//!
//! One exec runs [`SCRIPT`] (`setup.sh`, POSIX sh: dash and busybox run it) which prints raw
//! `key=value` lines read from `/proc`, `/etc/os-release`, `uname`, `df`, `ip`...; all the
//! interpretation (units, names, Ansible's shapes) happens here in Rust, where it is
//! unit-tested against captured outputs. A probe that fails on the host, or a line that does
//! not parse, leaves its fact absent: never an error, never a panic.
//!
//! The facts are set on the host as `ansible_<name>` and under `ansible_facts` without the
//! prefix, as Ansible does. `gather_subset` is accepted and ignored (gathering everything is
//! one exec anyway); `filter` keeps only the facts matching its `*` patterns.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::command::exec;
use super::{Call, ModuleResult, arg_str};
use crate::playbook::Vars;
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

/// The script run on the host.
pub const SCRIPT: &str = include_str!("setup.sh");

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    // Run by /bin/sh explicitly: the login shell may be anything (bash, zsh, nologin-ish).
    let out = exec(call, &format!("/bin/sh -c {}", shell_quote(SCRIPT))).await?;
    if out.exit_status != Some(0) {
        let mut r = super::command::from_output(&out);
        r.changed = false;
        r.msg = Some("fact gathering failed: the setup script did not run".into());
        return Ok(r);
    }
    let facts = parse(&String::from_utf8_lossy(&out.stdout));
    let facts = match call.args.get("filter") {
        None | Some(Json::Null) => facts,
        Some(Json::Array(items)) => {
            let pats: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            filtered(facts, &pats)
        }
        Some(_) => match arg_str(call.args, "filter") {
            Some(p) => filtered(facts, &[p]),
            None => facts,
        },
    };
    Ok(result(facts))
}

/// The module's result for `facts` (names without the `ansible_` prefix).
fn result(facts: Vars) -> ModuleResult {
    let mut set = Vars::new();
    let mut prefixed = Vars::new();
    for (k, v) in &facts {
        prefixed.insert(format!("ansible_{k}"), v.clone());
    }
    set.extend(prefixed.clone());
    set.insert("ansible_facts".into(), Json::Object(facts));
    let mut r = ModuleResult::default();
    // Ansible registers setup's facts with their prefix.
    r.extra
        .insert("ansible_facts".into(), Json::Object(prefixed));
    r.facts = set;
    r
}

/// Keep the facts whose `ansible_` name matches one of `patterns` (`*` matches anything).
fn filtered(facts: Vars, patterns: &[String]) -> Vars {
    facts
        .into_iter()
        .filter(|(k, _)| {
            let name = format!("ansible_{k}");
            patterns.iter().any(|p| glob(p, &name) || glob(p, k))
        })
        .collect()
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// The script's output as facts (names without the `ansible_` prefix).
pub fn parse(output: &str) -> Vars {
    let raw = Raw::read(output);
    let mut f = Vars::new();
    let mut put = |k: &str, v: Option<Json>| {
        if let Some(v) = v {
            f.insert(k.into(), v);
        }
    };
    let s = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(Json::from);

    let nodename = raw.one("nodename");
    put("nodename", s(nodename));
    // Ansible's hostname is the node name up to the first dot.
    put("hostname", s(nodename.and_then(|n| n.split('.').next())));
    put("fqdn", s(raw.one("fqdn")));
    put("kernel", s(raw.one("kernel")));
    put("architecture", s(raw.one("architecture")));
    put("machine_id", s(raw.one("machine_id")));
    put("user_id", s(raw.one("user_id")));

    let dist = distribution(&raw);
    if let Some(d) = &dist {
        put("distribution", Some(d.name.clone().into()));
        put("os_family", Some(d.family.clone().into()));
        put("distribution_version", d.version.clone().map(Json::from));
        put(
            "distribution_major_version",
            d.version
                .as_deref()
                .and_then(|v| v.split('.').next())
                .map(Json::from),
        );
        put("distribution_release", d.release.clone().map(Json::from));
    }

    let mb = |k: &str| -> Option<Json> {
        let kb: u64 = raw.one(k)?.parse().ok()?;
        Some((kb / 1024).into())
    };
    put("memtotal_mb", mb("mem_MemTotal"));
    put("memfree_mb", mb("mem_MemFree"));
    put("swaptotal_mb", mb("mem_SwapTotal"));
    let int = |k: &str| raw.one(k).and_then(|v| v.parse::<u64>().ok());
    let vcpus = int("cpu_processors").filter(|n| *n > 0).or(int("nproc"));
    put("processor_vcpus", vcpus.map(Json::from));
    put(
        "processor_cores",
        int("cpu_cores").or(vcpus.map(|_| 1)).map(Json::from),
    );
    put(
        "uptime_seconds",
        raw.one("uptime")
            .and_then(|u| u.split('.').next())
            .and_then(|u| u.parse::<u64>().ok())
            .map(Json::from),
    );

    let net = network(&raw);
    put(
        "all_ipv4_addresses",
        Some(Json::Array(
            net.all.iter().map(|a| Json::from(a.clone())).collect(),
        )),
    );
    put("default_ipv4", Some(Json::Object(net.default)));
    put("mounts", Some(Json::Array(mounts(&raw))));

    put("service_mgr", service_mgr(&raw).map(Json::from));
    let family = dist.as_ref().map(|d| d.family.as_str());
    put("pkg_mgr", Some(pkg_mgr(&raw, family).into()));
    let (vtype, vrole) = virtualization(&raw);
    put("virtualization_type", Some(vtype.into()));
    put("virtualization_role", Some(vrole.into()));
    put("date_time", date_time(&raw).map(Json::Object));

    let mut env = Vars::new();
    for k in ["PATH", "HOME", "SHELL", "LANG", "USER"] {
        if let Some(v) = raw.one(&format!("env_{k}")) {
            env.insert(k.into(), v.into());
        }
    }
    put("env", Some(Json::Object(env)));
    put(
        "python",
        Some(match raw.one("python").filter(|p| !p.is_empty()) {
            Some(p) => json!({"present": true, "executable": p}),
            None => json!({"present": false}),
        }),
    );
    put(
        "selinux",
        Some(match raw.one("selinux") {
            Some("1") => json!({"status": "enabled", "mode": "enforcing"}),
            Some("0") => json!({"status": "enabled", "mode": "permissive"}),
            _ => json!({"status": "disabled"}),
        }),
    );
    f
}

/// The script's lines by key, in order (some keys repeat: `addr`, `mnt`, `df`, `pkg`).
struct Raw<'a> {
    lines: BTreeMap<&'a str, Vec<&'a str>>,
}

impl<'a> Raw<'a> {
    fn read(output: &'a str) -> Raw<'a> {
        let mut lines: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for line in output.lines() {
            // Anything else (a stray message from a probe) is not ours: ignored.
            if let Some((k, v)) = line.split_once('=')
                && !k.is_empty()
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                lines.entry(k).or_default().push(v.trim_end());
            }
        }
        Raw { lines }
    }

    /// The first value of `key`.
    fn one(&self, key: &str) -> Option<&'a str> {
        self.lines.get(key).and_then(|v| v.first()).copied()
    }

    fn all(&self, key: &str) -> &[&'a str] {
        self.lines.get(key).map(Vec::as_slice).unwrap_or(&[])
    }
}

struct Distribution {
    name: String,
    family: String,
    version: Option<String>,
    release: Option<String>,
}

/// os-release's value without its shell quotes.
fn unquote(v: &str) -> &str {
    let v = v.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

fn distribution(raw: &Raw<'_>) -> Option<Distribution> {
    let os = |k: &str| {
        raw.one(&format!("os_{k}"))
            .map(unquote)
            .filter(|v| !v.is_empty())
    };
    let id = os("ID")?;
    // Ansible's names for os-release IDs.
    let name = match id {
        "debian" => "Debian".to_string(),
        "ubuntu" => "Ubuntu".into(),
        "centos" => "CentOS".into(),
        "rhel" => "RedHat".into(),
        "rocky" => "Rocky".into(),
        "almalinux" => "AlmaLinux".into(),
        "fedora" => "Fedora".into(),
        "ol" => "OracleLinux".into(),
        "amzn" => "Amazon".into(),
        "sles" => "SLES".into(),
        "opensuse-leap" => "openSUSE Leap".into(),
        "alpine" => "Alpine".into(),
        "arch" => "Archlinux".into(),
        other => os("NAME")
            .and_then(|n| n.split_whitespace().next())
            .unwrap_or(other)
            .to_string(),
    };
    let like = os("ID_LIKE").unwrap_or_default();
    let family = match name.as_str() {
        "Debian" | "Ubuntu" => "Debian",
        "RedHat" | "CentOS" | "Rocky" | "AlmaLinux" | "Fedora" | "OracleLinux" | "Amazon" => {
            "RedHat"
        }
        "SLES" | "openSUSE Leap" => "Suse",
        "Alpine" => "Alpine",
        "Archlinux" => "Archlinux",
        _ if like
            .split_whitespace()
            .any(|l| l == "debian" || l == "ubuntu") =>
        {
            "Debian"
        }
        _ if like
            .split_whitespace()
            .any(|l| ["rhel", "fedora", "centos"].contains(&l)) =>
        {
            "RedHat"
        }
        _ if like.contains("suse") => "Suse",
        n => n,
    }
    .to_string();
    // Debian's point release lives in /etc/debian_version (testing says "trixie/sid": then
    // os-release's VERSION_ID, if any, is the better answer).
    let debian_point = raw
        .one("debian_version")
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()));
    let version = match (name.as_str(), debian_point) {
        ("Debian", Some(v)) => Some(v.to_string()),
        _ => os("VERSION_ID").map(str::to_string),
    };
    // The codename, or the part in parentheses of VERSION ("9.3 (Blue Onyx)").
    let release = os("VERSION_CODENAME").map(str::to_string).or_else(|| {
        let v = os("VERSION")?;
        let inner = v.split_once('(')?.1.split_once(')')?.0;
        Some(inner.to_string())
    });
    Some(Distribution {
        name,
        family,
        version,
        release,
    })
}

struct Network {
    all: Vec<String>,
    default: Vars,
}

/// `ip -o -4 addr` lines ("2: eth0    inet 10.0.0.5/24 brd ... scope global eth0\ ...") and
/// the default route ("default via 10.0.0.1 dev eth0 ..."), or `hostname -I` without iproute2.
fn network(raw: &Raw<'_>) -> Network {
    let mut addrs: Vec<(String, String, String)> = Vec::new(); // (interface, address, prefix)
    for line in raw.all("addr") {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = words.iter().position(|w| *w == "inet") else {
            continue;
        };
        let (Some(iface), Some(cidr)) = (words.get(1), words.get(i + 1)) else {
            continue;
        };
        let (addr, prefix) = cidr.split_once('/').unwrap_or((cidr, "32"));
        addrs.push((iface.to_string(), addr.to_string(), prefix.to_string()));
    }
    if addrs.is_empty() {
        for a in raw.one("addrs").unwrap_or_default().split_whitespace() {
            if a.parse::<std::net::Ipv4Addr>().is_ok() {
                addrs.push((String::new(), a.to_string(), String::new()));
            }
        }
    }
    let loopback = |a: &str| a.starts_with("127.");
    let all = addrs
        .iter()
        .filter(|(_, a, _)| !loopback(a))
        .map(|(_, a, _)| a.clone())
        .collect();

    let mut default = Vars::new();
    let route: Option<Vec<&str>> = raw
        .one("route")
        .map(|r| r.split_whitespace().collect())
        .filter(|w: &Vec<&str>| w.first() == Some(&"default"));
    let after = |words: &[&str], key: &str| {
        let i = words.iter().position(|w| *w == key)?;
        words.get(i + 1).map(|s| s.to_string())
    };
    let chosen = match &route {
        Some(words) => {
            let iface = after(words, "dev");
            let src = after(words, "src");
            if let Some(gw) = after(words, "via") {
                default.insert("gateway".into(), gw.into());
            }
            addrs
                .iter()
                .find(|(i, a, _)| {
                    Some(a) == src.as_ref() || (src.is_none() && Some(i) == iface.as_ref())
                })
                .cloned()
                .or_else(|| iface.map(|i| (i, src.unwrap_or_default(), String::new())))
        }
        // No default route (common on an offline cluster): Ansible reports nothing; Cairn
        // takes the first non-loopback address, which is the host's address there.
        None => addrs.iter().find(|(_, a, _)| !loopback(a)).cloned(),
    };
    if let Some((iface, addr, prefix)) = chosen {
        if !iface.is_empty() {
            default.insert("interface".into(), iface.into());
        }
        if !addr.is_empty() {
            default.insert("address".into(), addr.into());
        }
        if let Ok(p) = prefix.parse::<u8>() {
            default.insert("prefix".into(), p.to_string().into());
        }
    }
    Network { all, default }
}

/// `/proc/mounts` escapes spaces and friends as octal (`\040`).
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let digits = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if b[i] == b'\\'
            && let Some(d) = digits
        {
            // At most 0o377 = 255 for three octal digits starting 0-3; wrapping is harmless.
            let n = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            out.push(n as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Real filesystems, as Ansible lists them (device a path or `host:/path`), with df's sizes.
fn mounts(raw: &Raw<'_>) -> Vec<Json> {
    // df -P: device, 1024-blocks, used, available, capacity, then the mount point (which may
    // contain spaces).
    let mut sizes: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in raw.all("df") {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 6 {
            continue;
        }
        if let (Ok(total), Ok(avail)) = (w[1].parse::<u64>(), w[3].parse::<u64>()) {
            sizes
                .entry(w[5..].join(" "))
                .or_insert((total * 1024, avail * 1024));
        }
    }
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for line in raw.all("mnt") {
        let w: Vec<&str> = line.split_whitespace().collect();
        let [device, mount, fstype, ..] = w.as_slice() else {
            continue;
        };
        if !(device.starts_with('/') || device.contains(":/") || *fstype == "none") {
            continue;
        }
        let mount = unescape_octal(mount);
        // Mounted twice (a bind remounted read-only): listed once.
        if seen.contains(&mount) {
            continue;
        }
        seen.push(mount.clone());
        let mut m = Vars::new();
        m.insert("mount".into(), mount.clone().into());
        m.insert("device".into(), unescape_octal(device).into());
        m.insert("fstype".into(), (*fstype).into());
        if let Some((total, avail)) = sizes.get(&mount) {
            m.insert("size_total".into(), (*total).into());
            m.insert("size_available".into(), (*avail).into());
        }
        out.push(Json::Object(m));
    }
    out
}

fn service_mgr(raw: &Raw<'_>) -> Option<String> {
    let init = raw.one("init").filter(|i| !i.is_empty());
    if init == Some("systemd") || raw.one("systemd_booted") == Some("yes") {
        return Some("systemd".into());
    }
    Some(
        match init? {
            "init" => "sysvinit",
            "openrc-init" => "openrc",
            "runit" | "runit-init" => "runit",
            other => other,
        }
        .to_string(),
    )
}

/// The family's own manager when present, else the first found; Ansible says `unknown`.
fn pkg_mgr(raw: &Raw<'_>, family: Option<&str>) -> String {
    let have = raw.all("pkg");
    let name = |p: &str| if p == "apt-get" { "apt" } else { p }.to_string();
    let preferred: &[&str] = match family {
        Some("Debian") => &["apt-get"],
        Some("RedHat") => &["dnf", "yum"],
        Some("Suse") => &["zypper"],
        Some("Alpine") => &["apk"],
        _ => &[],
    };
    preferred
        .iter()
        .chain(["dnf", "yum", "apt-get", "zypper", "apk", "pacman"].iter())
        .find(|p| have.contains(p))
        .map(|p| name(p))
        .unwrap_or_else(|| "unknown".into())
}

/// (type, role): systemd-detect-virt's answer, else container markers; `NA` when nothing
/// says the host is virtualized (Ansible's value).
fn virtualization(raw: &Raw<'_>) -> (String, String) {
    let some = |k: &str| raw.one(k).filter(|v| !v.is_empty() && *v != "none");
    let kind = some("virt")
        .or_else(|| some("container"))
        .or_else(|| some("container_env"))
        .map(str::to_string)
        .or_else(|| (raw.one("dockerenv") == Some("yes")).then(|| "docker".into()))
        .or_else(|| (raw.one("containerenv") == Some("yes")).then(|| "container".into()));
    match kind {
        Some(k) => (k, "guest".into()),
        None => ("NA".into(), "NA".into()),
    }
}

/// Ansible's date_time: every value a string.
fn date_time(raw: &Raw<'_>) -> Option<Vars> {
    let w: Vec<&str> = raw.one("date")?.split_whitespace().collect();
    let [epoch, date, time, tz, ..] = w.as_slice() else {
        return None;
    };
    let mut d = Vars::new();
    d.insert("epoch".into(), (*epoch).into());
    d.insert("date".into(), (*date).into());
    d.insert("time".into(), (*time).into());
    d.insert("tz".into(), (*tz).into());
    if let [y, m, day] = date.split('-').collect::<Vec<_>>().as_slice() {
        d.insert("year".into(), (*y).into());
        d.insert("month".into(), (*m).into());
        d.insert("day".into(), (*day).into());
    }
    if let [h, m, s] = time.split(':').collect::<Vec<_>>().as_slice() {
        d.insert("hour".into(), (*h).into());
        d.insert("minute".into(), (*m).into());
        d.insert("second".into(), (*s).into());
    }
    if let Some(iso) = raw.one("date_utc").filter(|v| !v.is_empty()) {
        d.insert("iso8601".into(), iso.into());
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN12: &str = include_str!("setup_fixtures/debian12-nspawn.txt");
    const EL9: &str = include_str!("setup_fixtures/el9.txt");

    #[test]
    fn debian_12_in_systemd_nspawn() {
        let f = parse(DEBIAN12);
        let expect = json!({
            "nodename": "lab1",
            "hostname": "lab1",
            "fqdn": "lab1",
            "kernel": "6.18.44-fc-v782",
            "architecture": "x86_64",
            "machine_id": "36e4e50658c04036b89e0620f3816cfa",
            "user_id": "root",
            "distribution": "Debian",
            "os_family": "Debian",
            "distribution_version": "12.15",
            "distribution_major_version": "12",
            "distribution_release": "bookworm",
            "memtotal_mb": 24105,
            "memfree_mb": 10392,
            "swaptotal_mb": 0,
            "processor_vcpus": 2,
            "processor_cores": 2,
            "uptime_seconds": 7000,
            "all_ipv4_addresses": ["10.213.0.11"],
            // No default route in the lab: the first non-loopback address.
            "default_ipv4": {"interface": "eth0", "address": "10.213.0.11", "prefix": "24"},
            "mounts": [
                {"mount": "/run/host/os-release", "device": "/dev/vda", "fstype": "ext4",
                 "size_total": 264212084u64 * 1024, "size_available": 37234012u64 * 1024},
                {"mount": "/run/host/incoming", "device": "/dev/vda", "fstype": "ext4"},
            ],
            "service_mgr": "systemd",
            "pkg_mgr": "apt",
            "virtualization_type": "systemd-nspawn",
            "virtualization_role": "guest",
            "date_time": {
                "epoch": "1795411088", "date": "2026-11-23", "time": "05:18:08", "tz": "UTC",
                "year": "2026", "month": "11", "day": "23",
                "hour": "05", "minute": "18", "second": "08",
                "iso8601": "2026-11-23T05:18:08Z",
            },
            "env": {
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": "/root", "SHELL": "/bin/bash", "LANG": "C.UTF-8", "USER": "root",
            },
            "python": {"present": false},
            "selinux": {"status": "disabled"},
        });
        assert_eq!(Json::Object(f), expect);
    }

    #[test]
    fn el9_by_hand() {
        let f = parse(EL9);
        assert_eq!(f["distribution"], "Rocky");
        assert_eq!(f["os_family"], "RedHat");
        assert_eq!(f["distribution_version"], "9.3");
        assert_eq!(f["distribution_major_version"], "9");
        assert_eq!(f["distribution_release"], "Blue Onyx");
        assert_eq!(f["hostname"], "db1");
        assert_eq!(f["fqdn"], "db1.example.internal");
        assert_eq!(f["memtotal_mb"], 3770);
        assert_eq!(f["swaptotal_mb"], 2047);
        assert_eq!(f["processor_vcpus"], 4);
        assert_eq!(f["processor_cores"], 2);
        assert_eq!(
            f["default_ipv4"],
            json!({"gateway": "192.168.122.1", "interface": "ens3",
                   "address": "192.168.122.50", "prefix": "24"})
        );
        assert_eq!(
            f["all_ipv4_addresses"],
            json!(["192.168.122.50", "10.0.5.7"])
        );
        assert_eq!(
            f["mounts"],
            json!([
                {"mount": "/", "device": "/dev/mapper/rl-root", "fstype": "xfs",
                 "size_total": 17811456u64 * 1024, "size_available": 15805444u64 * 1024},
                {"mount": "/boot", "device": "/dev/vda1", "fstype": "xfs",
                 "size_total": 1038336u64 * 1024, "size_available": 788336u64 * 1024},
                {"mount": "/var/lib/my data", "device": "/dev/vdb1", "fstype": "ext4",
                 "size_total": 10255636u64 * 1024, "size_available": 9714932u64 * 1024},
                {"mount": "/mnt/nfs", "device": "nfs1:/export", "fstype": "nfs4",
                 "size_total": 1000000u64 * 1024, "size_available": 999000u64 * 1024},
            ])
        );
        assert_eq!(f["pkg_mgr"], "dnf");
        assert_eq!(f["service_mgr"], "systemd");
        assert_eq!(f["virtualization_type"], "kvm");
        assert_eq!(f["virtualization_role"], "guest");
        assert_eq!(
            f["python"],
            json!({"present": true, "executable": "/usr/bin/python3"})
        );
        assert_eq!(
            f["selinux"],
            json!({"status": "enabled", "mode": "enforcing"})
        );
        assert_eq!(f["env"]["USER"], "cloud-user");
        assert!(f["env"].get("LANG").is_none());
    }

    #[test]
    fn bad_or_missing_lines_leave_facts_absent() {
        let f = parse("garbage\nmem_MemTotal=lots\nos_ID=\ndate=1 2\naddr=\nmnt=x\ndf=a b\n=x\n");
        for absent in [
            "memtotal_mb",
            "distribution",
            "date_time",
            "hostname",
            "processor_vcpus",
        ] {
            assert!(f.get(absent).is_none(), "{absent}: {f:?}");
        }
        assert_eq!(f["mounts"], json!([]));
        assert_eq!(f["default_ipv4"], json!({}));
        assert_eq!(parse("")["pkg_mgr"], "unknown");
    }

    #[test]
    fn prefixed_and_under_ansible_facts() {
        let r = result(parse(DEBIAN12));
        assert_eq!(r.facts["ansible_distribution"], "Debian");
        assert_eq!(r.facts["ansible_facts"]["distribution"], "Debian");
        assert_eq!(r.extra["ansible_facts"]["ansible_os_family"], "Debian");
        assert!(!r.changed && !r.failed);
        let only = filtered(parse(DEBIAN12), &["ansible_distribution*".into()]);
        let mut keys: Vec<&str> = only.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "distribution",
                "distribution_major_version",
                "distribution_release",
                "distribution_version"
            ]
        );
    }

    /// The script itself, run by this machine's /bin/sh (dash on Debian): it must run and give
    /// the facts every Linux host has.
    #[test]
    fn the_script_runs_under_local_sh() {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .output()
            .expect("run /bin/sh");
        assert!(out.status.success(), "{out:?}");
        let f = parse(&String::from_utf8_lossy(&out.stdout));
        for k in [
            "hostname",
            "kernel",
            "architecture",
            "memtotal_mb",
            "processor_vcpus",
            "uptime_seconds",
            "date_time",
            "service_mgr",
        ] {
            assert!(f.contains_key(k), "{k} missing: {f:?}");
        }
    }

    /// A host with almost nothing on PATH: the script still exits 0 and the parse yields
    /// what the shell itself can read (no fact from a missing tool, no panic).
    #[test]
    fn the_script_survives_missing_tools() {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .env_clear()
            .env("PATH", "/nonexistent")
            .output()
            .expect("run /bin/sh");
        assert!(out.status.success(), "{out:?}");
        let f = parse(&String::from_utf8_lossy(&out.stdout));
        assert!(f.get("kernel").is_none(), "{f:?}");
        assert!(
            f.contains_key("memtotal_mb"),
            "read by the shell itself: {f:?}"
        );
    }
}
