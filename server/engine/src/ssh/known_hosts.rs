//! The known_hosts store: which host keys Cairn trusts, in OpenSSH's file format.
//!
//! Owns parsing (plain, `[host]:port`, comma lists, `*`/`?` wildcards, `!` negation, hashed
//! `|1|salt|hash` names, `@revoked` and `@cert-authority` markers), lookup with OpenSSH's verdicts
//! and appending accepted keys. The file stays usable by `ssh -o UserKnownHostsFile=...`.
//! Must not: decide policy (strict or accept-new): `connection` does that with the verdict.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use russh::keys::{HashAlg, PublicKey};
use sha1::Sha1;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How the store judges a key a server presented for an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A line for this endpoint holds exactly this key.
    Known,
    /// No line names this endpoint.
    Unknown,
    /// The endpoint is known with other key(s): `line` is the first such line.
    Changed { line: usize, expected: String },
    /// The key is listed under `@revoked`.
    Revoked { line: usize },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

#[derive(Clone, Debug)]
struct Entry {
    line: usize,
    marker: Marker,
    patterns: Vec<String>,
    key: PublicKey,
}

/// The parsed file plus where to append.
#[derive(Debug)]
pub struct KnownHosts {
    path: PathBuf,
    entries: Vec<Entry>,
    lines: usize,
}

/// `host` for port 22, `[host]:port` otherwise: the name OpenSSH writes and looks up.
pub fn endpoint(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    }
}

/// `SHA256:...` as `ssh-keygen -lf` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

impl KnownHosts {
    /// Load `path`; a missing file is an empty store (it is created on the first accepted key).
    /// Lines that cannot be parsed are skipped, as OpenSSH does, so one bad line does not lock
    /// the operator out of every host.
    pub fn load(path: &Path) -> std::io::Result<KnownHosts> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        Ok(Self::parse(path, &text))
    }

    fn parse(path: &Path, text: &str) -> KnownHosts {
        let mut entries = Vec::new();
        let mut lines = 0;
        for (i, raw) in text.lines().enumerate() {
            lines = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or_default();
            let marker = match first {
                "@revoked" => Marker::Revoked,
                "@cert-authority" => Marker::CertAuthority,
                _ => Marker::None,
            };
            if marker != Marker::None {
                first = fields.next().unwrap_or_default();
            }
            let (Some(kind), Some(data)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(key) = PublicKey::from_openssh(&format!("{kind} {data}")) else {
                continue;
            };
            entries.push(Entry {
                line: i + 1,
                marker,
                patterns: first.split(',').map(str::to_string).collect(),
                key,
            });
        }
        KnownHosts {
            path: path.to_path_buf(),
            entries,
            lines,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Judge `key` presented by `endpoint` (see [`endpoint`]).
    pub fn check(&self, endpoint: &str, key: &PublicKey) -> Verdict {
        // A revoked key is refused for every host, whatever else the file says.
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| e.marker == Marker::Revoked && same_key(&e.key, key))
        {
            return Verdict::Revoked { line: e.line };
        }
        let mut first_other = None;
        for e in &self.entries {
            if e.marker != Marker::None || !host_matches(&e.patterns, endpoint) {
                continue;
            }
            if same_key(&e.key, key) {
                return Verdict::Known;
            }
            first_other.get_or_insert(e);
        }
        match first_other {
            Some(e) => Verdict::Changed {
                line: e.line,
                expected: format!("{} {}", e.key.algorithm(), fingerprint(&e.key)),
            },
            None => Verdict::Unknown,
        }
    }

    /// Key algorithms already recorded for `endpoint`, so the client can ask for those first
    /// (OpenSSH does the same: otherwise a host with several keys could present one we do not
    /// hold and look "unknown").
    pub fn algorithms_for(&self, endpoint: &str) -> Vec<russh::keys::Algorithm> {
        let mut out = Vec::new();
        for e in &self.entries {
            if e.marker == Marker::None && host_matches(&e.patterns, endpoint) {
                let a = e.key.algorithm();
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }

    /// Append `endpoint key` to the file (creating it 0600 in a 0700 directory) and to the
    /// in-memory store.
    pub fn add(&mut self, endpoint: &str, key: &PublicKey) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let openssh = key.to_openssh().map_err(std::io::Error::other)?;
        // Drop the key's comment: the line is "endpoint type base64".
        let mut parts = openssh.split_whitespace();
        let line = format!(
            "{endpoint} {} {}\n",
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default()
        );
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        // One write of one line: O_APPEND keeps concurrent writers' lines whole.
        f.write_all(line.as_bytes())?;
        self.lines += 1;
        self.entries.push(Entry {
            line: self.lines,
            marker: Marker::None,
            patterns: vec![endpoint.to_string()],
            key: key.clone(),
        });
        Ok(())
    }
}

fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

/// OpenSSH's host list semantics: any positive match and no negated match.
fn host_matches(patterns: &[String], endpoint: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if wildcard(neg, endpoint) {
                return false;
            }
        } else if let Some(hashed) = p.strip_prefix("|1|") {
            matched |= hashed_matches(hashed, endpoint);
        } else {
            matched |= wildcard(p, endpoint);
        }
    }
    matched
}

fn hashed_matches(hashed: &str, endpoint: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (B64.decode(salt), B64.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(endpoint.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// `*` and `?` globbing, case-insensitive like OpenSSH's host matching.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const K2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G2sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn store(text: &str) -> KnownHosts {
        KnownHosts::parse(Path::new("/kh"), text)
    }

    #[test]
    fn verdicts() {
        let kh = store(&format!(
            "# comment\n10.0.0.1 {K1}\n[10.0.0.2]:2222 {K1}\nweb*,!web9 {K2}\n@revoked * {K2}x\n"
        ));
        let cases: &[(&str, &str, Verdict)] = &[
            ("10.0.0.1", K1, Verdict::Known),
            ("10.0.0.9", K1, Verdict::Unknown),
            ("[10.0.0.2]:2222", K1, Verdict::Known),
            // same address, other port: a different endpoint
            ("10.0.0.2", K1, Verdict::Unknown),
            ("WEB1", K2, Verdict::Known),
            ("web9", K2, Verdict::Unknown),
        ];
        for (ep, k, want) in cases {
            assert_eq!(&kh.check(ep, &key(k)), want, "{ep}");
        }
        match kh.check("10.0.0.1", &key(K2)) {
            Verdict::Changed { line, expected } => {
                assert_eq!(line, 2);
                assert!(expected.starts_with("ssh-ed25519 SHA256:"), "{expected}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn revoked_wins_everywhere() {
        let kh = store(&format!("10.0.0.1 {K1}\n@revoked * {K1}\n"));
        assert_eq!(kh.check("10.0.0.1", &key(K1)), Verdict::Revoked { line: 2 });
    }

    #[test]
    fn hashed_hostnames_match() {
        // Made with: ssh-keygen -H on a file holding "localhost <K1>"... computed here instead,
        // with a fixed salt, to keep the test self-contained.
        let salt = [7u8; 20];
        let mut mac = Hmac::<Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"lab1.example");
        let hash = mac.finalize().into_bytes();
        let line = format!("|1|{}|{} {K1}\n", B64.encode(salt), B64.encode(hash));
        let kh = store(&line);
        assert_eq!(kh.check("lab1.example", &key(K1)), Verdict::Known);
        assert_eq!(kh.check("lab2.example", &key(K1)), Verdict::Unknown);
    }

    #[test]
    fn add_appends_and_persists() {
        let dir = std::env::temp_dir().join(format!("cairn-kh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("state/known_hosts");
        let mut kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.check("h", &key(K1)), Verdict::Unknown);
        kh.add("[h]:2200", &key(K1)).unwrap();
        kh.add("h", &key(K2)).unwrap();
        assert_eq!(kh.check("[h]:2200", &key(K1)), Verdict::Known);
        let again = KnownHosts::load(&path).unwrap();
        assert_eq!(again.check("h", &key(K2)), Verdict::Known);
        assert_eq!(again.algorithms_for("h").len(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next().unwrap(), format!("[h]:2200 {K1}"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let kh = store(&format!("not a key line\n\nhost ssh-ed25519 !!!\nh {K1}\n"));
        assert_eq!(kh.check("h", &key(K1)), Verdict::Known);
    }

    #[test]
    fn wildcards() {
        for (p, t, want) in [
            ("*", "x", true),
            ("10.0.0.?", "10.0.0.7", true),
            ("10.0.0.?", "10.0.0.17", false),
            ("*.lab", "a.b.lab", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ] {
            assert_eq!(wildcard(p, t), want, "{p} {t}");
        }
    }
}
