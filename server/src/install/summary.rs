//! The install's closing summary (issue 6, step 15): where each installed service answers,
//! where the credentials, the CA and the kubeconfig are, and what to do next. Built from the
//! inventory's groups and the roles' default ports; returned as text (the CLI prints it).
//!
//! Must not: print, read a secret (only paths are shown), or claim what the install did not
//! do (no kubeconfig line pretends one exists).

use std::fmt::Write as _;
use std::path::Path;

/// One host of a group, as the summary names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub address: String,
}

/// What the summary is made from.
pub struct Facts<'a> {
    pub cluster: &'a str,
    pub config: &'a Path,
    pub pki_dir: &'a Path,
    pub secrets_dir: &'a Path,
    pub etcd: Vec<Host>,
    pub registry: Vec<(Host, u16)>,
    pub ci: Vec<Host>,
    pub monitoring: Vec<Host>,
    /// `repo:tag` of every bundle image.
    pub images: Vec<String>,
    /// A kubeconfig the install wrote, if any.
    pub kubeconfig: Option<&'a Path>,
}

pub fn render(f: &Facts) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\nSummary of cluster \"{}\":", f.cluster);
    for h in &f.etcd {
        let _ = writeln!(
            s,
            "  etcd           https://{}:2379  ({})",
            h.address, h.name
        );
    }
    for (h, port) in &f.registry {
        let _ = writeln!(
            s,
            "  registry       https://{}:{port}  ({}; {} images: {})",
            h.address,
            h.name,
            f.images.len(),
            f.images.join(", ")
        );
    }
    for h in &f.ci {
        let _ = writeln!(
            s,
            "  CI (buildbot)  http://{}:8010/  ({}; user admin)",
            h.address, h.name
        );
    }
    for h in &f.monitoring {
        let _ = writeln!(
            s,
            "  Prometheus     http://{}:9090/  ({})",
            h.address, h.name
        );
        let _ = writeln!(
            s,
            "  Alertmanager   http://{}:9093/  ({})",
            h.address, h.name
        );
    }
    let pki = f.pki_dir.display();
    let _ = writeln!(s, "  cluster CA     {pki}/ca.crt  (trusted by every host)");
    if !f.etcd.is_empty() {
        let _ = writeln!(
            s,
            "  etcd client    {pki}/etcd/client.crt, {pki}/etcd/client.key"
        );
    }
    if !f.ci.is_empty() {
        let _ = writeln!(
            s,
            "  CI passwords   {}/ci-admin-password (web/REST admin), ci-worker-password (0600; never printed)",
            f.secrets_dir.display()
        );
    }
    match f.kubeconfig {
        Some(k) => {
            let _ = writeln!(s, "  kubeconfig     {}", k.display());
        }
        None => {
            let _ = writeln!(
                s,
                "  kubeconfig     none: this install has no Kubernetes control plane yet"
            );
        }
    }
    let _ = writeln!(s, "Next steps:");
    if let Some((h, port)) = f.registry.first() {
        let _ = writeln!(
            s,
            "  - images: skopeo inspect --cert-dir DIR docker://{}:{port}/{}  (DIR holding {pki}/ca.crt)",
            h.address,
            f.images.first().map_or("REPO:TAG", String::as_str)
        );
    }
    if let Some(h) = f.monitoring.first() {
        let _ = writeln!(
            s,
            "  - alerts go to Alertmanager's default receiver (nowhere else): set alertmanager_receivers in {}'s vars",
            f.config.display()
        );
        let _ = writeln!(s, "  - targets: http://{}:9090/targets", h.address);
    }
    let _ = writeln!(
        s,
        "  - run `cairn install --config {}` again at any time: a healthy cluster reports changed=0",
        f.config.display()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_urls_and_paths_but_no_secret_and_no_pretended_kubeconfig() {
        let h = |n: &str, a: &str| Host {
            name: n.into(),
            address: a.into(),
        };
        let text = render(&Facts {
            cluster: "lab",
            config: Path::new("cluster.yaml"),
            pki_dir: Path::new("/var/lib/cairn/pki/lab"),
            secrets_dir: Path::new("/var/lib/cairn/secrets/lab"),
            etcd: vec![h("lab25", "10.213.0.35")],
            registry: vec![(h("lab25", "10.213.0.35"), 5000)],
            ci: vec![h("lab26", "10.213.0.36")],
            monitoring: vec![h("lab27", "10.213.0.37")],
            images: vec!["cairn/busybox:1.36".into()],
            kubeconfig: None,
        });
        for want in [
            "https://10.213.0.35:5000  (lab25; 1 images: cairn/busybox:1.36)",
            "http://10.213.0.36:8010/",
            "http://10.213.0.37:9090/",
            "http://10.213.0.37:9093/",
            "/var/lib/cairn/pki/lab/ca.crt",
            "/var/lib/cairn/secrets/lab/ci-admin-password",
            "kubeconfig     none",
            "skopeo inspect --cert-dir DIR docker://10.213.0.35:5000/cairn/busybox:1.36",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
    }
}
