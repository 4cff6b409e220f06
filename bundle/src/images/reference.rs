//! Names in the OCI distribution spec: repository names, tags, digests; and the image sources a
//! spec may name (`oci:DIR[:TAG]`, `docker-archive:FILE[:REPO:TAG]`, `docker://HOST/REPO:TAG`).
//!
//! Owns: the grammar (distribution spec "Pulling manifests": `<name>` is
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, a tag is
//! `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`), used both by the spec and by the registry's router.
//! Must not: touch files or the network.

use std::path::PathBuf;

/// Why `name` is not a repository name, or `None`.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty repository name");
    }
    if name.len() > 255 {
        return Some("repository name longer than 255 characters");
    }
    for comp in name.split('/') {
        if comp.is_empty() {
            return Some("empty path component in a repository name");
        }
        let b = comp.as_bytes();
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return Some("each component starts and ends with a-z or 0-9");
        }
        // Separators: `.`, `_`, `__`, or one or more `-`, between alphanumerics.
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &comp[start..i];
            let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-');
            if !ok {
                return Some("only a-z 0-9 and the separators . _ __ - may appear");
            }
        }
    }
    None
}

/// Why `tag` is not a tag, or `None`.
pub fn tag_problem(tag: &str) -> Option<&'static str> {
    let b = tag.as_bytes();
    if b.is_empty() || b.len() > 128 {
        return Some("a tag has 1 to 128 characters");
    }
    if !(b[0].is_ascii_alphanumeric() || b[0] == b'_') {
        return Some("a tag starts with A-Z a-z 0-9 or _");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
    {
        return Some("a tag holds only A-Z a-z 0-9 . _ -");
    }
    None
}

/// The hex of a `sha256:<64 lowercase hex>` digest, or `None` for anything else (other
/// algorithms are refused: the bundle is content-addressed by sha256 only).
pub fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(hex)
}

/// Whether `s` has the shape `algorithm:encoded` of the OCI digest grammar (so a malformed
/// one is `DIGEST_INVALID` rather than taken for a tag).
pub fn looks_like_digest(s: &str) -> bool {
    s.contains(':')
}

/// `repo:tag` split at the last `:` that follows the last `/` (a registry port is not a tag).
pub fn split_tag(s: &str) -> (&str, Option<&str>) {
    let slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[slash..].rfind(':') {
        Some(i) => (&s[..slash + i], Some(&s[slash + i + 1..])),
        None => (s, None),
    }
}

/// Where an image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An OCI image layout directory; `tag` selects by `org.opencontainers.image.ref.name`
    /// (needed when `index.json` lists more than one manifest).
    Oci { dir: PathBuf, tag: Option<String> },
    /// `docker save` / `skopeo copy … docker-archive:` output; `image` (`repo:tag`) selects one
    /// of its `RepoTags` when it holds several images.
    DockerArchive {
        file: PathBuf,
        image: Option<String>,
    },
    /// A registry, pulled by Cairn's client at build time.
    Registry(RegistryRef),
}

/// `docker://HOST[:PORT]/REPO(:TAG|@sha256:…)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryRef {
    pub host: String,
    pub repository: String,
    /// A tag or a `sha256:` digest.
    pub reference: String,
}

impl std::fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.reference.contains(':') {
            '@'
        } else {
            ':'
        };
        write!(
            f,
            "docker://{}/{}{sep}{}",
            self.host, self.repository, self.reference
        )
    }
}

/// Parses an image source as written in a spec.
pub fn parse_source(s: &str) -> Result<Source, String> {
    if let Some(rest) = s.strip_prefix("oci:") {
        let (dir, tag) = split_tag(rest);
        if dir.is_empty() {
            return Err(format!(
                "{s:?}: oci: needs a directory, e.g. oci:images/busybox:1.36"
            ));
        }
        if let Some(t) = tag
            && let Some(p) = tag_problem(t)
        {
            return Err(format!("{s:?}: tag {t:?}: {p}"));
        }
        return Ok(Source::Oci {
            dir: dir.into(),
            tag: tag.map(str::to_string),
        });
    }
    if let Some(rest) = s.strip_prefix("docker-archive:") {
        // FILE[:REPO:TAG]: the file ends at the first `:` (as skopeo reads it).
        let (file, image) = match rest.split_once(':') {
            Some((f, i)) => (f, Some(i.to_string())),
            None => (rest, None),
        };
        if file.is_empty() {
            return Err(format!(
                "{s:?}: docker-archive: needs a file, e.g. docker-archive:busybox.tar"
            ));
        }
        return Ok(Source::DockerArchive {
            file: file.into(),
            image,
        });
    }
    if let Some(rest) = s.strip_prefix("docker://") {
        let bad = |why: &str| {
            Err(format!(
                "{s:?}: {why}: write docker://HOST/REPOSITORY:TAG (or @sha256:DIGEST), e.g. docker://registry.k8s.io/pause:3.9"
            ))
        };
        let Some((host, path)) = rest.split_once('/') else {
            return bad("no registry host");
        };
        if !host.contains(['.', ':']) && host != "localhost" {
            return bad("the first component must be a registry host (with a dot or a port)");
        }
        let (repo, reference) = match path.split_once('@') {
            Some((r, d)) => {
                if sha256_hex(d).is_none() {
                    return bad("the digest is not sha256:<64 lowercase hex>");
                }
                (r, d.to_string())
            }
            None => match split_tag(path) {
                (r, Some(t)) => {
                    if let Some(p) = tag_problem(t) {
                        return bad(p);
                    }
                    (r, t.to_string())
                }
                (_, None) => return bad("no tag"),
            },
        };
        if let Some(p) = name_problem(repo) {
            return bad(p);
        }
        return Ok(Source::Registry(RegistryRef {
            host: host.to_string(),
            repository: repo.to_string(),
            reference,
        }));
    }
    Err(format!(
        "{s:?} is not an image source: use oci:DIR[:TAG], docker-archive:FILE[:REPO:TAG] or docker://HOST/REPO:TAG"
    ))
}

/// Checks `repo:tag`, the name an image gets in the bundle's registry.
pub fn check_image_name(s: &str) -> Result<(), String> {
    match split_tag(s) {
        (repo, Some(tag)) => {
            if let Some(p) = name_problem(repo) {
                return Err(format!("{s:?}: repository {repo:?}: {p}"));
            }
            if let Some(p) = tag_problem(tag) {
                return Err(format!("{s:?}: tag {tag:?}: {p}"));
            }
            Ok(())
        }
        (_, None) => Err(format!(
            "{s:?} has no tag: write REPOSITORY:TAG, e.g. cairn/busybox:1.36"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "a",
            "library/busybox",
            "a.b_c__d---e/f0",
            "k8s/pause",
            "x/y/z",
        ] {
            assert_eq!(name_problem(ok), None, "{ok}");
        }
        for bad in [
            "", "A", "a//b", "/a", "a/", "-a", "a-", "a..b", "a___b", "a/../b", "a/./b", "a b",
            "a%2fb",
        ] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn tags_and_digests() {
        for ok in ["1.36", "latest", "_x", "A-b.c_d"] {
            assert_eq!(tag_problem(ok), None, "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"a".repeat(129)] {
            assert!(tag_problem(bad).is_some(), "{bad}");
        }
        let hex = "a".repeat(64);
        assert_eq!(sha256_hex(&format!("sha256:{hex}")), Some(hex.as_str()));
        for bad in [
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha512:{hex}"),
            hex.clone(),
        ] {
            assert_eq!(sha256_hex(&bad), None, "{bad}");
        }
    }

    #[test]
    fn sources() {
        let oci = |d: &str, t: Option<&str>| Source::Oci {
            dir: d.into(),
            tag: t.map(Into::into),
        };
        for (s, want) in [
            ("oci:img", Ok(oci("img", None))),
            ("oci:img:1.0", Ok(oci("img", Some("1.0")))),
            ("oci:/a/b:c/d", Ok(oci("/a/b:c/d", None))),
            (
                "docker-archive:b.tar",
                Ok(Source::DockerArchive {
                    file: "b.tar".into(),
                    image: None,
                }),
            ),
            (
                "docker-archive:b.tar:x/y:1",
                Ok(Source::DockerArchive {
                    file: "b.tar".into(),
                    image: Some("x/y:1".into()),
                }),
            ),
            (
                "docker://127.0.0.1:5000/a/b:1",
                Ok(Source::Registry(RegistryRef {
                    host: "127.0.0.1:5000".into(),
                    repository: "a/b".into(),
                    reference: "1".into(),
                })),
            ),
        ] {
            assert_eq!(parse_source(s), want, "{s}");
        }
        assert_eq!(
            parse_source("busybox:1").unwrap_err(),
            "\"busybox:1\" is not an image source: use oci:DIR[:TAG], \
             docker-archive:FILE[:REPO:TAG] or docker://HOST/REPO:TAG"
        );
        assert_eq!(
            parse_source("docker://busybox:1").unwrap_err(),
            "\"docker://busybox:1\": no registry host: write docker://HOST/REPOSITORY:TAG (or \
             @sha256:DIGEST), e.g. docker://registry.k8s.io/pause:3.9"
        );
        let r = parse_source(&format!("docker://r.io/p@sha256:{}", "0".repeat(64))).unwrap();
        assert_eq!(
            match r {
                Source::Registry(r) => r.to_string(),
                _ => unreachable!(),
            },
            format!("docker://r.io/p@sha256:{}", "0".repeat(64))
        );
        assert_eq!(check_image_name("cairn/busybox:1.36"), Ok(()));
        assert_eq!(
            check_image_name("cairn/busybox").unwrap_err(),
            "\"cairn/busybox\" has no tag: write REPOSITORY:TAG, e.g. cairn/busybox:1.36"
        );
    }
}
