//! Where the Kubernetes binaries come from, read off the verified bundle: its `files/` (the
//! release binaries, fetched by the roles with get_url and checked against the manifest's
//! sha256), its packages (EL's `kubernetes-master`/`kubernetes-node`), or nowhere. Nowhere is
//! an honest outcome, not an error: the kube roles then run in check mode and say so, and
//! `cairn install` repeats it in its summary.
//!
//! Must not: print, or decide anything about the roles beyond the variables it hands them.

use serde_json::{Map, Value, json};

/// The binaries the kube roles install from `files/` (masters: the first three and kubectl;
/// nodes: kubelet, kube-proxy, kubectl).
pub const FILES: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
];

/// The packages that carry them in an RPM bundle (Fedora/EPEL names).
pub const PACKAGES: &[&str] = &["kubernetes-master", "kubernetes-node", "kubernetes-client"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Every one of [`FILES`] is in the bundle's `files/`: name → sha256.
    Files(Vec<(String, String)>),
    /// Every one of [`PACKAGES`] is in the bundle's repository.
    Packages,
    /// Not all there; the names that are missing from `files/`.
    Missing(Vec<String>),
}

/// Decide from the bundle's `files/` entries (path under the bundle, sha256) and the names of
/// its packages.
pub fn detect<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
    packages: &[String],
) -> Source {
    let files: Vec<(&str, &str)> = files
        .into_iter()
        .filter_map(|(p, sha)| Some((p.strip_prefix("files/")?, sha)))
        .collect();
    let found: Vec<(String, String)> = FILES
        .iter()
        .filter_map(|n| {
            files
                .iter()
                .find(|(p, _)| p == n)
                .map(|(_, sha)| (n.to_string(), sha.to_string()))
        })
        .collect();
    if found.len() == FILES.len() {
        return Source::Files(found);
    }
    if PACKAGES.iter().all(|p| packages.iter().any(|q| q == p)) {
        return Source::Packages;
    }
    Source::Missing(
        FILES
            .iter()
            .filter(|n| !found.iter().any(|(f, _)| f == *n))
            .map(|n| n.to_string())
            .collect(),
    )
}

impl Source {
    /// `cairn_kube_binaries` (`"files"`, `"packages"` or `false`) and `cairn_kube_files`
    /// (name → sha256, empty unless from files).
    pub fn vars(&self) -> Map<String, Value> {
        let (how, files) = match self {
            Source::Files(f) => (
                json!("files"),
                f.iter()
                    .map(|(n, s)| (n.clone(), Value::String(s.clone())))
                    .collect(),
            ),
            Source::Packages => (json!("packages"), Map::new()),
            Source::Missing(_) => (json!(false), Map::new()),
        };
        let mut m = Map::new();
        m.insert("cairn_kube_binaries".into(), how);
        m.insert("cairn_kube_files".into(), Value::Object(files));
        m
    }

    /// The install summary's line about the kube steps.
    pub fn summary(&self) -> String {
        match self {
            Source::Files(_) => {
                "kube: binaries from the bundle's files/ (sha256 checked on each host)".into()
            }
            Source::Packages => "kube: binaries from the bundle's packages".into(),
            Source::Missing(names) => format!(
                "kube binaries not in the bundle: kube steps checked, not applied (missing from files/: {})",
                names.join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(n: &str) -> String {
        format!("{:0>64}", n.len())
    }

    #[test]
    fn all_files_present_are_used_with_their_digests() {
        let entries: Vec<(String, String)> = FILES
            .iter()
            .map(|n| (format!("files/{n}"), sha(n)))
            .chain([("files/other".to_string(), sha("x"))])
            .collect();
        let s = detect(entries.iter().map(|(p, s)| (p.as_str(), s.as_str())), &[]);
        let Source::Files(f) = &s else {
            panic!("{s:?}")
        };
        assert_eq!(f.len(), 6);
        let v = s.vars();
        assert_eq!(v["cairn_kube_binaries"], "files");
        assert_eq!(v["cairn_kube_files"]["kubelet"], sha("kubelet"));
    }

    #[test]
    fn packages_then_missing_names_what_is_absent() {
        let entries = [("files/kubelet", "aa"), ("images/x", "bb")];
        let pk: Vec<String> = PACKAGES.iter().map(|s| s.to_string()).collect();
        assert_eq!(detect(entries, &pk), Source::Packages);
        assert_eq!(
            detect(entries, &pk).vars()["cairn_kube_binaries"],
            "packages"
        );
        let s = detect(entries, &pk[..2]);
        assert_eq!(
            s.summary(),
            "kube binaries not in the bundle: kube steps checked, not applied (missing from files/: kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, kubectl)"
        );
        assert_eq!(s.vars()["cairn_kube_binaries"], false);
        assert!(s.vars()["cairn_kube_files"].as_object().unwrap().is_empty());
    }
}
