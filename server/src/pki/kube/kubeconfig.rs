//! A kubeconfig as kubeadm writes them (`/etc/kubernetes/admin.conf` and friends): one
//! cluster (the CA and the server URL), one user (client certificate and key), one context,
//! everything embedded as base64 `*-data` so the file stands alone on any host.
//! Must not: decide which certificate or server a component uses (`mod.rs` does).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

/// The YAML text of a kubeconfig for `user` of `cluster` at `server`, with the PEM texts of
/// the CA, the client certificate and its key.
pub fn render(
    cluster: &str,
    server: &str,
    user: &str,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> String {
    let context = format!("{user}@{cluster}");
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": cluster,
            "cluster": {
                "certificate-authority-data": STANDARD.encode(ca_pem),
                "server": server,
            },
        }],
        "contexts": [{
            "name": context,
            "context": {"cluster": cluster, "user": user},
        }],
        "current-context": context,
        "preferences": {},
        "users": [{
            "name": user,
            "user": {
                "client-certificate-data": STANDARD.encode(cert_pem),
                "client-key-data": STANDARD.encode(key_pem),
            },
        }],
    });
    serde_yaml::to_string(&doc).expect("a JSON value always serializes as YAML")
}
