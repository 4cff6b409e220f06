//! What each Kubernetes certificate says (subject, names, usages) and where each component
//! reaches the API, after kubeadm's certificate list (`kubeadm certs`, "PKI certificates and
//! requirements") and Kubespray's layout: one Kubernetes CA, one front-proxy CA, the etcd CA
//! (Cairn's cluster CA) for the apiserver's etcd client. Must not: sign or write anything.

use super::super::profile::{Member, San, Wanted};
use cairn_engine::inventory::install_settings::Cidr;
use std::net::IpAddr;

/// The port kube-apiserver listens on (`--secure-port`), and the local load balancer's port
/// on nodes that are not masters (as Kubespray's `loadbalancer_apiserver_port`).
pub const API_PORT: u16 = 6443;

/// The cluster as its certificates and kubeconfigs see it.
#[derive(Clone, Debug)]
pub struct Topology {
    /// The `kube_master` hosts, inventory order.
    pub masters: Vec<Member>,
    /// Every host that runs a kubelet (`kube_master` and `kube_node`), inventory order,
    /// without duplicates.
    pub nodes: Vec<Member>,
    pub service_cidr: Cidr,
    pub cluster_domain: String,
    /// cluster.yaml's `network.api_endpoint` (`HOST[:PORT]`, a VIP or load balancer).
    pub api_endpoint: Option<String>,
}

/// `https://HOST:PORT`, with an IPv6 address in brackets.
pub fn url(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(a)) => format!("https://[{a}]:{port}"),
        _ => format!("https://{host}:{port}"),
    }
}

/// `HOST[:PORT]` split, the port 6443 when not given (`[v6]:port` and a bare v6 address too).
pub fn split_endpoint(e: &str) -> (String, u16) {
    if let Some(rest) = e.strip_prefix('[')
        && let Some((host, tail)) = rest.split_once(']')
    {
        let port = tail
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(API_PORT);
        return (host.to_string(), port);
    }
    if e.parse::<IpAddr>().is_ok() {
        return (e.to_string(), API_PORT);
    }
    match e.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().unwrap()),
        _ => (e.to_string(), API_PORT),
    }
}

fn san_of(host: &str) -> San {
    match host.parse::<IpAddr>() {
        Ok(ip) => San::Ip(ip),
        Err(_) => San::Dns(host.to_ascii_lowercase()),
    }
}

fn sorted(mut sans: Vec<San>) -> Vec<San> {
    sans.sort();
    sans.dedup();
    sans
}

fn client(cn: &str, o: Option<&str>) -> Wanted {
    Wanted {
        common_name: cn.into(),
        organization: o.map(str::to_string),
        sans: Vec::new(),
        server_auth: false,
        client_auth: true,
    }
}

impl Topology {
    /// The first address of the service network: the `kubernetes` service's ClusterIP, which
    /// pods use to reach the API, so it must be in the apiserver's certificate.
    pub fn service_ip(&self) -> IpAddr {
        let c = self.service_cidr;
        match c.address {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a).wrapping_add(1)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a).wrapping_add(1)).into()),
        }
    }

    /// The API as clients off the masters reach it: `network.api_endpoint`, else the first
    /// master on 6443.
    pub fn endpoint(&self) -> (String, u16) {
        match &self.api_endpoint {
            Some(e) => split_endpoint(e),
            None => (
                self.masters
                    .first()
                    .map(|m| m.address.clone())
                    .unwrap_or_else(|| "127.0.0.1".into()),
                API_PORT,
            ),
        }
    }

    /// Does a node that is not a master reach the API through a local load balancer
    /// (several masters and no `api_endpoint`)?
    pub fn local_lb(&self) -> bool {
        self.api_endpoint.is_none() && self.masters.len() > 1
    }

    /// The API URL of `admin.conf` (used from an operator's machine).
    pub fn admin_server(&self) -> String {
        let (h, p) = self.endpoint();
        url(&h, p)
    }

    /// The API URL of node `name`'s kubelet and kube-proxy: the endpoint when one is set;
    /// else a master's own apiserver on loopback, the single master, or the node's local load
    /// balancer on 127.0.0.1:6443 (Kubespray's localhost load balancing).
    pub fn node_server(&self, name: &str) -> String {
        if self.api_endpoint.is_some() {
            return self.admin_server();
        }
        if self.masters.iter().any(|m| m.name == name) || self.local_lb() {
            return url("127.0.0.1", API_PORT);
        }
        self.admin_server()
    }

    /// The apiserver's names: the `kubernetes` service's DNS names and ClusterIP, every
    /// master's hostname and address, the API endpoint, loopback.
    pub fn apiserver_sans(&self) -> Vec<San> {
        let mut s = vec![
            San::Dns("kubernetes".into()),
            San::Dns("kubernetes.default".into()),
            San::Dns("kubernetes.default.svc".into()),
            San::Dns(format!(
                "kubernetes.default.svc.{}",
                self.cluster_domain.to_ascii_lowercase()
            )),
            San::Ip(self.service_ip()),
            San::Ip(IpAddr::from([127, 0, 0, 1])),
        ];
        for m in &self.masters {
            s.push(San::Dns(m.name.to_ascii_lowercase()));
            s.push(san_of(&m.address));
        }
        if let Some(e) = &self.api_endpoint {
            s.push(san_of(&split_endpoint(e).0));
        }
        sorted(s)
    }
}

/// kube-apiserver's serving certificate (server only, as kubeadm's).
pub fn apiserver(t: &Topology) -> Wanted {
    Wanted {
        common_name: "kube-apiserver".into(),
        organization: None,
        sans: t.apiserver_sans(),
        server_auth: true,
        client_auth: false,
    }
}

/// The apiserver to kubelets (logs, exec): in `system:masters`, as kubeadm issued it up to
/// 1.28 and Kubespray still does.
pub fn apiserver_kubelet_client() -> Wanted {
    client("kube-apiserver-kubelet-client", Some("system:masters"))
}

/// The apiserver to etcd; issued by the etcd CA.
pub fn apiserver_etcd_client() -> Wanted {
    client("kube-apiserver-etcd-client", None)
}

/// The apiserver to aggregated API servers; issued by the front-proxy CA.
pub fn front_proxy_client() -> Wanted {
    client("front-proxy-client", None)
}

pub fn admin() -> Wanted {
    client("kubernetes-admin", Some("system:masters"))
}

pub fn controller_manager() -> Wanted {
    client("system:kube-controller-manager", None)
}

pub fn scheduler() -> Wanted {
    client("system:kube-scheduler", None)
}

pub fn kube_proxy() -> Wanted {
    client("system:kube-proxy", Some("system:node-proxier"))
}

/// A node's kubelet to the apiserver: the Node authorizer knows it by this subject.
pub fn kubelet_client(name: &str) -> Wanted {
    client(&format!("system:node:{name}"), Some("system:nodes"))
}

/// A node's kubelet serving certificate (the apiserver verifies it with
/// `--kubelet-certificate-authority`): its hostname and address.
pub fn kubelet_server(m: &Member) -> Wanted {
    Wanted {
        common_name: format!("system:node:{}", m.name),
        organization: Some("system:nodes".into()),
        sans: sorted(vec![
            San::Dns(m.name.to_ascii_lowercase()),
            san_of(&m.address),
        ]),
        server_auth: true,
        client_auth: false,
    }
}
