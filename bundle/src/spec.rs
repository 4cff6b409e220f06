//! The bundle spec (`lab.yaml`, `el9.yaml`): what goes into a bundle, as the operator writes it.
//!
//! Owns: the YAML schema (`apiVersion: cairn/v1`, `kind: Bundle`), its validation, and error
//! messages that point at `file:line:column` with a hint. Values are validated while they are
//! deserialized (newtypes with `try_from`), so serde_yaml attaches the position of the bad value.
//!
//! Must not: touch the network, run tools, or read the files the spec names (the writer does).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// A spec that parsed and validated, with the directory its relative paths are relative to.
#[derive(Clone, Debug)]
pub struct LoadedSpec {
    pub spec: Spec,
    /// The spec file, as given.
    pub file: PathBuf,
    /// The directory holding the spec file: relative paths in the spec start here.
    pub dir: PathBuf,
}

impl LoadedSpec {
    /// `p` made relative to the spec's directory (absolute paths stay as they are).
    pub fn resolve(&self, p: &Path) -> PathBuf {
        self.dir.join(p)
    }

    /// The playbooks directory: the one the spec names, else `../playbooks` (the repository's
    /// `playbooks/` when the spec sits in `bundle/`). `explicit` says whether the spec named it:
    /// a named directory must exist, the default may be absent.
    pub fn playbooks_dir(&self) -> (PathBuf, bool) {
        match &self.spec.playbooks {
            Some(p) => (self.resolve(p), true),
            None => (self.dir.join("../playbooks"), false),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    pub kind: Kind,
    pub name: Name,
    pub version: Version,
    #[serde(default)]
    pub platforms: Vec<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debs: Option<Debs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpms: Option<Rpms>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// Container images, served by `cairn serve` as a read-only registry.
    #[serde(default)]
    pub images: Vec<ImageSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbooks: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Debs {
    /// The Debian suite the packages are for (`bookworm`); must match the build machine's apt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// Package names, resolved with their dependencies on a connected build machine.
    #[serde(default)]
    pub packages: Vec<PackageName>,
    /// dpkg status file of the target base system: what it has needs not be bundled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_status: Option<PathBuf>,
    /// Directories of ready `.deb` files, taken as they are (not recursive).
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rpms {
    /// Directories of ready `.rpm` files, taken as they are (not recursive).
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// Single local `.rpm` files. URLs go under `urls` (they need a sha256).
    #[serde(default)]
    pub files: Vec<RpmFile>,
    /// `.rpm` files downloaded at build time (http or https), each checked against its sha256.
    #[serde(default)]
    pub urls: Vec<RpmUrl>,
}

/// One RPM to download: the URL's last path segment is its file name (`*.rpm`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RpmUrl {
    pub url: RpmUrlString,
    pub sha256: Sha256Hex,
}

/// A file for `files/`: from a local `path` or a `url` (exactly one), with its sha256.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, try_from = "RawFileSpec")]
pub struct FileSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Downloaded at build time (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    pub sha256: Sha256Hex,
    /// Name inside the bundle (`files/NAME`); default: the base name of the path or the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<FileName>,
}

/// [`FileSpec`] before the check that needs two fields (path xor url; a name for a URL that
/// does not end in one). serde_yaml reports such an error at the entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileSpec {
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    url: Option<Url>,
    sha256: Sha256Hex,
    #[serde(default)]
    name: Option<FileName>,
}

impl TryFrom<RawFileSpec> for FileSpec {
    type Error = String;
    fn try_from(r: RawFileSpec) -> Result<FileSpec, String> {
        match (&r.path, &r.url) {
            (Some(_), Some(_)) => return Err("give either path: or url:, not both".into()),
            (None, None) => {
                return Err(
                    "give path: (a file on this machine) or url: (downloaded at build time)".into(),
                );
            }
            (None, Some(u)) if r.name.is_none() && FileName::check(u.file_name()).is_err() => {
                return Err(format!(
                    "the url {u} does not end in a file name: give name: for it in the bundle"
                ));
            }
            _ => {}
        }
        Ok(FileSpec {
            path: r.path,
            url: r.url,
            sha256: r.sha256,
            name: r.name,
        })
    }
}

impl FileSpec {
    /// The name inside `files/`: `name:`, else the base name of the URL or path (`None` when
    /// the path has no UTF-8 base name).
    pub fn bundle_name(&self) -> Option<String> {
        if let Some(n) = &self.name {
            return Some(n.to_string());
        }
        match (&self.url, &self.path) {
            (Some(u), _) => Some(u.file_name().to_string()),
            (None, Some(p)) => p.file_name().and_then(|n| n.to_str()).map(str::to_string),
            (None, None) => None,
        }
    }
}

/// One container image: where it comes from and the `repository:tag` it is served as.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// `oci:DIR[:TAG]`, `docker-archive:FILE[:REPO:TAG]` or `docker://HOST/REPO:TAG`.
    pub from: ImageSource,
    /// `repository:tag` in the bundle's registry, e.g. `cairn/busybox:1.36`.
    pub name: ImageName,
    /// `docker://` only: talk plain HTTP to the registry instead of HTTPS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

/// Defines a string newtype validated by `$check` while deserializing. The check runs inside
/// the visitor of the scalar itself (not via `try_from`), so serde_yaml reports the position
/// of the offending value rather than of the enclosing mapping.
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            fn check(s: &str) -> Result<(), String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(s)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $name::check(&s).map(|()| $name(s))
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::check(v).map_err(E::custom)?;
                        Ok($name(v.to_string()))
                    }
                }
                d.deserialize_str(V)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

validated_string!(
    /// Always `cairn/v1` for now.
    ApiVersion,
    |s| match s {
        "cairn/v1" => Ok(()),
        _ => Err(format!("unsupported {s:?}: this cairn reads `cairn/v1`")),
    }
);

validated_string!(
    /// Always `Bundle`.
    Kind,
    |s| match s {
        "Bundle" => Ok(()),
        _ => Err(format!("must be `Bundle`, not {s:?}")),
    }
);

validated_string!(
    /// An RFC 1123 label: it becomes part of the bundle's file name.
    Name,
    check_label
);

validated_string!(
    /// Free-form but file-name safe: it becomes part of the bundle's file name.
    Version,
    |s| {
        if !s.is_empty()
            && s.len() <= 64
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "._+~-".contains(c))
            && !s.starts_with('.')
        {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is not usable: use 1 to 64 of A-Z a-z 0-9 . _ + ~ - (e.g. 0.1.0), not starting with a dot"
            ))
        }
    }
);

validated_string!(
    /// `os/arch`, e.g. `linux/amd64`.
    Platform,
    |s| match s.split_once('/') {
        Some((os, arch)) if !os.is_empty() && !arch.is_empty() && !arch.contains('/') => Ok(()),
        _ => Err(format!("{s:?} is not os/arch, e.g. linux/amd64")),
    }
);

validated_string!(
    /// A Debian package name (policy 5.6.7), optionally `name:arch` or `name=version`.
    PackageName,
    |s| {
        let name = s.split([':', '=']).next().unwrap_or_default();
        let ok = name.len() >= 2
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
            && !s.contains(char::is_whitespace);
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is not a Debian package name: lowercase letters, digits, + - . (at least 2 characters)"
            ))
        }
    }
);

validated_string!(
    /// 64 hex digits (lowercase or uppercase; compared case-insensitively).
    Sha256Hex,
    |s| {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(())
        } else {
            Err(format!(
                "must be 64 hex digits, got {} characters: compute it with `sha256sum FILE`",
                s.len()
            ))
        }
    }
);

validated_string!(
    /// A plain file name: no `/`, not `.` or `..`.
    FileName,
    |s| {
        if s.is_empty() || s == "." || s == ".." || s.contains(['/', '\\', '\0']) {
            Err(format!("{s:?} is not a plain file name (no `/`, not . or ..)"))
        } else {
            Ok(())
        }
    }
);

validated_string!(
    /// An `http://` or `https://` URL with a host.
    Url,
    check_url
);

validated_string!(
    /// An `http(s)://` URL whose last path segment is an `.rpm` file name.
    RpmUrlString,
    |s| {
        check_url(s)?;
        let name = url_file_name(s);
        if name.ends_with(".rpm") && name.len() > 4 && FileName::check(name).is_ok() {
            Ok(())
        } else {
            Err(format!("{s} does not end in an .rpm file name"))
        }
    }
);

validated_string!(
    /// A local `.rpm` file. A URL is refused: it needs a sha256 (`rpms.urls`).
    RpmFile,
    |s| {
        if s.contains("://") {
            Err(format!(
                "{s} is a url: list it under rpms.urls with its sha256 (`- url: {s}` and \
                 `sha256: …`), or download the packages and their dependencies with \
                 `dnf download --resolve --alldeps --destdir DIR PACKAGES` and list DIR under rpms.dirs"
            ))
        } else if !s.ends_with(".rpm") || s.ends_with("/.rpm") {
            Err(format!("{s:?} is not an .rpm file (list directories under rpms.dirs)"))
        } else {
            Ok(())
        }
    }
);

validated_string!(
    /// An image source (see [`crate::images::reference::parse_source`]).
    ImageSource,
    |s| crate::images::reference::parse_source(s).map(|_| ())
);

validated_string!(
    /// `repository:tag` (distribution spec grammar).
    ImageName,
    crate::images::reference::check_image_name
);

impl ImageSource {
    /// The parsed source (validated when the spec was read).
    pub fn parsed(&self) -> crate::images::reference::Source {
        crate::images::reference::parse_source(&self.0).expect("validated while deserializing")
    }
}

impl ImageName {
    /// (repository, tag).
    pub fn parts(&self) -> (&str, &str) {
        match crate::images::reference::split_tag(&self.0) {
            (r, Some(t)) => (r, t),
            _ => unreachable!("validated while deserializing"),
        }
    }
}

impl Url {
    /// The last path segment (no query or fragment); may be empty.
    pub fn file_name(&self) -> &str {
        url_file_name(&self.0)
    }
}

impl RpmUrlString {
    /// The `.rpm` file name the URL ends in.
    pub fn file_name(&self) -> &str {
        url_file_name(&self.0)
    }
}

fn check_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("{s:?} is not an http:// or https:// url"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("{s:?} has no host"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{s:?} contains whitespace: percent-encode it (%20)"
        ));
    }
    Ok(())
}

/// The last segment of a URL's path: `https://h/a/b.rpm?x#y` → `b.rpm`; `https://h` → ``.
fn url_file_name(s: &str) -> &str {
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    let no_query = rest.split(['?', '#']).next().unwrap_or_default();
    match no_query.split_once('/') {
        Some((_, path)) => path.rsplit('/').next().unwrap_or_default(),
        None => "",
    }
}

impl Sha256Hex {
    /// Lowercase hex, for comparison with computed digests.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

fn check_label(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an RFC 1123 label (1-63 of a-z 0-9 -, not starting or ending with -)"
        ))
    }
}

/// A spec that could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// `line`/`column` are 1-based; absent when serde_yaml knows no position.
    #[error("{}: {message}\n  hint: {hint}", position(file, *line, *column))]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
        hint: String,
    },
}

fn position(file: &Path, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}", file.display()),
        _ => file.display().to_string(),
    }
}

/// Reads and validates the spec at `file`.
pub fn load(file: &Path) -> Result<LoadedSpec, SpecError> {
    let text = std::fs::read_to_string(file).map_err(|source| SpecError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    let spec = parse(&text).map_err(|e| e.in_file(file))?;
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(LoadedSpec {
        spec,
        file: file.to_path_buf(),
        dir,
    })
}

/// A parse error before it is attached to a file name.
#[derive(Debug)]
pub struct ParseError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    pub hint: String,
}

impl ParseError {
    fn in_file(self, file: &Path) -> SpecError {
        SpecError::Invalid {
            file: file.to_path_buf(),
            line: self.line,
            column: self.column,
            message: self.message,
            hint: self.hint,
        }
    }
}

/// Parses spec text (no file involved; used by [`load`] and tests).
pub fn parse(text: &str) -> Result<Spec, ParseError> {
    serde_yaml::from_str::<Spec>(text).map_err(|e| {
        let loc = e.location();
        let mut message = e.to_string();
        // serde_yaml appends " at line L column C"; we print the position up front instead.
        if let Some(i) = message.rfind(" at line ") {
            message.truncate(i);
        }
        let hint = hint_for(&message).to_string();
        ParseError {
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message,
            hint,
        }
    })
}

fn hint_for(message: &str) -> &'static str {
    if message.contains("unknown field") {
        "check the spelling; the fields a spec may have are listed in docs/bundle.md"
    } else if message.contains("missing field") {
        "add the field; a minimal spec has apiVersion, kind, name and version"
    } else if message.contains("not supported yet") {
        "see \"What is not done yet\" in docs/bundle.md"
    } else if message.contains("invalid type") {
        "check the value's shape against the example in docs/bundle.md (list vs. string vs. map)"
    } else {
        "see docs/bundle.md for the spec format"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "apiVersion: cairn/v1\nkind: Bundle\nname: lab\nversion: 0.1.0\n";

    fn err(text: &str) -> String {
        let e = parse(text).expect_err("should be refused");
        format!(
            "{}:{}: {}",
            e.line.unwrap_or(0),
            e.column.unwrap_or(0),
            e.message
        )
    }

    #[test]
    fn full_example_parses() {
        let s = parse(
            "apiVersion: cairn/v1\nkind: Bundle\nname: lab\nversion: 0.1.0\n\
             platforms: [linux/amd64]\n\
             debs:\n  suite: bookworm\n  packages: [etcd-server, chrony]\n  base_status: st\n  dirs: []\n\
             rpms:\n  dirs: [r]\n\
             files:\n  - path: a/b\n    sha256: '0000000000000000000000000000000000000000000000000000000000000000'\n    name: etcd\n\
             images: []\nplaybooks: ../playbooks\n",
        )
        .expect("valid");
        assert_eq!(s.name.as_str(), "lab");
        assert_eq!(s.debs.as_ref().unwrap().packages.len(), 2);
        assert_eq!(s.files[0].name.as_ref().unwrap().as_str(), "etcd");
    }

    #[test]
    fn minimal_parses() {
        let s = parse(MINIMAL).expect("valid");
        assert!(s.debs.is_none() && s.files.is_empty() && s.playbooks.is_none());
    }

    #[test]
    fn unknown_field_is_pinned() {
        assert_eq!(
            err(&format!("{MINIMAL}debz: {{}}\n")),
            "5:1: unknown field `debz`, expected one of `apiVersion`, `kind`, `name`, `version`, \
             `platforms`, `debs`, `rpms`, `files`, `images`, `playbooks`"
        );
    }

    #[test]
    fn bad_name_is_pinned() {
        assert_eq!(
            err("apiVersion: cairn/v1\nkind: Bundle\nname: Lab_1\nversion: 0.1.0\n"),
            "3:7: name: \"Lab_1\" is not an RFC 1123 label (1-63 of a-z 0-9 -, not starting or ending with -)"
        );
    }

    #[test]
    fn bad_api_version_is_pinned() {
        assert_eq!(
            err("apiVersion: cairn/v2\nkind: Bundle\nname: lab\nversion: 0.1.0\n"),
            "1:13: apiVersion: unsupported \"cairn/v2\": this cairn reads `cairn/v1`"
        );
    }

    #[test]
    fn missing_version_is_pinned() {
        assert_eq!(
            err("apiVersion: cairn/v1\nkind: Bundle\nname: lab\n"),
            "1:1: missing field `version`"
        );
    }

    #[test]
    fn file_urls_parse_and_bad_ones_are_pinned() {
        let sha = "a".repeat(64);
        let s = parse(&format!(
            "{MINIMAL}files:\n  - url: https://example.com/v1/etcd.tar.gz?x=1\n    sha256: '{sha}'\n\
             \x20 - url: http://127.0.0.1:8080/dl/\n    sha256: '{sha}'\n    name: helm\n"
        ))
        .expect("valid");
        assert_eq!(s.files[0].bundle_name().unwrap(), "etcd.tar.gz");
        assert_eq!(s.files[1].bundle_name().unwrap(), "helm");
        let cases = [
            (
                format!("  - url: https://example.com/etcd\n    path: x\n    sha256: '{sha}'\n"),
                "6:3: files: give either path: or url:, not both",
            ),
            (
                format!("  - sha256: '{sha}'\n"),
                "6:3: files: give path: (a file on this machine) or url: (downloaded at build time)",
            ),
            (
                format!("  - url: https://example.com/\n    sha256: '{sha}'\n"),
                "6:3: files: the url https://example.com/ does not end in a file name: give name: for it in the bundle",
            ),
            (
                format!("  - url: ftp://example.com/x\n    sha256: '{sha}'\n"),
                "6:10: files[0].url: \"ftp://example.com/x\" is not an http:// or https:// url",
            ),
            (
                format!("  - url: https:///x\n    sha256: '{sha}'\n"),
                "6:10: files[0].url: \"https:///x\" has no host",
            ),
            (
                format!("  - url: 'https://h/a b'\n    sha256: '{sha}'\n"),
                "6:10: files[0].url: \"https://h/a b\" contains whitespace: percent-encode it (%20)",
            ),
        ];
        for (files, want) in cases {
            assert_eq!(err(&format!("{MINIMAL}files:\n{files}")), want, "{files}");
        }
    }

    #[test]
    fn rpm_url_is_refused_with_the_way_forward() {
        assert_eq!(
            err(&format!(
                "{MINIMAL}rpms:\n  files: [https://example.com/x.rpm]\n"
            )),
            "6:11: rpms.files[0]: https://example.com/x.rpm is a url: list it under rpms.urls with \
             its sha256 (`- url: https://example.com/x.rpm` and `sha256: …`), or download the \
             packages and their dependencies with `dnf download --resolve --alldeps --destdir DIR \
             PACKAGES` and list DIR under rpms.dirs"
        );
        assert_eq!(
            err(&format!("{MINIMAL}rpms:\n  files: [pkgs]\n")),
            "6:11: rpms.files[0]: \"pkgs\" is not an .rpm file (list directories under rpms.dirs)"
        );
        assert_eq!(
            err(&format!("{MINIMAL}rpms:\n  url: [x]\n")),
            "6:3: rpms: unknown field `url`, expected one of `dirs`, `files`, `urls`"
        );
        assert_eq!(
            err(&format!(
                "{MINIMAL}rpms:\n  urls:\n    - url: https://h/repo/\n      sha256: '{}'\n",
                "b".repeat(64)
            )),
            "7:12: rpms.urls[0].url: https://h/repo/ does not end in an .rpm file name"
        );
        let s = parse(&format!(
            "{MINIMAL}rpms:\n  urls:\n    - url: https://h/p/a-1-1.noarch.rpm\n      sha256: '{}'\n",
            "b".repeat(64)
        ))
        .unwrap();
        assert_eq!(s.rpms.unwrap().urls[0].url.file_name(), "a-1-1.noarch.rpm");
        let s = parse(&format!(
            "{MINIMAL}rpms:\n  dirs: [d]\n  files: [a/b-1-1.x86_64.rpm]\n"
        ))
        .unwrap();
        assert_eq!(s.rpms.unwrap().files[0].as_str(), "a/b-1-1.x86_64.rpm");
    }

    #[test]
    fn short_sha256_is_pinned() {
        assert_eq!(
            err(&format!("{MINIMAL}files:\n  - path: x\n    sha256: abc\n")),
            "7:13: files[0].sha256: must be 64 hex digits, got 3 characters: compute it with `sha256sum FILE`"
        );
    }

    #[test]
    fn unknown_debs_field_is_pinned() {
        assert_eq!(
            err(&format!("{MINIMAL}debs:\n  recommends: true\n")),
            "6:3: debs: unknown field `recommends`, expected one of `suite`, `packages`, `base_status`, `dirs`"
        );
    }

    #[test]
    fn bad_package_name_is_pinned() {
        assert_eq!(
            err(&format!("{MINIMAL}debs:\n  packages: [Chrony]\n")),
            "6:14: debs.packages[0]: \"Chrony\" is not a Debian package name: lowercase letters, digits, + - . (at least 2 characters)"
        );
    }

    #[test]
    fn images_parse_and_bad_ones_are_pinned() {
        let s = parse(&format!(
            "{MINIMAL}images:\n  - from: oci:img:1.0\n    name: cairn/busybox:1.36\n\
             \x20 - from: docker://127.0.0.1:5000/x:1\n    name: x:1\n    insecure: true\n"
        ))
        .expect("valid");
        assert_eq!(s.images[0].name.parts(), ("cairn/busybox", "1.36"));
        assert!(s.images[1].insecure);
        assert_eq!(
            err(&format!(
                "{MINIMAL}images:\n  - from: busybox:1\n    name: b:1\n"
            )),
            "6:11: images[0].from: \"busybox:1\" is not an image source: use oci:DIR[:TAG], \
             docker-archive:FILE[:REPO:TAG] or docker://HOST/REPO:TAG"
        );
        assert_eq!(
            err(&format!(
                "{MINIMAL}images:\n  - from: oci:d\n    name: Busybox:1\n"
            )),
            "7:11: images[0].name: \"Busybox:1\": repository \"Busybox\": each component starts and ends with a-z or 0-9"
        );
        assert_eq!(
            err(&format!("{MINIMAL}images:\n  - from: oci:d\n")),
            "6:5: images[0]: missing field `name`"
        );
    }

    #[test]
    fn load_puts_file_line_column_and_hint_first() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("b.yaml");
        std::fs::write(
            &f,
            "apiVersion: cairn/v1\nkind: Bundel\nname: lab\nversion: 1\n",
        )
        .unwrap();
        let e = load(&f).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}:2:7: kind: must be `Bundle`, not \"Bundel\"\n  hint: see docs/bundle.md for the spec format",
                f.display()
            )
        );
    }
}
