//! `manifest.json`, the first entry of every bundle: what the bundle holds and each entry's
//! size and SHA-256. Verifying a bundle means checking the tar against this list (and, when a
//! key is given, checking the manifest's signature).
//!
//! Owns: the manifest's JSON shape, entry path rules (what a safe entry path is) and media types.
//! Must not: do I/O beyond (de)serializing bytes.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The manifest format this code writes and reads.
pub const FORMAT: u32 = 1;
/// Name of the manifest entry (always first in the tar).
pub const MANIFEST_PATH: &str = "manifest.json";
/// Name of the detached signature entry (right after the manifest, when signed).
pub const SIGNATURE_PATH: &str = "manifest.sig";
/// Upper bound on the manifest's size: it is read into memory, so it is bounded.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub version: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// `cairn X.Y.Z`: the tool that built the bundle.
    pub tool: String,
    /// The spec the bundle was built from, as JSON.
    pub spec: serde_json::Value,
    pub entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub path: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
    pub media_type: String,
}

/// What an entry is, from the first component of its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    Deb,
    Rpm,
    File,
    Image,
    Playbook,
}

impl EntryKind {
    pub const ALL: [EntryKind; 5] = [
        EntryKind::Deb,
        EntryKind::Rpm,
        EntryKind::File,
        EntryKind::Image,
        EntryKind::Playbook,
    ];

    /// The directory entries of this kind live in.
    pub fn dir(self) -> &'static str {
        match self {
            EntryKind::Deb => "debs",
            EntryKind::Rpm => "rpms",
            EntryKind::File => "files",
            EntryKind::Image => "images",
            EntryKind::Playbook => "playbooks",
        }
    }

    pub fn of(path: &str) -> Option<EntryKind> {
        let top = path.split('/').next()?;
        EntryKind::ALL.into_iter().find(|k| k.dir() == top)
    }
}

/// Media type recorded for an entry path.
pub fn media_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match (EntryKind::of(path), ext) {
        (_, "deb") => "application/vnd.debian.binary-package",
        (_, "rpm") => "application/x-rpm",
        (Some(EntryKind::Rpm), "xml") => "application/xml",
        (Some(EntryKind::Rpm), "gz") => "application/gzip",
        (Some(EntryKind::Playbook), "yml" | "yaml") => "application/yaml",
        (Some(EntryKind::Playbook), "j2") => "text/x-jinja2",
        _ => "application/octet-stream",
    }
}

/// Why an entry path is unsafe or malformed; `None` when it is fine. The same rules apply to
/// manifest entries and to tar headers, so a bundle cannot write outside its extraction
/// directory, whatever later extracts it.
pub fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("empty path");
    }
    if path.starts_with('/') {
        return Some("absolute path");
    }
    if path.contains('\0') || path.contains('\\') {
        return Some("path contains NUL or backslash");
    }
    for comp in path.split('/') {
        match comp {
            ".." => return Some("path contains `..`"),
            "" | "." => return Some("path has an empty or `.` component"),
            _ => {}
        }
    }
    if path.len() > 4096 {
        return Some("path longer than 4096 bytes");
    }
    None
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ManifestError {
    #[error("manifest.json is not valid JSON for format {FORMAT}: {0}")]
    Json(String),
    #[error("manifest.json has format {0}; this cairn reads format {FORMAT}")]
    Format(u32),
    #[error("manifest.json lists {path:?}: {problem}")]
    BadPath { path: String, problem: &'static str },
    #[error(
        "manifest.json lists {0:?}, which is not under debs/, rpms/, files/, images/ or playbooks/"
    )]
    UnknownKind(String),
    #[error("manifest.json lists {0:?} twice")]
    Duplicate(String),
    #[error("manifest.json lists {path:?} with a malformed sha256 {sha256:?}")]
    BadDigest { path: String, sha256: String },
    #[error("manifest.json lists {path:?} with sha256 {sha256}: a blob's sha256 is its name")]
    BlobName { path: String, sha256: String },
}

impl Manifest {
    /// Serialized form stored in the bundle: pretty JSON with a final newline, field order
    /// fixed by the struct, so equal manifests give equal bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a Manifest always serializes");
        v.push(b'\n');
        v
    }

    /// Parses and checks a manifest: format, entry paths, digests, no duplicates.
    pub fn from_bytes(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        // Check the format first so a future format gets a clear message, not a field error.
        #[derive(Deserialize)]
        struct Probe {
            format: u32,
        }
        let probe: Probe =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        if probe.format != FORMAT {
            return Err(ManifestError::Format(probe.format));
        }
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        m.check()?;
        Ok(m)
    }

    /// The invariants every manifest holds, whether built here or read from a file.
    pub fn check(&self) -> Result<(), ManifestError> {
        let mut seen = HashSet::new();
        for e in &self.entries {
            if let Some(problem) = path_problem(&e.path) {
                return Err(ManifestError::BadPath {
                    path: e.path.clone(),
                    problem,
                });
            }
            if EntryKind::of(&e.path).is_none() || !e.path.contains('/') {
                return Err(ManifestError::UnknownKind(e.path.clone()));
            }
            if e.sha256.len() != 64
                || !e
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(ManifestError::BadDigest {
                    path: e.path.clone(),
                    sha256: e.sha256.clone(),
                });
            }
            // Content-addressed blobs: the name is the digest, so a client that fetches by
            // digest gets bytes verified against that very digest.
            if let Some(name) = e.path.strip_prefix("images/blobs/sha256/")
                && name != e.sha256
            {
                return Err(ManifestError::BlobName {
                    path: e.path.clone(),
                    sha256: e.sha256.clone(),
                });
            }
            if !seen.insert(e.path.as_str()) {
                return Err(ManifestError::Duplicate(e.path.clone()));
            }
        }
        Ok(())
    }

    /// Total size of all entries' data.
    pub fn total_size(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}

/// `secs` since the Unix epoch as RFC 3339 UTC (`2026-11-23T04:00:00Z`).
pub fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format: FORMAT,
            name: "lab".into(),
            version: "0.1.0".into(),
            created: rfc3339(0),
            tool: "cairn 0.1.0".into(),
            spec: serde_json::json!({"name": "lab"}),
            entries: vec![
                Entry {
                    path: "debs/chrony_4.3-2+deb12u1_amd64.deb".into(),
                    size: 3,
                    sha256: "a".repeat(64),
                    media_type: media_type("debs/chrony_4.3-2+deb12u1_amd64.deb").into(),
                },
                Entry {
                    path: "playbooks/site.yml".into(),
                    size: 0,
                    sha256: "b".repeat(64),
                    media_type: media_type("playbooks/site.yml").into(),
                },
            ],
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let bytes = m.to_bytes();
        assert_eq!(Manifest::from_bytes(&bytes).unwrap(), m);
        assert_eq!(bytes, Manifest::from_bytes(&bytes).unwrap().to_bytes());
        assert_eq!(
            m.entries[0].media_type,
            "application/vnd.debian.binary-package"
        );
        assert_eq!(m.entries[1].media_type, "application/yaml");
    }

    #[test]
    fn refuses_future_format_and_bad_paths() {
        let mut m = sample();
        m.format = 2;
        assert_eq!(
            Manifest::from_bytes(&m.to_bytes()).unwrap_err().to_string(),
            "manifest.json has format 2; this cairn reads format 1"
        );
        for (p, msg) in [
            ("../x", "manifest.json lists \"../x\": path contains `..`"),
            (
                "/etc/passwd",
                "manifest.json lists \"/etc/passwd\": absolute path",
            ),
            (
                "other/x",
                "manifest.json lists \"other/x\", which is not under debs/, rpms/, files/, images/ or playbooks/",
            ),
            (
                "images/blobs/sha256/0000",
                "manifest.json lists \"images/blobs/sha256/0000\" with sha256 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: a blob's sha256 is its name",
            ),
        ] {
            let mut m = sample();
            m.entries[0].path = p.into();
            assert_eq!(
                Manifest::from_bytes(&m.to_bytes()).unwrap_err().to_string(),
                msg
            );
        }
        let mut m = sample();
        m.entries[1].path = m.entries[0].path.clone();
        assert_eq!(
            m.check().unwrap_err().to_string(),
            "manifest.json lists \"debs/chrony_4.3-2+deb12u1_amd64.deb\" twice"
        );
    }

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_406_400), "2026-11-23T04:00:00Z");
    }
}
