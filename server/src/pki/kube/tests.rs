//! The Kubernetes PKI read back: subjects, SANs, key usages and validity with x509-parser;
//! issuer chains with `openssl verify` (an independent implementation) against the right CA;
//! kubeconfigs parsed as YAML with their embedded pair; idempotence and what changes when the
//! topology does.

use super::profile::{Topology, split_endpoint};
use super::*;
use crate::pki::existing::{parse_pem, sans_of};
use crate::pki::profile::{Member, San};
use crate::pki::{cluster_dir, ensure as ensure_etcd};
use base64::Engine;
use cairn_engine::inventory::install_settings::Cidr;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use x509_parser::parse_x509_certificate;

const V: Validity = Validity {
    leaf_days: 200,
    ca_days: 2000,
};

fn m(name: &str, address: &str) -> Member {
    Member {
        name: name.into(),
        address: address.into(),
    }
}

fn topo(endpoint: Option<&str>) -> Topology {
    let masters = vec![m("m1", "10.213.0.32"), m("m2", "10.213.0.33")];
    let mut nodes = masters.clone();
    nodes.push(m("w1", "10.213.0.34"));
    Topology {
        masters,
        nodes,
        service_cidr: Cidr::parse("10.96.0.0/12").unwrap(),
        cluster_domain: "cluster.example".into(),
        api_endpoint: endpoint.map(str::to_string),
    }
}

fn setup(t: &Topology) -> (tempfile::TempDir, std::path::PathBuf, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = cluster_dir(tmp.path(), "lab");
    ensure_etcd(&dir, "lab", &[], V).unwrap();
    let out = ensure(&dir, "lab", t, V).unwrap();
    let shown = out.iter().map(|o| o.to_string()).collect();
    (tmp, dir, shown)
}

fn cert(dir: &Path, rel: &str) -> Vec<u8> {
    parse_pem(&std::fs::read_to_string(dir.join(rel)).unwrap()).unwrap()
}

fn openssl_verify(ca: &Path, crt: &Path, purpose: &str) -> Result<(), String> {
    let o = Command::new("openssl")
        .args(["verify", "-purpose", purpose, "-CAfile"])
        .arg(ca)
        .arg(crt)
        .output()
        .expect("openssl on the controller");
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
    }
}

#[test]
fn endpoints_split_with_the_api_port_by_default() {
    for (e, host, port) in [
        ("10.0.0.100", "10.0.0.100", 6443),
        ("10.0.0.100:8443", "10.0.0.100", 8443),
        ("api.example.com", "api.example.com", 6443),
        ("api.example.com:443", "api.example.com", 443),
        ("fd00::1", "fd00::1", 6443),
        ("[fd00::1]:7443", "fd00::1", 7443),
    ] {
        assert_eq!(split_endpoint(e), (host.to_string(), port), "{e}");
    }
    assert_eq!(profile::url("fd00::1", 6443), "https://[fd00::1]:6443");
}

#[test]
fn servers_each_component_uses() {
    // Several masters, no endpoint: masters use their own apiserver, other nodes the local
    // load balancer, admin the first master.
    let t = topo(None);
    assert!(t.local_lb());
    assert_eq!(t.admin_server(), "https://10.213.0.32:6443");
    assert_eq!(t.node_server("m2"), "https://127.0.0.1:6443");
    assert_eq!(t.node_server("w1"), "https://127.0.0.1:6443");
    // One master: nodes go straight to it.
    let mut one = topo(None);
    one.masters.truncate(1);
    assert!(!one.local_lb());
    assert_eq!(one.node_server("w1"), "https://10.213.0.32:6443");
    assert_eq!(one.node_server("m1"), "https://127.0.0.1:6443");
    // A VIP: everyone uses it.
    let vip = topo(Some("10.213.0.200"));
    assert!(!vip.local_lb());
    for n in ["m1", "w1"] {
        assert_eq!(vip.node_server(n), "https://10.213.0.200:6443");
    }
    let mut six = topo(None);
    six.service_cidr = Cidr::parse("fd00:96::/108").unwrap();
    assert_eq!(six.service_ip().to_string(), "fd00:96::1");
}

#[test]
fn issues_the_layout_with_names_usages_chains_and_modes() {
    let t = topo(Some("api.lab.example:8443"));
    let (_tmp, dir, shown) = setup(&t);
    let k = dir.join("kube");
    assert_eq!(
        shown,
        [
            "kube/ca.crt: created",
            "kube/front-proxy-ca.crt: created",
            "kube/apiserver.crt: created",
            "kube/apiserver-kubelet-client.crt: created",
            "kube/apiserver-etcd-client.crt: created",
            "kube/front-proxy-client.crt: created",
            "kube/admin.crt: created",
            "kube/controller-manager.crt: created",
            "kube/scheduler.crt: created",
            "kube/kube-proxy.crt: created",
            "kube/sa.pub: created",
            "kube/encryption-config.yaml: created",
            "kube/admin.conf: created",
            "kube/controller-manager.conf: created",
            "kube/scheduler.conf: created",
            "kube/nodes/m1/kubelet-client.crt: created",
            "kube/nodes/m1/kubelet.crt: created",
            "kube/nodes/m1/kubelet.conf: created",
            "kube/nodes/m1/kube-proxy.conf: created",
            "kube/nodes/m2/kubelet-client.crt: created",
            "kube/nodes/m2/kubelet.crt: created",
            "kube/nodes/m2/kubelet.conf: created",
            "kube/nodes/m2/kube-proxy.conf: created",
            "kube/nodes/w1/kubelet-client.crt: created",
            "kube/nodes/w1/kubelet.crt: created",
            "kube/nodes/w1/kubelet.conf: created",
            "kube/nodes/w1/kube-proxy.conf: created",
        ]
    );
    let mode = |p: &str| std::fs::metadata(k.join(p)).unwrap().permissions().mode() & 0o777;
    for d in ["", "nodes", "nodes/w1"] {
        assert_eq!(mode(d), 0o700, "{d}");
    }
    for f in [
        "ca.key",
        "front-proxy-ca.key",
        "apiserver.key",
        "sa.key",
        "encryption-config.yaml",
        "admin.conf",
        "nodes/w1/kubelet.conf",
        "nodes/w1/kube-proxy.conf",
        "nodes/w1/kubelet-client.key",
    ] {
        assert_eq!(mode(f), 0o600, "{f}");
    }
    for f in ["ca.crt", "apiserver.crt", "sa.pub"] {
        assert_eq!(mode(f), 0o644, "{f}");
    }

    // The two CAs: CA certificates with their subject and the CA lifetime.
    for (f, subject) in [
        ("ca.crt", "CN=kubernetes-ca, O=cairn"),
        ("front-proxy-ca.crt", "CN=front-proxy-ca, O=cairn"),
    ] {
        let der = cert(&k, f);
        let (_, c) = parse_x509_certificate(&der).unwrap();
        assert!(c.is_ca(), "{f}");
        assert_eq!(c.subject().to_string(), subject);
        let ku = c.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign(), "{f}");
        let life = c.validity().not_after.timestamp() - c.validity().not_before.timestamp();
        assert_eq!(life, 2000 * 86_400 + 3600, "{f}");
    }

    // Every leaf: subject, usages, names, lifetime, issuer (openssl, with the purpose).
    let ca = k.join("ca.crt");
    let etcd_ca = dir.join("ca.crt");
    let fp_ca = k.join("front-proxy-ca.crt");
    let sans = |v: &[&str]| -> Vec<San> {
        let mut s: Vec<San> = v
            .iter()
            .map(|x| match x.parse() {
                Ok(ip) => San::Ip(ip),
                Err(_) => San::Dns(x.to_string()),
            })
            .collect();
        s.sort();
        s
    };
    // (file, CA, subject, server auth, client auth, SANs)
    type Case<'a> = (&'a str, &'a Path, &'a str, bool, bool, Vec<San>);
    let cases: &[Case] = &[
        (
            "apiserver.crt",
            &ca,
            "CN=kube-apiserver",
            true,
            false,
            sans(&[
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.example",
                "10.96.0.1",
                "127.0.0.1",
                "m1",
                "m2",
                "10.213.0.32",
                "10.213.0.33",
                "api.lab.example",
            ]),
        ),
        (
            "apiserver-kubelet-client.crt",
            &ca,
            "CN=kube-apiserver-kubelet-client, O=system:masters",
            false,
            true,
            vec![],
        ),
        (
            "apiserver-etcd-client.crt",
            &etcd_ca,
            "CN=kube-apiserver-etcd-client",
            false,
            true,
            vec![],
        ),
        (
            "front-proxy-client.crt",
            &fp_ca,
            "CN=front-proxy-client",
            false,
            true,
            vec![],
        ),
        (
            "admin.crt",
            &ca,
            "CN=kubernetes-admin, O=system:masters",
            false,
            true,
            vec![],
        ),
        (
            "controller-manager.crt",
            &ca,
            "CN=system:kube-controller-manager",
            false,
            true,
            vec![],
        ),
        (
            "scheduler.crt",
            &ca,
            "CN=system:kube-scheduler",
            false,
            true,
            vec![],
        ),
        (
            "kube-proxy.crt",
            &ca,
            "CN=system:kube-proxy, O=system:node-proxier",
            false,
            true,
            vec![],
        ),
        (
            "nodes/w1/kubelet-client.crt",
            &ca,
            "CN=system:node:w1, O=system:nodes",
            false,
            true,
            vec![],
        ),
        (
            "nodes/w1/kubelet.crt",
            &ca,
            "CN=system:node:w1, O=system:nodes",
            true,
            false,
            sans(&["w1", "10.213.0.34"]),
        ),
    ];
    for (f, issuer, subject, server, client, want_sans) in cases {
        let der = cert(&k, f);
        let (_, c) = parse_x509_certificate(&der).unwrap();
        assert!(!c.is_ca(), "{f}");
        assert_eq!(&c.subject().to_string(), subject, "{f}");
        let ku = c.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && !ku.key_cert_sign(), "{f}");
        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert_eq!(
            (eku.server_auth, eku.client_auth),
            (*server, *client),
            "{f}"
        );
        assert_eq!(&sans_of(&c), want_sans, "{f}");
        let life = c.validity().not_after.timestamp() - c.validity().not_before.timestamp();
        assert_eq!(life, 200 * 86_400 + 3600, "{f}");
        let purpose = if *server { "sslserver" } else { "sslclient" };
        openssl_verify(issuer, &k.join(f), purpose).unwrap_or_else(|e| panic!("{f}: {e}"));
        // And not by the other CAs: each chain is the one intended.
        for other in [&ca, &etcd_ca, &fp_ca] {
            if other != issuer {
                assert!(
                    openssl_verify(other, &k.join(f), purpose).is_err(),
                    "{f} verified against {}",
                    other.display()
                );
            }
        }
    }

    // The encryption config: secretbox with a 32-byte key, then identity (reads old data).
    let enc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(k.join("encryption-config.yaml")).unwrap())
            .unwrap();
    assert_eq!(enc["kind"], "EncryptionConfiguration");
    assert_eq!(enc["resources"][0]["resources"][0], "secrets");
    let secret = enc["resources"][0]["providers"][0]["secretbox"]["keys"][0]["secret"]
        .as_str()
        .unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(secret)
            .unwrap()
            .len(),
        32
    );
    assert!(enc["resources"][0]["providers"][1]["identity"].is_mapping());

    // The service-account pair belongs together.
    let key = KeyPair::from_pem(&std::fs::read_to_string(k.join("sa.key")).unwrap()).unwrap();
    assert_eq!(
        key.public_key_pem(),
        std::fs::read_to_string(k.join("sa.pub")).unwrap()
    );
    assert!(
        std::fs::read_to_string(k.join("sa.pub"))
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
}

#[test]
fn kubeconfigs_parse_and_embed_the_ca_and_the_right_pair() {
    let t = topo(None);
    let (_tmp, dir, _) = setup(&t);
    let k = dir.join("kube");
    let b64 = base64::engine::general_purpose::STANDARD;
    for (conf, pair, user, server) in [
        (
            "admin.conf",
            "admin",
            "kubernetes-admin",
            "https://10.213.0.32:6443",
        ),
        (
            "controller-manager.conf",
            "controller-manager",
            "system:kube-controller-manager",
            "https://127.0.0.1:6443",
        ),
        (
            "scheduler.conf",
            "scheduler",
            "system:kube-scheduler",
            "https://127.0.0.1:6443",
        ),
        (
            "nodes/w1/kubelet.conf",
            "nodes/w1/kubelet-client",
            "system:node:w1",
            "https://127.0.0.1:6443",
        ),
        (
            "nodes/w1/kube-proxy.conf",
            "kube-proxy",
            "system:kube-proxy",
            "https://127.0.0.1:6443",
        ),
    ] {
        let text = std::fs::read_to_string(k.join(conf)).unwrap();
        let y: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(y["apiVersion"], "v1", "{conf}");
        assert_eq!(y["kind"], "Config", "{conf}");
        assert_eq!(y["current-context"], format!("{user}@lab").as_str());
        assert_eq!(y["contexts"][0]["context"]["user"], user, "{conf}");
        assert_eq!(y["contexts"][0]["context"]["cluster"], "lab", "{conf}");
        assert_eq!(y["clusters"][0]["cluster"]["server"], server, "{conf}");
        let data = |v: &serde_yaml::Value| {
            String::from_utf8(b64.decode(v.as_str().unwrap()).unwrap()).unwrap()
        };
        assert_eq!(
            data(&y["clusters"][0]["cluster"]["certificate-authority-data"]),
            std::fs::read_to_string(k.join("ca.crt")).unwrap(),
            "{conf}"
        );
        assert_eq!(
            data(&y["users"][0]["user"]["client-certificate-data"]),
            std::fs::read_to_string(k.join(format!("{pair}.crt"))).unwrap(),
            "{conf}"
        );
        assert_eq!(
            data(&y["users"][0]["user"]["client-key-data"]),
            std::fs::read_to_string(k.join(format!("{pair}.key"))).unwrap(),
            "{conf}"
        );
    }
    // A master's kubelet talks to its own apiserver.
    let m1: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(k.join("nodes/m1/kubelet.conf")).unwrap())
            .unwrap();
    assert_eq!(
        m1["clusters"][0]["cluster"]["server"],
        "https://127.0.0.1:6443"
    );
}

#[test]
fn a_second_run_keeps_everything_and_a_new_endpoint_reissues_what_names_it() {
    let t = topo(None);
    let (_tmp, dir, _) = setup(&t);
    let before = std::fs::read(dir.join("kube/apiserver.crt")).unwrap();
    let again = ensure(&dir, "lab", &t, V).unwrap();
    assert!(again.iter().all(|o| o.action == Action::Kept), "{again:?}");
    assert_eq!(
        std::fs::read(dir.join("kube/apiserver.crt")).unwrap(),
        before
    );

    // A VIP appears: the apiserver's names change, and every kubeconfig that points at it.
    let vip = topo(Some("10.213.0.200"));
    let out = ensure(&dir, "lab", &vip, V).unwrap();
    let changed: Vec<String> = out
        .iter()
        .filter(|o| o.action != Action::Kept)
        .map(|o| o.to_string())
        .collect();
    assert_eq!(
        changed,
        [
            "kube/apiserver.crt: reissued (its names are [kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.cluster.example, m1, m2, 10.96.0.1, 10.213.0.32, 10.213.0.33, 127.0.0.1], wanted [kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.cluster.example, m1, m2, 10.96.0.1, 10.213.0.32, 10.213.0.33, 10.213.0.200, 127.0.0.1])",
            "kube/admin.conf: reissued (its server or credentials changed)",
            "kube/nodes/m1/kubelet.conf: reissued (its server or credentials changed)",
            "kube/nodes/m1/kube-proxy.conf: reissued (its server or credentials changed)",
            "kube/nodes/m2/kubelet.conf: reissued (its server or credentials changed)",
            "kube/nodes/m2/kube-proxy.conf: reissued (its server or credentials changed)",
            "kube/nodes/w1/kubelet.conf: reissued (its server or credentials changed)",
            "kube/nodes/w1/kube-proxy.conf: reissued (its server or credentials changed)",
        ]
    );

    // A lost service-account public key is made again with a new pair (tokens re-signed).
    std::fs::remove_file(dir.join("kube/sa.pub")).unwrap();
    let out = ensure(&dir, "lab", &vip, V).unwrap();
    assert!(
        out.iter()
            .any(|o| o.to_string() == "kube/sa.pub: reissued (sa.pub is missing)"),
        "{out:?}"
    );

    // A certificate with the wrong organization is reissued, and says so.
    let other = dir.join("kube/scheduler");
    std::fs::copy(dir.join("kube/admin.crt"), other.with_extension("crt")).unwrap();
    std::fs::copy(dir.join("kube/admin.key"), other.with_extension("key")).unwrap();
    let out = ensure(&dir, "lab", &vip, V).unwrap();
    assert!(
        out.iter().any(|o| o.to_string()
            == "kube/scheduler.crt: reissued (its subject is \"kubernetes-admin\", wanted \"system:kube-scheduler\")"),
        "{out:?}"
    );
}

#[test]
fn the_kubernetes_ca_is_never_replaced_silently() {
    let t = topo(None);
    let (_tmp, dir, _) = setup(&t);
    std::fs::remove_file(dir.join("kube/front-proxy-ca.key")).unwrap();
    let e = ensure(&dir, "lab", &t, V).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the front-proxy CA in {}: front-proxy-ca.crt exists but front-proxy-ca.key is missing; restore front-proxy-ca.key from your backup (a new CA would not be trusted by the hosts already installed)",
            dir.join("kube").display()
        )
    );
}
