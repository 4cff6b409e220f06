//! What cluster.yaml tells `cairn install` beyond hosts and roles: `installer`, `bundle`,
//! `network`, `versions`, `pki` and `preflight` (all optional, so every v1 file stays valid).
//!
//! Owns reading and checking these sections with the same positioned diagnostics as the rest
//! of cluster.yaml (CIDRs parse and do not overlap, ports are ports, thresholds are ordered),
//! and their defaults. Must not: look at the bundle (the version check against what the bundle
//! carries is the CLI's, which has the bundle; it uses the spans kept here to point at the
//! line), touch the network, or read files.

#![allow(clippy::result_large_err)]

use std::net::IpAddr;
use std::path::PathBuf;

use super::cluster::{Fields, Reader};
use crate::diagnostic::Diagnostic;
use crate::yaml::{Node, NodeValue, Span, YamlPath};

pub(crate) const INSTALLER_KEYS: &[&str] = &["address", "port", "ntp_port"];
pub(crate) const NETWORK_KEYS: &[&str] =
    &["pod_cidr", "service_cidr", "api_endpoint", "cluster_domain"];
pub(crate) const PKI_KEYS: &[&str] = &["validity_days", "ca_validity_days"];
pub(crate) const PREFLIGHT_KEYS: &[&str] = &[
    "ignore",
    "offset_warn_seconds",
    "offset_fail_seconds",
    "fsync_probe",
    "fsync_warn_ms",
    "roles",
];
/// What `preflight.roles.<role>` may set.
pub(crate) const PREFLIGHT_ROLE_KEYS: &[&str] = &["kernel_min", "os"];
/// Components whose version cluster.yaml may pin, and the package names that carry each in a
/// bundle (Debian names first, then EL names).
pub const COMPONENTS: &[(&str, &[&str])] = &[
    ("etcd", &["etcd-server", "etcd"]),
    ("prometheus", &["prometheus"]),
    ("kubernetes", &["kubelet", "kubernetes-node"]),
];

pub const DEFAULT_HTTP_PORT: u16 = 8080;
pub const DEFAULT_NTP_PORT: u16 = 123;
pub const DEFAULT_POD_CIDR: &str = "10.244.0.0/16";
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";
pub const DEFAULT_VALIDITY_DAYS: u32 = 365;
pub const DEFAULT_CA_VALIDITY_DAYS: u32 = 3650;

/// Where the installer serves the bundle, as the hosts reach it.
#[derive(Clone, Debug, PartialEq)]
pub struct Installer {
    pub address: IpAddr,
    pub port: u16,
    pub ntp_port: u16,
}

/// An IP network, `address/prefix`, with no host bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub address: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| "missing the /prefix length".to_string())?;
        let address: IpAddr = a
            .parse()
            .map_err(|_| format!("\"{a}\" is not an IP address"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("prefix length \"{p}\" is not a number from 0 to {max}"))?;
        let c = Cidr { address, prefix };
        let net = c.network();
        if net != address {
            return Err(format!("host bits are set: the network is {net}/{prefix}"));
        }
        Ok(c)
    }

    fn bits(addr: IpAddr) -> (u128, u32) {
        match addr {
            IpAddr::V4(a) => (u32::from(a) as u128, 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        }
    }

    fn mask(&self) -> u128 {
        let (_, width) = Cidr::bits(self.address);
        let host_bits = width - self.prefix as u32;
        let all = if width == 32 {
            u32::MAX as u128
        } else {
            u128::MAX
        };
        if host_bits >= 128 {
            0
        } else {
            all & !((1u128 << host_bits) - 1)
        }
    }

    fn network(&self) -> IpAddr {
        let (v, _) = Cidr::bits(self.address);
        let n = v & self.mask();
        match self.address {
            IpAddr::V4(_) => IpAddr::V4((n as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(n.into()),
        }
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.address.is_ipv4()
            && Cidr::bits(addr).0 & self.mask() == Cidr::bits(self.address).0 & self.mask()
    }

    /// Two networks overlap when one contains the other's first address.
    pub fn overlaps(&self, o: &Cidr) -> bool {
        self.contains(o.address) || o.contains(self.address)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub pod_cidr: Cidr,
    pub service_cidr: Cidr,
    /// `HOST[:PORT]` of the Kubernetes API as clients reach it (a VIP or a load balancer);
    /// `None`: the first kube_master's address (the playbooks decide).
    pub api_endpoint: Option<String>,
    pub cluster_domain: String,
}

impl Default for Network {
    fn default() -> Network {
        Network {
            pod_cidr: Cidr::parse(DEFAULT_POD_CIDR).expect("valid default"),
            service_cidr: Cidr::parse(DEFAULT_SERVICE_CIDR).expect("valid default"),
            api_endpoint: None,
            cluster_domain: DEFAULT_CLUSTER_DOMAIN.into(),
        }
    }
}

/// One pinned component version and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct PinnedVersion {
    pub component: String,
    pub version: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pki {
    /// Lifetime of the certificates issued by the cluster CA.
    pub validity_days: u32,
    /// Lifetime of the CA itself (used only when the CA is created).
    pub ca_validity_days: u32,
}

impl Default for Pki {
    fn default() -> Pki {
        Pki {
            validity_days: DEFAULT_VALIDITY_DAYS,
            ca_validity_days: DEFAULT_CA_VALIDITY_DAYS,
        }
    }
}

/// Pre-flight settings: check ids reported as `ignored`, clock thresholds (`None`: the
/// engine's defaults).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Preflight {
    pub ignore: Vec<String>,
    pub offset_warn_seconds: Option<f64>,
    pub offset_fail_seconds: Option<f64>,
    /// Run the etcd disk fsync latency probe on etcd hosts (off by default: it writes).
    pub fsync_probe: bool,
    /// The fsync p99 above which the probe warns (milliseconds; etcd asks for < 10 ms).
    pub fsync_warn_ms: Option<f64>,
    /// Per role (`preflight.roles.<role>`): what a host holding it must run.
    pub roles: std::collections::BTreeMap<String, RoleNeeds>,
}

/// `preflight.roles.<role>`: the kernel and releases a host of that role must have (instead of
/// the built-in ones).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleNeeds {
    /// `kernel_min: "5.4"`.
    pub kernel_min: Option<(u32, u32)>,
    /// `os: ["Debian 12", "Ubuntu 22"]`: distribution (as facts name it) and major version.
    pub os: Option<Vec<(String, String)>>,
}

/// Everything cluster.yaml says beyond the inventory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstallSettings {
    /// The cluster's name (`name:`).
    pub name: String,
    pub installer: Option<Installer>,
    /// The bundle file, relative paths taken from the config file's directory; with its span.
    pub bundle: Option<(PathBuf, Span)>,
    pub network: Network,
    pub versions: Vec<PinnedVersion>,
    pub pki: Pki,
    pub preflight: Preflight,
}

impl Reader<'_> {
    /// The install sections of the top-level `fields`.
    pub(super) fn install_settings(
        &self,
        name: &str,
        fields: &Fields,
        host_addresses: &[(String, String, Span)],
    ) -> Result<InstallSettings, Diagnostic> {
        let top = YamlPath::root();
        let mut s = InstallSettings {
            name: name.to_string(),
            ..InstallSettings::default()
        };
        if let Some(n) = fields.get("installer").filter(|n| !n.is_null()) {
            s.installer = Some(self.installer(n, &top.key("installer"))?);
        }
        if let Some(n) = fields.get("bundle") {
            let path = self.path_value(n, &top.key("bundle"))?;
            s.bundle = Some((PathBuf::from(path), n.span));
        }
        if let Some(n) = fields.get("network").filter(|n| !n.is_null()) {
            s.network = self.network(n, &top.key("network"), host_addresses)?;
        }
        if let Some(n) = fields.get("versions").filter(|n| !n.is_null()) {
            s.versions = self.versions(n, &top.key("versions"))?;
        }
        if let Some(n) = fields.get("pki").filter(|n| !n.is_null()) {
            s.pki = self.pki(n, &top.key("pki"))?;
        }
        if let Some(n) = fields.get("preflight").filter(|n| !n.is_null()) {
            s.preflight = self.preflight(n, &top.key("preflight"))?;
        }
        Ok(s)
    }

    fn installer(&self, node: &Node, path: &YamlPath) -> Result<Installer, Diagnostic> {
        let f = self.fields(node, path, &format!("in {path}"), INSTALLER_KEYS)?;
        let a = self.required(
            &f,
            "address",
            "add `address: <IP address of this machine, as the hosts reach it>`",
        )?;
        let text = self.string(a, &path.key("address"))?;
        let address: IpAddr = text.parse().map_err(|_| {
            self.error(a.span, format!("{path}.address must be an IP address, found \"{text}\""))
                .label("not an IP address")
                .help("give the address of this machine on the hosts' network (e.g. 10.0.0.1): the hosts fetch packages and time from it")
        })?;
        if address.is_unspecified() {
            return Err(self
                .error(
                    a.span,
                    format!(
                        "{path}.address must be an address the hosts can reach, found \"{text}\""
                    ),
                )
                .label("an unspecified address")
                .help("give the address of this machine on the hosts' network (e.g. 10.0.0.1)"));
        }
        let port = match f.get("port") {
            Some(n) => self.port(n, &path.key("port"))?,
            None => DEFAULT_HTTP_PORT,
        };
        let ntp_port = match f.get("ntp_port") {
            Some(n) => self.port(n, &path.key("ntp_port"))?,
            None => DEFAULT_NTP_PORT,
        };
        Ok(Installer {
            address,
            port,
            ntp_port,
        })
    }

    fn cidr(&self, node: &Node, path: &YamlPath) -> Result<Cidr, Diagnostic> {
        let text = self.string(node, path)?;
        Cidr::parse(&text).map_err(|why| {
            self.error(node.span, format!("{path} is not a valid CIDR: {why}"))
                .label(format!("\"{text}\""))
                .help("write a network as ADDRESS/PREFIX, e.g. 10.244.0.0/16")
        })
    }

    fn network(
        &self,
        node: &Node,
        path: &YamlPath,
        host_addresses: &[(String, String, Span)],
    ) -> Result<Network, Diagnostic> {
        let f = self.fields(node, path, &format!("in {path}"), NETWORK_KEYS)?;
        let mut n = Network::default();
        let mut spans = (None, None);
        if let Some(v) = f.get("pod_cidr") {
            n.pod_cidr = self.cidr(v, &path.key("pod_cidr"))?;
            spans.0 = Some(v.span);
        }
        if let Some(v) = f.get("service_cidr") {
            n.service_cidr = self.cidr(v, &path.key("service_cidr"))?;
            spans.1 = Some(v.span);
        }
        if n.pod_cidr.overlaps(&n.service_cidr) {
            let span = spans.1.or(spans.0).unwrap_or(node.span);
            return Err(self
                .error(
                    span,
                    format!(
                        "network.pod_cidr {} and network.service_cidr {} overlap",
                        n.pod_cidr, n.service_cidr
                    ),
                )
                .label("overlaps the other network")
                .help("pods and services need separate address ranges: pick networks that share no address"));
        }
        for (cidr, span, key) in [
            (n.pod_cidr, spans.0, "pod_cidr"),
            (n.service_cidr, spans.1, "service_cidr"),
        ] {
            for (host, address, _) in host_addresses {
                if let Ok(ip) = address.parse::<IpAddr>()
                    && cidr.contains(ip)
                {
                    return Err(self
                        .error(
                            span.unwrap_or(node.span),
                            format!("network.{key} {cidr} contains host \"{host}\"'s address {ip}"),
                        )
                        .label("overlaps the hosts' network")
                        .help("the cluster's internal networks must not overlap the network the hosts are on: pick another range"));
                }
            }
        }
        if let Some(v) = f.get("api_endpoint") {
            let text = self.string(v, &path.key("api_endpoint"))?;
            if !is_endpoint(&text) {
                return Err(self
                    .error(
                        v.span,
                        format!("{path}.api_endpoint must be HOST or HOST:PORT, found \"{text}\""),
                    )
                    .label("not an address or DNS name, with an optional port")
                    .help("e.g. 10.0.0.100:6443 (a VIP) or api.example.com:6443"));
            }
            n.api_endpoint = Some(text);
        }
        if let Some(v) = f.get("cluster_domain") {
            let text = self.string(v, &path.key("cluster_domain"))?;
            if !super::cluster::is_dns_name_pub(&text) {
                return Err(self
                    .error(
                        v.span,
                        format!("{path}.cluster_domain must be a DNS domain, found \"{text}\""),
                    )
                    .label("not a DNS domain")
                    .help("e.g. cluster.local"));
            }
            n.cluster_domain = text;
        }
        Ok(n)
    }

    fn versions(&self, node: &Node, path: &YamlPath) -> Result<Vec<PinnedVersion>, Diagnostic> {
        let names: Vec<&str> = COMPONENTS.iter().map(|(c, _)| *c).collect();
        let f = self.fields(node, path, &format!("in {path}"), &names)?;
        let mut out = Vec::new();
        // In the order of COMPONENTS, so messages come out the same whatever the file's order.
        for c in &names {
            if let Some(v) = f.get(c) {
                out.push(PinnedVersion {
                    component: c.to_string(),
                    version: self.string(v, &path.key(c))?,
                    span: v.span,
                });
            }
        }
        Ok(out)
    }

    fn pki(&self, node: &Node, path: &YamlPath) -> Result<Pki, Diagnostic> {
        let f = self.fields(node, path, &format!("in {path}"), PKI_KEYS)?;
        let mut p = Pki::default();
        if let Some(v) = f.get("validity_days") {
            p.validity_days = self.days(v, &path.key("validity_days"))?;
        }
        if let Some(v) = f.get("ca_validity_days") {
            p.ca_validity_days = self.days(v, &path.key("ca_validity_days"))?;
        }
        if p.validity_days > p.ca_validity_days {
            let span = f
                .get("validity_days")
                .or(f.get("ca_validity_days"))
                .map_or(node.span, |n| n.span);
            return Err(self
                .error(
                    span,
                    format!(
                        "pki.validity_days ({}) is longer than pki.ca_validity_days ({})",
                        p.validity_days, p.ca_validity_days
                    ),
                )
                .label("outlives the CA")
                .help("a certificate cannot be valid after its CA expires: shorten validity_days or lengthen ca_validity_days"));
        }
        Ok(p)
    }

    fn days(&self, node: &Node, path: &YamlPath) -> Result<u32, Diagnostic> {
        match &node.value {
            NodeValue::Number(n) => n
                .as_u64()
                .filter(|d| (1..=36500).contains(d))
                .map(|d| d as u32),
            _ => None,
        }
        .ok_or_else(|| self.wrong_type(node, path, "a number of days from 1 to 36500"))
    }

    fn seconds(&self, node: &Node, path: &YamlPath) -> Result<f64, Diagnostic> {
        match &node.value {
            NodeValue::Number(n) => n.as_f64().filter(|s| *s > 0.0 && s.is_finite()),
            _ => None,
        }
        .ok_or_else(|| self.wrong_type(node, path, "a positive number of seconds"))
    }

    fn preflight_roles(
        &self,
        node: &Node,
        path: &YamlPath,
    ) -> Result<std::collections::BTreeMap<String, RoleNeeds>, Diagnostic> {
        let roles = self.fields(node, path, &format!("in {path}"), crate::inventory::ROLES)?;
        let mut out = std::collections::BTreeMap::new();
        for role in crate::inventory::ROLES {
            let Some(r) = roles.get(role) else { continue };
            let rp = path.key(role);
            let f = self.fields(r, &rp, &format!("in {rp}"), PREFLIGHT_ROLE_KEYS)?;
            let mut needs = RoleNeeds::default();
            if let Some(k) = f.get("kernel_min") {
                // A string only: YAML reads 5.10 as the number 5.1.
                let text = match &k.value {
                    NodeValue::String(t) => t.clone(),
                    _ => String::new(),
                };
                let parsed = text.split_once('.').and_then(|(a, b)| {
                    Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?))
                });
                needs.kernel_min = Some(parsed.ok_or_else(|| {
                    self.wrong_type(
                        k,
                        &rp.key("kernel_min"),
                        "a kernel version MAJOR.MINOR in quotes, like \"5.4\"",
                    )
                })?);
            }
            if let Some(list) = f.get("os") {
                let NodeValue::Seq(items) = &list.value else {
                    return Err(self.wrong_type(
                        list,
                        &rp.key("os"),
                        "a list of \"Distribution MAJOR\" entries, like [\"Debian 12\"]",
                    ));
                };
                let mut os = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let ip = rp.key("os").index(i);
                    let text = self.string(item, &ip)?;
                    match text.rsplit_once(' ') {
                        Some((d, v)) if !d.trim().is_empty() && v.parse::<u32>().is_ok() => {
                            os.push((d.trim().to_string(), v.to_string()))
                        }
                        _ => {
                            return Err(self
                                .error(
                                    item.span,
                                    format!("{ip} must be \"Distribution MAJOR\", found {text:?}"),
                                )
                                .label("not a distribution and major version")
                                .help("write it as facts name it, e.g. \"Debian 12\", \"Ubuntu 22\", \"Rocky 9\""));
                        }
                    }
                }
                needs.os = Some(os);
            }
            out.insert(role.to_string(), needs);
        }
        Ok(out)
    }

    fn preflight(&self, node: &Node, path: &YamlPath) -> Result<Preflight, Diagnostic> {
        let f = self.fields(node, path, &format!("in {path}"), PREFLIGHT_KEYS)?;
        let mut p = Preflight::default();
        if let Some(list) = f.get("ignore") {
            let items: &[Node] = match &list.value {
                NodeValue::Null => &[],
                NodeValue::Seq(items) => items,
                _ => {
                    return Err(self.wrong_type(list, &path.key("ignore"), "a list of check ids"));
                }
            };
            for (i, item) in items.iter().enumerate() {
                p.ignore
                    .push(self.string(item, &path.key("ignore").index(i))?);
            }
        }
        if let Some(v) = f.get("offset_warn_seconds") {
            p.offset_warn_seconds = Some(self.seconds(v, &path.key("offset_warn_seconds"))?);
        }
        if let Some(v) = f.get("offset_fail_seconds") {
            p.offset_fail_seconds = Some(self.seconds(v, &path.key("offset_fail_seconds"))?);
        }
        if let Some(v) = f.get("fsync_probe") {
            p.fsync_probe = self.boolean(v, &path.key("fsync_probe"))?;
        }
        if let Some(v) = f.get("fsync_warn_ms") {
            p.fsync_warn_ms = Some(
                match &v.value {
                    NodeValue::Number(n) => n.as_f64().filter(|s| *s > 0.0 && s.is_finite()),
                    _ => None,
                }
                .ok_or_else(|| {
                    self.wrong_type(
                        v,
                        &path.key("fsync_warn_ms"),
                        "a positive number of milliseconds",
                    )
                })?,
            );
        }
        if let Some(roles) = f.get("roles") {
            p.roles = self.preflight_roles(roles, &path.key("roles"))?;
        }
        if let (Some(w), Some(fail)) = (p.offset_warn_seconds, p.offset_fail_seconds)
            && w > fail
        {
            return Err(self
                .error(
                    f.get("offset_warn_seconds").map_or(node.span, |n| n.span),
                    format!("preflight.offset_warn_seconds ({w}) is above preflight.offset_fail_seconds ({fail})"),
                )
                .label("warns only after failing")
                .help("the warning threshold must be at most the failure threshold"));
        }
        Ok(p)
    }
}

/// `HOST[:PORT]`: an IP address or DNS name, IPv6 in brackets when a port follows.
fn is_endpoint(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once("]:") {
            Some((h, p)) if h.parse::<std::net::Ipv6Addr>().is_ok() => return valid_port(p),
            _ => (rest.strip_suffix(']').unwrap_or("x y"), None),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let host_ok = host.parse::<std::net::Ipv4Addr>().is_ok()
        || host.parse::<std::net::Ipv6Addr>().is_ok() && port.is_none()
        || super::cluster::is_dns_name_pub(host);
    host_ok && port.is_none_or(valid_port)
}

fn valid_port(p: &str) -> bool {
    p.parse::<u16>().is_ok_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_contain_and_overlap() {
        let c = |s: &str| Cidr::parse(s).unwrap();
        assert!(c("10.244.0.0/16").contains("10.244.3.4".parse().unwrap()));
        assert!(!c("10.244.0.0/16").contains("10.245.0.1".parse().unwrap()));
        assert!(c("10.96.0.0/12").overlaps(&c("10.100.0.0/16")));
        assert!(!c("10.96.0.0/12").overlaps(&c("10.244.0.0/16")));
        assert!(c("0.0.0.0/0").overlaps(&c("192.168.0.0/16")));
        assert!(c("fd00::/8").contains("fd12::1".parse().unwrap()));
        assert!(!c("fd00::/8").contains("10.0.0.1".parse().unwrap()));
        let cases: &[(&str, &str)] = &[
            ("10.0.0.0", "missing the /prefix length"),
            ("10.0.0/8", "\"10.0.0\" is not an IP address"),
            (
                "10.0.0.0/33",
                "prefix length \"33\" is not a number from 0 to 32",
            ),
            ("10.0.0.1/8", "host bits are set: the network is 10.0.0.0/8"),
        ];
        for (input, want) in cases {
            assert_eq!(Cidr::parse(input).unwrap_err(), *want, "{input}");
        }
    }

    #[test]
    fn endpoints() {
        for ok in [
            "10.0.0.1",
            "10.0.0.1:6443",
            "api.example.com:6443",
            "[fd00::1]:6443",
            "fd00::1",
            "api",
        ] {
            assert!(is_endpoint(ok), "{ok}");
        }
        for bad in [
            "http://x",
            "a b",
            "10.0.0.1:0",
            "x:99999",
            "[fd00::1",
            "user@host",
        ] {
            assert!(!is_endpoint(bad), "{bad}");
        }
    }

    const BASE: &str = "apiVersion: cairn/v1\nkind: Cluster\nname: lab\nhosts:\n  - {name: a, address: 10.0.0.1}\n";

    fn load(extra: &str) -> Result<InstallSettings, String> {
        let src = format!("{BASE}{extra}");
        crate::inventory::load_str("cluster.yaml", &src)
            .map(|l| l.settings.expect("a cluster.yaml has settings"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn v1_files_get_the_defaults() {
        let s = load("").unwrap();
        assert_eq!(s.name, "lab");
        assert_eq!(s.installer, None);
        assert_eq!(s.bundle, None);
        assert_eq!(s.network, Network::default());
        assert_eq!(s.network.pod_cidr.to_string(), "10.244.0.0/16");
        assert_eq!(
            s.pki,
            Pki {
                validity_days: 365,
                ca_validity_days: 3650
            }
        );
        assert_eq!(s.preflight, Preflight::default());
        assert!(s.versions.is_empty());
    }

    #[test]
    fn every_section_is_read() {
        let s = load(
            "installer: {address: 10.0.0.254, port: 8081, ntp_port: 1123}\n\
             bundle: dist/lab-0.1.0.cairn\n\
             network: {pod_cidr: 10.32.0.0/16, service_cidr: 10.33.0.0/24, api_endpoint: '10.0.0.100:6443', cluster_domain: k8s.example}\n\
             versions: {etcd: 3.4.23}\n\
             pki: {validity_days: 30, ca_validity_days: 60}\n\
             preflight: {ignore: [memory, 'port:2379'], offset_warn_seconds: 0.2, offset_fail_seconds: 2, fsync_probe: yes, fsync_warn_ms: 25, roles: {etcd: {kernel_min: '5.10', os: ['Debian 12', 'Rocky 9']}, ci: {}}}\n",
        )
        .unwrap();
        assert_eq!(
            s.installer,
            Some(Installer {
                address: "10.0.0.254".parse().unwrap(),
                port: 8081,
                ntp_port: 1123
            })
        );
        assert_eq!(s.bundle.unwrap().0, PathBuf::from("dist/lab-0.1.0.cairn"));
        assert_eq!(s.network.service_cidr.to_string(), "10.33.0.0/24");
        assert_eq!(s.network.api_endpoint.as_deref(), Some("10.0.0.100:6443"));
        assert_eq!(s.network.cluster_domain, "k8s.example");
        assert_eq!(s.versions[0].component, "etcd");
        assert_eq!(s.versions[0].version, "3.4.23");
        assert_eq!(s.versions[0].span, Span::new(9, 18, 6));
        assert_eq!(
            s.pki,
            Pki {
                validity_days: 30,
                ca_validity_days: 60
            }
        );
        assert_eq!(s.preflight.ignore, ["memory", "port:2379"]);
        assert_eq!(s.preflight.offset_warn_seconds, Some(0.2));
        assert_eq!(s.preflight.offset_fail_seconds, Some(2.0));
        assert!(s.preflight.fsync_probe);
        assert_eq!(s.preflight.fsync_warn_ms, Some(25.0));
        assert_eq!(
            s.preflight.roles["etcd"],
            RoleNeeds {
                kernel_min: Some((5, 10)),
                os: Some(vec![
                    ("Debian".into(), "12".into()),
                    ("Rocky".into(), "9".into())
                ]),
            }
        );
        assert_eq!(s.preflight.roles["ci"], RoleNeeds::default());
    }

    #[test]
    fn installer_defaults_its_ports() {
        let s = load("installer: {address: 'fd00::1'}\n").unwrap();
        assert_eq!(
            s.installer,
            Some(Installer {
                address: "fd00::1".parse().unwrap(),
                port: 8080,
                ntp_port: 123
            })
        );
    }

    /// Each message, pinned with its position.
    #[test]
    fn mistakes_are_positioned() {
        let cases: &[(&str, &str)] = &[
            (
                "installer: {port: 80}\n",
                "cluster.yaml:6:12: error: missing required key \"address\" in installer",
            ),
            (
                "installer: {address: lab}\n",
                "cluster.yaml:6:22: error: installer.address must be an IP address, found \"lab\"",
            ),
            (
                "installer: {address: 0.0.0.0}\n",
                "cluster.yaml:6:22: error: installer.address must be an address the hosts can reach, found \"0.0.0.0\"",
            ),
            (
                "installer: {address: 10.0.0.9, ntp_port: 0}\n",
                "cluster.yaml:6:42: error: installer.ntp_port must be a port number from 1 to 65535, found an integer",
            ),
            (
                "installer: {address: 10.0.0.9, prot: 1}\n",
                "cluster.yaml:6:32: error: unknown key \"prot\" in installer",
            ),
            (
                "bundle: [a]\n",
                "cluster.yaml:6:9: error: bundle must be a string, found a list",
            ),
            (
                "network: {pod_cidr: 10.244.0.0}\n",
                "cluster.yaml:6:21: error: network.pod_cidr is not a valid CIDR: missing the /prefix length",
            ),
            (
                "network: {service_cidr: 10.96.0.1/12}\n",
                "cluster.yaml:6:25: error: network.service_cidr is not a valid CIDR: host bits are set: the network is 10.96.0.0/12",
            ),
            (
                "network: {pod_cidr: 10.0.0.0/8, service_cidr: 10.96.0.0/12}\n",
                "cluster.yaml:6:47: error: network.pod_cidr 10.0.0.0/8 and network.service_cidr 10.96.0.0/12 overlap",
            ),
            (
                "network: {pod_cidr: 10.0.0.0/24}\n",
                "cluster.yaml:6:21: error: network.pod_cidr 10.0.0.0/24 contains host \"a\"'s address 10.0.0.1",
            ),
            (
                "network: {api_endpoint: 'http://x:6443'}\n",
                "cluster.yaml:6:25: error: network.api_endpoint must be HOST or HOST:PORT, found \"http://x:6443\"",
            ),
            (
                "network: {cluster_domain: 'a_b'}\n",
                "cluster.yaml:6:27: error: network.cluster_domain must be a DNS domain, found \"a_b\"",
            ),
            (
                "versions: {etcd: 3.5}\n",
                "cluster.yaml:6:18: error: versions.etcd must be a string, found a number",
            ),
            (
                "versions: {etc: '3.5'}\n",
                "cluster.yaml:6:12: error: unknown key \"etc\" in versions",
            ),
            (
                "pki: {validity_days: 0}\n",
                "cluster.yaml:6:22: error: pki.validity_days must be a number of days from 1 to 36500, found an integer",
            ),
            (
                "pki: {validity_days: 4000}\n",
                "cluster.yaml:6:22: error: pki.validity_days (4000) is longer than pki.ca_validity_days (3650)",
            ),
            (
                "preflight: {ignore: memory}\n",
                "cluster.yaml:6:21: error: preflight.ignore must be a list of check ids, found a string",
            ),
            (
                "preflight: {offset_fail_seconds: -1}\n",
                "cluster.yaml:6:34: error: preflight.offset_fail_seconds must be a positive number of seconds, found an integer",
            ),
            (
                "preflight: {fsync_warn_ms: 0}\n",
                "cluster.yaml:6:28: error: preflight.fsync_warn_ms must be a positive number of milliseconds, found an integer",
            ),
            (
                "preflight: {fsync_probe: maybe}\n",
                "cluster.yaml:6:26: error: preflight.fsync_probe must be true or false, found a string",
            ),
            (
                "preflight: {roles: {etcd: {kernel_min: 5.10}}}\n",
                "cluster.yaml:6:40: error: preflight.roles.etcd.kernel_min must be a kernel version MAJOR.MINOR in quotes, like \"5.4\", found a number",
            ),
            (
                "preflight: {roles: {etcd: {os: [Debian]}}}\n",
                "cluster.yaml:6:33: error: preflight.roles.etcd.os[0] must be \"Distribution MAJOR\", found \"Debian\"",
            ),
            (
                "preflight: {roles: {etc: {}}}\n",
                "cluster.yaml:6:21: error: unknown key \"etc\" in preflight.roles",
            ),
            (
                "preflight: {roles: {etcd: {memory: 4}}}\n",
                "cluster.yaml:6:28: error: unknown key \"memory\" in preflight.roles.etcd",
            ),
            (
                "preflight: {offset_warn_seconds: 3, offset_fail_seconds: 1}\n",
                "cluster.yaml:6:34: error: preflight.offset_warn_seconds (3) is above preflight.offset_fail_seconds (1)",
            ),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|(extra, want)| {
                let got = load(extra).map(|_| ()).unwrap_err();
                (got != *want).then(|| format!("{extra:?}\n  got:  {got}\n  want: {want}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
