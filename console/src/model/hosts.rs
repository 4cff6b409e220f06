//! How a host's authentication reads in the Hosts table: the key path, the pasted key's
//! fingerprint (never the key: the API does not have a field for it), and what to give again
//! when the server forgot a secret at a restart.
//! Must not: touch the DOM or the network.

use cairn_protocol::api::HostView;

/// The "Auth" cell of a host's row.
pub fn auth_label(h: &HostView) -> String {
    let mut s = match (h.auth_kind.as_str(), &h.key_path, &h.key_fingerprint) {
        ("key_path", Some(p), _) => format!("key {p}"),
        ("key", _, Some(fp)) => format!("pasted key {fp}"),
        ("key", _, None) => "pasted key".to_string(),
        (k, _, _) => k.replace('_', " "),
    };
    if h.secret_missing {
        s.push_str(if h.auth_kind == "key" {
            " (key lost at restart: remove the host and paste the key again)"
        } else {
            " (secret lost at restart: add again)"
        });
    }
    if h.r#become {
        s.push_str(", sudo");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(kind: &str) -> HostView {
        HostView {
            id: "lab57".into(),
            address: "10.0.0.57".into(),
            port: 22,
            user: "root".into(),
            auth_kind: kind.into(),
            key_path: None,
            key_fingerprint: None,
            secret_held: true,
            secret_missing: false,
            r#become: false,
            trust: "trusted".into(),
            fingerprint: None,
            key_type: None,
            scan_error: None,
        }
    }

    #[test]
    fn a_pasted_key_shows_by_its_fingerprint_and_asks_again_after_a_restart() {
        let mut h = host("key");
        h.key_fingerprint = Some("SHA256:abc".into());
        assert_eq!(auth_label(&h), "pasted key SHA256:abc");
        h.secret_missing = true;
        h.secret_held = false;
        h.r#become = true;
        assert_eq!(
            auth_label(&h),
            "pasted key SHA256:abc (key lost at restart: remove the host and paste the key again), sudo"
        );
    }

    #[test]
    fn other_kinds() {
        let mut h = host("key_path");
        h.key_path = Some("/root/.ssh/id".into());
        assert_eq!(auth_label(&h), "key /root/.ssh/id");
        let mut h = host("password");
        h.secret_missing = true;
        assert_eq!(
            auth_label(&h),
            "password (secret lost at restart: add again)"
        );
        assert_eq!(auth_label(&host("password_env")), "password env");
    }
}
