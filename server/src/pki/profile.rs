//! What each kind of certificate says: its subject, its names (SANs) and what it may be used
//! for. etcd's own guide (op-guide/security) and kubeadm's certificate list are the model:
//! server and peer certificates carry the member's name and address plus loopback, and are
//! usable both as server and as client (etcd dials its peers with the peer certificate and
//! its own gateway with the server certificate); the client certificate is client-only.
//! Must not: sign or write anything.

use rcgen::{ExtendedKeyUsagePurpose as Eku, KeyUsagePurpose as Ku};
use std::net::IpAddr;

/// One etcd member as the certificates name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The inventory hostname (the directory name under `etcd/`).
    pub name: String,
    /// The address the other members and clients use (cluster.yaml's `address`).
    pub address: String,
}

// etcd's and the registry's profiles; kube's (apiserver, kubelet, ...) join them later.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    EtcdServer,
    EtcdPeer,
    /// For the apiserver and etcdctl.
    EtcdClient,
    /// The on-site registry's HTTPS (`registry/<host>/server.crt`): server-only.
    RegistryServer,
}

/// One subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

/// What a certificate must say to be kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub common_name: String,
    pub organization: Option<String>,
    /// Sorted and without duplicates, so two certificates compare by set.
    pub sans: Vec<San>,
    pub server_auth: bool,
    pub client_auth: bool,
}

impl Wanted {
    pub fn key_usages(&self) -> Vec<Ku> {
        // ECDSA keys sign; keyEncipherment belongs to RSA key transport.
        vec![Ku::DigitalSignature]
    }

    pub fn extended_key_usages(&self) -> Vec<Eku> {
        let mut v = Vec::new();
        if self.server_auth {
            v.push(Eku::ServerAuth);
        }
        if self.client_auth {
            v.push(Eku::ClientAuth);
        }
        v
    }
}

/// The names a member's certificates carry: its hostname, its address, and loopback (etcdctl
/// and health checks on the host itself).
pub fn member_sans(m: &Member) -> Vec<San> {
    let mut sans = vec![
        San::Dns(m.name.clone()),
        San::Dns("localhost".into()),
        San::Ip(IpAddr::from([127, 0, 0, 1])),
    ];
    sans.push(match m.address.parse::<IpAddr>() {
        Ok(ip) => San::Ip(ip),
        Err(_) => San::Dns(m.address.to_ascii_lowercase()),
    });
    sans.sort();
    sans.dedup();
    sans
}

impl Profile {
    /// What a certificate of this profile says for `member` (`None` for the client).
    pub fn params(self, member: Option<&Member>) -> Wanted {
        match (self, member) {
            (Profile::EtcdServer | Profile::EtcdPeer, Some(m)) => Wanted {
                common_name: m.name.clone(),
                organization: None,
                sans: member_sans(m),
                server_auth: true,
                client_auth: true,
            },
            (Profile::EtcdServer | Profile::EtcdPeer, None) => {
                unreachable!("server and peer certificates name a member")
            }
            (Profile::RegistryServer, Some(m)) => Wanted {
                common_name: m.name.clone(),
                organization: None,
                sans: member_sans(m),
                server_auth: true,
                client_auth: false,
            },
            (Profile::RegistryServer, None) => {
                unreachable!("a registry certificate names its host")
            }
            (Profile::EtcdClient, _) => Wanted {
                common_name: "cairn-etcd-client".into(),
                organization: Some("cairn".into()),
                sans: Vec::new(),
                server_auth: false,
                client_auth: true,
            },
        }
    }
}
