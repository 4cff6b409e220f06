//! cluster.yaml's `versions:` against what the bundle carries: each pinned component must be
//! in the bundle (as one of its package names, `install_settings::COMPONENTS`) at a matching
//! version. A version matches a package's upstream version (epoch and Debian/RPM release
//! left out) exactly or as a prefix at a dot: `3.4` and `3.4.23` both match `3.4.23-4+b6`.
//!
//! Must not: read the bundle file (the caller hands over the package list).

use cairn_engine::inventory::install_settings::{COMPONENTS, PinnedVersion};

/// A package in the bundle: name and full version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
}

/// The packages of a Debian `Packages` index.
pub fn from_deb_index(packages: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for stanza in packages.split("\n\n") {
        let field = |k: &str| {
            stanza.lines().find_map(|l| {
                l.strip_prefix(k)?
                    .strip_prefix(':')
                    .map(|v| v.trim().to_string())
            })
        };
        if let (Some(name), Some(version)) = (field("Package"), field("Version")) {
            out.push(Package { name, version });
        }
    }
    out
}

/// The package of an RPM file name (`etcd-3.5.17-1.el9.x86_64.rpm`).
pub fn from_rpm_path(path: &str) -> Option<Package> {
    let file = path.rsplit('/').next()?.strip_suffix(".rpm")?;
    let (nvr, _arch) = file.rsplit_once('.')?;
    let mut parts = nvr.rsplitn(3, '-');
    let release = parts.next()?;
    let version = parts.next()?;
    let name = parts.next()?;
    Some(Package {
        name: name.into(),
        version: format!("{version}-{release}"),
    })
}

/// The upstream part: no `epoch:`, no `-release`.
fn upstream(v: &str) -> &str {
    let v = v.split_once(':').map_or(v, |(_, rest)| rest);
    v.rsplit_once('-').map_or(v, |(up, _)| up)
}

pub fn matches(wanted: &str, package_version: &str) -> bool {
    let up = upstream(package_version);
    package_version == wanted
        || up == wanted
        || up
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Why one pinned version does not fit the bundle; the message names both sides.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    pub pinned: PinnedVersion,
    pub message: String,
    pub help: String,
}

pub fn check(pinned: &[PinnedVersion], packages: &[Package], bundle: &str) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for p in pinned {
        let names = COMPONENTS
            .iter()
            .find(|(c, _)| *c == p.component)
            .map_or(&[][..], |(_, n)| *n);
        let found: Vec<&Package> = packages
            .iter()
            .filter(|pkg| names.contains(&pkg.name.as_str()))
            .collect();
        if found.is_empty() {
            out.push(Mismatch {
                pinned: p.clone(),
                message: format!(
                    "versions.{} is \"{}\", but the bundle {bundle} carries no {} (no package named {})",
                    p.component,
                    p.version,
                    p.component,
                    names.join(" or ")
                ),
                help: format!(
                    "build a bundle that includes {}, or remove versions.{}",
                    p.component, p.component
                ),
            });
        } else if !found.iter().any(|pkg| matches(&p.version, &pkg.version)) {
            let have: Vec<String> = found
                .iter()
                .map(|pkg| format!("{} {}", pkg.name, pkg.version))
                .collect();
            out.push(Mismatch {
                pinned: p.clone(),
                message: format!(
                    "versions.{} is \"{}\", but the bundle {bundle} carries {}",
                    p.component,
                    p.version,
                    have.join(", ")
                ),
                help: format!(
                    "set versions.{} to \"{}\" (what the bundle carries), or use a bundle with {} {}",
                    p.component,
                    upstream(&found[0].version),
                    p.component,
                    p.version
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_engine::inventory::Span;

    fn pin(c: &str, v: &str) -> PinnedVersion {
        PinnedVersion {
            component: c.into(),
            version: v.into(),
            span: Span::default(),
        }
    }

    #[test]
    fn versions_match_on_the_upstream_part() {
        let cases: &[(&str, &str, bool)] = &[
            ("3.4.23", "3.4.23-4+b6", true),
            ("3.4", "3.4.23-4+b6", true),
            ("3.4.2", "3.4.23-4+b6", false),
            ("3.4.23-4+b6", "3.4.23-4+b6", true),
            ("2.45.3", "1:2.45.3+ds-1", false),
            ("2.45.3+ds", "1:2.45.3+ds-1", true),
            ("3.5.17", "3.5.17-1.el9", true),
            ("3.5", "3.4.23-4", false),
        ];
        for (want, have, ok) in cases {
            assert_eq!(matches(want, have), *ok, "{want} vs {have}");
        }
    }

    #[test]
    fn packages_from_indexes_and_rpm_names() {
        let idx = "Package: etcd-server\nVersion: 3.4.23-4+b6\nArchitecture: amd64\n\nPackage: chrony\nVersion: 4.3-2+deb12u1\n";
        assert_eq!(
            from_deb_index(idx),
            [
                Package {
                    name: "etcd-server".into(),
                    version: "3.4.23-4+b6".into()
                },
                Package {
                    name: "chrony".into(),
                    version: "4.3-2+deb12u1".into()
                },
            ]
        );
        assert_eq!(
            from_rpm_path("rpms/etcd-3.5.17-1.el9.x86_64.rpm"),
            Some(Package {
                name: "etcd".into(),
                version: "3.5.17-1.el9".into()
            })
        );
        assert_eq!(from_rpm_path("rpms/repodata/repomd.xml"), None);
    }

    #[test]
    fn mismatches_name_both_sides() {
        let pkgs = vec![Package {
            name: "etcd-server".into(),
            version: "3.4.23-4+b6".into(),
        }];
        assert!(check(&[pin("etcd", "3.4.23")], &pkgs, "lab-0.1.0").is_empty());
        let m = check(
            &[pin("etcd", "3.5.0"), pin("prometheus", "2.45")],
            &pkgs,
            "lab-0.1.0",
        );
        assert_eq!(
            m.iter()
                .map(|m| (m.message.as_str(), m.help.as_str()))
                .collect::<Vec<_>>(),
            [
                (
                    "versions.etcd is \"3.5.0\", but the bundle lab-0.1.0 carries etcd-server 3.4.23-4+b6",
                    "set versions.etcd to \"3.4.23\" (what the bundle carries), or use a bundle with etcd 3.5.0"
                ),
                (
                    "versions.prometheus is \"2.45\", but the bundle lab-0.1.0 carries no prometheus (no package named prometheus)",
                    "build a bundle that includes prometheus, or remove versions.prometheus"
                ),
            ]
        );
    }
}
