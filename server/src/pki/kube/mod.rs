//! The Kubernetes part of the cluster's PKI, beside etcd's in `<state>/pki/<cluster>/`, laid
//! out for the `kube_master` and `kube_node` roles (kubeadm's names):
//!
//! ```text
//! kube/                                  0700
//!   ca.crt ca.key                        CN=kubernetes-ca (the cluster's Kubernetes CA)
//!   front-proxy-ca.crt front-proxy-ca.key
//!   apiserver.crt/.key                   serving; the service, masters, endpoint, loopback
//!   apiserver-kubelet-client.crt/.key    O=system:masters
//!   apiserver-etcd-client.crt/.key       issued by ../ca.crt, the etcd CA
//!   front-proxy-client.crt/.key          issued by front-proxy-ca
//!   sa.key sa.pub                        service-account token signing key pair
//!   encryption-config.yaml               0600: the secretbox key Secrets are encrypted with
//!   admin.crt/.key admin.conf            CN=kubernetes-admin, O=system:masters
//!   controller-manager.crt/.key controller-manager.conf
//!   scheduler.crt/.key scheduler.conf
//!   kube-proxy.crt/.key                  CN=system:kube-proxy, O=system:node-proxier
//!   nodes/<name>/                        0700, one per kube_master or kube_node host
//!     kubelet-client.crt/.key            CN=system:node:<name>, O=system:nodes
//!     kubelet.crt/.key                   the kubelet's serving certificate
//!     kubelet.conf kube-proxy.conf       kubeconfigs with this node's API server URL
//! ```
//!
//! Certificates are kept or reissued by the same rules as etcd's (`existing::judge`); the two
//! CAs are created once and never replaced silently; kubeconfigs (0600: they embed keys) are
//! rewritten only when their text would change (a reissued certificate, a moved endpoint).
//! Must not: connect to hosts or know the playbooks beyond this layout.

pub mod kubeconfig;
pub mod profile;

use super::profile::Wanted;
use super::{Action, Ca, Outcome, PkiError, Validity, files, issue_if_needed};
use base64::Engine;
use profile::Topology;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use std::path::Path;

/// Make sure every Kubernetes certificate, key pair and kubeconfig for `t` exists and is
/// good, under `dir/kube` (`dir` as for [`super::ensure`], whose cluster CA signs the
/// apiserver's etcd client certificate). One outcome per file, CAs first.
pub fn ensure(
    dir: &Path,
    cluster: &str,
    t: &Topology,
    validity: Validity,
) -> Result<Vec<Outcome>, PkiError> {
    files::private_dir(dir)?;
    let (etcd_ca, _) = Ca::load_or_create(dir, cluster, validity.ca_days)?;
    let k = dir.join("kube");
    files::private_dir(&k)?;
    let mut out = Vec::new();
    let mut note = |path: String, action: Action| out.push(Outcome { path, action });

    let (ca, a) = Ca::load_or_create_named(
        &k,
        "ca",
        "kubernetes-ca",
        "the Kubernetes CA",
        validity.ca_days,
    )?;
    note("kube/ca.crt".into(), a);
    let (fp_ca, a) = Ca::load_or_create_named(
        &k,
        "front-proxy-ca",
        "front-proxy-ca",
        "the front-proxy CA",
        validity.ca_days,
    )?;
    note("kube/front-proxy-ca.crt".into(), a);

    let shared: [(&Ca, &str, Wanted); 8] = [
        (&ca, "apiserver", profile::apiserver(t)),
        (
            &ca,
            "apiserver-kubelet-client",
            profile::apiserver_kubelet_client(),
        ),
        (
            &etcd_ca,
            "apiserver-etcd-client",
            profile::apiserver_etcd_client(),
        ),
        (&fp_ca, "front-proxy-client", profile::front_proxy_client()),
        (&ca, "admin", profile::admin()),
        (&ca, "controller-manager", profile::controller_manager()),
        (&ca, "scheduler", profile::scheduler()),
        (&ca, "kube-proxy", profile::kube_proxy()),
    ];
    for (issuer, stem, wanted) in &shared {
        let a = issue_if_needed(issuer, &k, stem, wanted, validity)?;
        note(format!("kube/{stem}.crt"), a);
    }
    note("kube/sa.pub".into(), service_account_keys(&k)?);
    note(
        "kube/encryption-config.yaml".into(),
        encryption_config(&k.join("encryption-config.yaml"))?,
    );

    let ca_pem = read(&k.join("ca.crt"))?;
    let local = profile::url("127.0.0.1", profile::API_PORT);
    for (stem, user, server) in [
        ("admin", "kubernetes-admin", t.admin_server()),
        (
            "controller-manager",
            "system:kube-controller-manager",
            local.clone(),
        ),
        ("scheduler", "system:kube-scheduler", local.clone()),
    ] {
        let a = write_kubeconfig(&k, stem, stem, cluster, &server, user, &ca_pem)?;
        note(format!("kube/{stem}.conf"), a);
    }

    let nodes = k.join("nodes");
    files::private_dir(&nodes)?;
    for m in &t.nodes {
        let nd = nodes.join(&m.name);
        files::private_dir(&nd)?;
        let a = issue_if_needed(
            &ca,
            &nd,
            "kubelet-client",
            &profile::kubelet_client(&m.name),
            validity,
        )?;
        note(format!("kube/nodes/{}/kubelet-client.crt", m.name), a);
        let a = issue_if_needed(&ca, &nd, "kubelet", &profile::kubelet_server(m), validity)?;
        note(format!("kube/nodes/{}/kubelet.crt", m.name), a);
        let server = t.node_server(&m.name);
        let user = format!("system:node:{}", m.name);
        let a = write_kubeconfig(
            &nd,
            "kubelet",
            "kubelet-client",
            cluster,
            &server,
            &user,
            &ca_pem,
        )?;
        note(format!("kube/nodes/{}/kubelet.conf", m.name), a);
        let a = write_kubeconfig_from(
            &nd.join("kube-proxy.conf"),
            &k.join("kube-proxy"),
            cluster,
            &server,
            "system:kube-proxy",
            &ca_pem,
        )?;
        note(format!("kube/nodes/{}/kube-proxy.conf", m.name), a);
    }
    Ok(out)
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(PkiError::io(path))
}

/// `dir/<conf>.conf` for the certificate pair `dir/<pair>.{crt,key}`.
fn write_kubeconfig(
    dir: &Path,
    conf: &str,
    pair: &str,
    cluster: &str,
    server: &str,
    user: &str,
    ca_pem: &str,
) -> Result<Action, PkiError> {
    write_kubeconfig_from(
        &dir.join(format!("{conf}.conf")),
        &dir.join(pair),
        cluster,
        server,
        user,
        ca_pem,
    )
}

/// Write the kubeconfig at `path` for the pair `<pair>.crt`/`<pair>.key`, unless it already
/// says exactly that.
fn write_kubeconfig_from(
    path: &Path,
    pair: &Path,
    cluster: &str,
    server: &str,
    user: &str,
    ca_pem: &str,
) -> Result<Action, PkiError> {
    let crt = pair.with_extension("crt");
    let key = pair.with_extension("key");
    let text = kubeconfig::render(cluster, server, user, ca_pem, &read(&crt)?, &read(&key)?);
    let action = match std::fs::read_to_string(path) {
        Ok(old) if old == text => return Ok(Action::Kept),
        Ok(_) => Action::Reissued("its server or credentials changed".into()),
        Err(_) => Action::Created,
    };
    files::write_private(path, text.as_bytes())?;
    Ok(action)
}

/// `sa.key` (PKCS#8) and `sa.pub` (SubjectPublicKeyInfo): the apiserver verifies service
/// account tokens with the public key, the controller-manager signs them with the private one.
/// Kept while the two belong together; a new pair invalidates every issued token, so it is
/// only made when one is missing or they do not match.
fn service_account_keys(k: &Path) -> Result<Action, PkiError> {
    let (key_path, pub_path) = (k.join("sa.key"), k.join("sa.pub"));
    let action = match (read(&key_path), read(&pub_path)) {
        (Ok(key), Ok(public)) => match KeyPair::from_pem(&key) {
            Ok(kp) if kp.public_key_pem() == public => return Ok(Action::Kept),
            Ok(_) => Action::Reissued("sa.pub does not belong to sa.key".into()),
            Err(_) => Action::Reissued("sa.key does not parse".into()),
        },
        (Err(_), Err(_)) => Action::Created,
        (Err(_), Ok(_)) => Action::Reissued("sa.key is missing".into()),
        (Ok(_), Err(_)) => Action::Reissued("sa.pub is missing".into()),
    };
    let kp = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Issue {
        what: key_path.display().to_string(),
        source,
    })?;
    files::write_private(&key_path, kp.serialize_pem().as_bytes())?;
    files::write_public(&pub_path, kp.public_key_pem().as_bytes())?;
    Ok(action)
}

/// The apiserver's `--encryption-provider-config`: Secrets encrypted at rest in etcd with
/// secretbox (Kubespray's default), a random 32-byte key from the kernel. Created once and
/// then kept as it is: a new key would leave every stored Secret unreadable (rotating it is
/// a deliberate, multi-step operation, not something an install does).
fn encryption_config(path: &Path) -> Result<Action, PkiError> {
    if path.exists() {
        return Ok(Action::Kept);
    }
    let mut key = [0u8; 32];
    {
        use std::io::Read;
        let urandom = Path::new("/dev/urandom");
        std::fs::File::open(urandom)
            .and_then(|mut f| f.read_exact(&mut key))
            .map_err(PkiError::io(urandom))?;
    }
    let secret = base64::engine::general_purpose::STANDARD.encode(key);
    let text = format!(
        "# Managed by Cairn: Secrets are encrypted in etcd with this key. Back it up with the\n\
         # rest of the PKI; without it the cluster's Secrets cannot be read.\n\
         apiVersion: apiserver.config.k8s.io/v1\n\
         kind: EncryptionConfiguration\n\
         resources:\n  \
         - resources: [secrets]\n    \
         providers:\n      \
         - secretbox:\n          \
         keys:\n            \
         - name: key1\n              \
         secret: {secret}\n      \
         - identity: {{}}\n"
    );
    files::write_private(path, text.as_bytes())?;
    Ok(Action::Created)
}

#[cfg(test)]
mod tests;
