//! The PKI read back: x509-parser for names, usages and validity, `openssl verify` for the
//! chain (an independent implementation), file modes, idempotence and the CA's refusals.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use x509_parser::parse_x509_certificate;

fn members() -> Vec<Member> {
    vec![
        Member {
            name: "lab63".into(),
            address: "10.213.0.73".into(),
        },
        Member {
            name: "etcd-b.example".into(),
            address: "etcd-b.example.com".into(),
        },
    ]
}

const V: Validity = Validity {
    leaf_days: 100,
    ca_days: 1000,
};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn read_cert(p: &Path) -> Vec<u8> {
    existing::parse_pem(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn issues_the_layout_with_modes_names_usages_and_a_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = cluster_dir(tmp.path(), "lab");
    let out = ensure(&dir, "lab", &members(), V).unwrap();
    let shown: Vec<String> = out.iter().map(|o| o.to_string()).collect();
    assert_eq!(
        shown,
        [
            "ca.crt: created",
            "etcd/lab63/server.crt: created",
            "etcd/lab63/peer.crt: created",
            "etcd/etcd-b.example/server.crt: created",
            "etcd/etcd-b.example/peer.crt: created",
            "etcd/client.crt: created",
        ]
    );
    for d in ["", "etcd", "etcd/lab63", "etcd/etcd-b.example"] {
        assert_eq!(mode(&dir.join(d)), 0o700, "{d}");
    }
    for k in [
        "ca.key",
        "etcd/lab63/server.key",
        "etcd/lab63/peer.key",
        "etcd/client.key",
    ] {
        assert_eq!(mode(&dir.join(k)), 0o600, "{k}");
        let pem = std::fs::read_to_string(dir.join(k)).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{k}");
    }
    assert_eq!(mode(&dir.join("ca.crt")), 0o644);

    // The CA.
    let ca_der = read_cert(&dir.join("ca.crt"));
    let (_, ca) = parse_x509_certificate(&ca_der).unwrap();
    assert!(ca.is_ca());
    assert_eq!(ca.subject().to_string(), "CN=lab cluster CA, O=cairn");
    let ku = ca.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    let ca_days = ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp();
    assert_eq!(ca_days, 1000 * 86_400 + 3600);
    assert_eq!(
        ca.public_key().algorithm.algorithm.to_id_string(),
        "1.2.840.10045.2.1",
        "an EC key"
    );

    // A member's server certificate.
    let der = read_cert(&dir.join("etcd/lab63/server.crt"));
    let (_, c) = parse_x509_certificate(&der).unwrap();
    assert!(!c.is_ca());
    assert_eq!(c.issuer(), ca.subject());
    c.verify_signature(Some(ca.public_key())).unwrap();
    assert_eq!(
        existing::sans_of(&c),
        [
            profile::San::Dns("lab63".into()),
            profile::San::Dns("localhost".into()),
            profile::San::Ip("10.213.0.73".parse().unwrap()),
            profile::San::Ip("127.0.0.1".parse().unwrap()),
        ]
    );
    let ku = c.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && !ku.key_cert_sign());
    let eku = c.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    let days = c.validity().not_after.timestamp() - c.validity().not_before.timestamp();
    assert_eq!(days, 100 * 86_400 + 3600);

    // A DNS address becomes a DNS name.
    let b_der = read_cert(&dir.join("etcd/etcd-b.example/peer.crt"));
    let (_, b) = parse_x509_certificate(&b_der).unwrap();
    assert!(existing::sans_of(&b).contains(&profile::San::Dns("etcd-b.example.com".into())));

    // The client certificate: client only, no names.
    let cl_der = read_cert(&dir.join("etcd/client.crt"));
    let (_, cl) = parse_x509_certificate(&cl_der).unwrap();
    let eku = cl.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert!(existing::sans_of(&cl).is_empty());

    // The chain, by OpenSSL, with the purposes etcd uses.
    for (crt, purpose) in [
        ("etcd/lab63/server.crt", "sslserver"),
        ("etcd/lab63/peer.crt", "sslclient"),
        ("etcd/client.crt", "sslclient"),
    ] {
        let o = Command::new("openssl")
            .args(["verify", "-purpose", purpose, "-CAfile"])
            .arg(dir.join("ca.crt"))
            .arg(dir.join(crt))
            .output()
            .expect("openssl on the controller");
        assert!(
            o.status.success(),
            "{crt}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn a_second_run_keeps_everything_and_an_address_change_reissues_that_host() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = cluster_dir(tmp.path(), "lab");
    ensure(&dir, "lab", &members(), V).unwrap();
    let before = std::fs::read(dir.join("etcd/lab63/server.crt")).unwrap();
    let again = ensure(&dir, "lab", &members(), V).unwrap();
    assert!(again.iter().all(|o| o.action == Action::Kept), "{again:?}");
    assert_eq!(
        std::fs::read(dir.join("etcd/lab63/server.crt")).unwrap(),
        before
    );

    let mut moved = members();
    moved[0].address = "10.213.0.99".into();
    let out = ensure(&dir, "lab", &moved, V).unwrap();
    let shown: Vec<String> = out.iter().map(|o| o.to_string()).collect();
    assert_eq!(
        shown,
        [
            "ca.crt: kept",
            "etcd/lab63/server.crt: reissued (its names are [lab63, localhost, 10.213.0.73, 127.0.0.1], wanted [lab63, localhost, 10.213.0.99, 127.0.0.1])",
            "etcd/lab63/peer.crt: reissued (its names are [lab63, localhost, 10.213.0.73, 127.0.0.1], wanted [lab63, localhost, 10.213.0.99, 127.0.0.1])",
            "etcd/etcd-b.example/server.crt: kept",
            "etcd/etcd-b.example/peer.crt: kept",
            "etcd/client.crt: kept",
        ]
    );

    // A deleted key: that pair is reissued.
    std::fs::remove_file(dir.join("etcd/client.key")).unwrap();
    let out = ensure(&dir, "lab", &moved, V).unwrap();
    assert_eq!(
        out[5].to_string(),
        "etcd/client.crt: reissued (its key is missing)"
    );

    // A certificate in its last tenth of life is renewed.
    let short = Validity {
        leaf_days: 100,
        ca_days: 1000,
    };
    assert_eq!(short.renew_before().as_secs(), 10 * 86_400);
}

#[test]
fn a_certificate_from_another_ca_is_reissued() {
    let tmp = tempfile::tempdir().unwrap();
    let a = cluster_dir(tmp.path(), "a");
    let b = cluster_dir(tmp.path(), "b");
    ensure(&a, "a", &members(), V).unwrap();
    ensure(&b, "b", &members(), V).unwrap();
    std::fs::copy(b.join("etcd/client.crt"), a.join("etcd/client.crt")).unwrap();
    std::fs::copy(b.join("etcd/client.key"), a.join("etcd/client.key")).unwrap();
    let out = ensure(&a, "a", &members(), V).unwrap();
    assert_eq!(
        out[5].to_string(),
        "etcd/client.crt: reissued (not issued by the current CA)"
    );
}

#[test]
fn the_ca_is_never_replaced_silently() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = cluster_dir(tmp.path(), "lab");
    ensure(&dir, "lab", &members(), V).unwrap();
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    std::fs::rename(dir.join("ca.key"), tmp.path().join("ca.key")).unwrap();
    let e = ensure(&dir, "lab", &members(), V).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the cluster CA in {}: ca.crt exists but ca.key is missing; restore ca.key from your backup (a new CA would not be trusted by the hosts already installed)",
            dir.display()
        )
    );
    assert_eq!(std::fs::read(dir.join("ca.crt")).unwrap(), ca);

    // Another CA's key next to this certificate.
    let other = cluster_dir(tmp.path(), "other");
    ensure(&other, "other", &[], V).unwrap();
    std::fs::copy(other.join("ca.key"), dir.join("ca.key")).unwrap();
    let e = ensure(&dir, "lab", &members(), V).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the cluster CA in {}: ca.key does not belong to ca.crt; restore the CA from your backup; to start a new PKI deliberately, move the directory away (every host must then be re-installed)",
            dir.display()
        )
    );

    std::fs::remove_file(dir.join("ca.crt")).unwrap();
    let e = ensure(&dir, "lab", &members(), V).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("ca.key exists but ca.crt is missing; restore ca.crt from your backup, or remove ca.key to create a new CA deliberately"),
        "{e}"
    );
}

#[test]
fn registry_certificates_are_server_only_with_host_names_and_kept_on_a_second_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = cluster_dir(tmp.path(), "lab");
    ensure(&dir, "lab", &members(), V).unwrap();
    let reg = [Member {
        name: "lab25".into(),
        address: "10.213.0.35".into(),
    }];
    let out = ensure_registry(&dir, "lab", &reg, V).unwrap();
    let shown: Vec<String> = out.iter().map(|o| o.to_string()).collect();
    assert_eq!(shown, ["registry/lab25/server.crt: created"]);
    assert_eq!(mode(&dir.join("registry/lab25")), 0o700);
    assert_eq!(mode(&dir.join("registry/lab25/server.key")), 0o600);
    let der = read_cert(&dir.join("registry/lab25/server.crt"));
    let (_, c) = parse_x509_certificate(&der).unwrap();
    assert_eq!(
        existing::sans_of(&c),
        [
            profile::San::Dns("lab25".into()),
            profile::San::Dns("localhost".into()),
            profile::San::Ip("10.213.0.35".parse().unwrap()),
            profile::San::Ip("127.0.0.1".parse().unwrap()),
        ]
    );
    let eku = c.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
    let o = Command::new("openssl")
        .args(["verify", "-purpose", "sslserver", "-CAfile"])
        .arg(dir.join("ca.crt"))
        .arg(dir.join("registry/lab25/server.crt"))
        .output()
        .expect("openssl on the controller");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The same CA as etcd's, and kept the second time.
    let again = ensure_registry(&dir, "lab", &reg, V).unwrap();
    assert_eq!(again[0].action, Action::Kept);
    let moved = [Member {
        name: "lab25".into(),
        address: "10.213.0.99".into(),
    }];
    let out = ensure_registry(&dir, "lab", &moved, V).unwrap();
    assert!(matches!(out[0].action, Action::Reissued(_)), "{:?}", out[0]);
}
