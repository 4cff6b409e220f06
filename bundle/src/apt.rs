//! Debian repository metadata for a bundle's `debs/`: reading a `.deb`'s control file, writing
//! `Packages` stanzas and a flat repository's `Release`, as `dpkg-scanpackages` and
//! `apt-ftparchive` would.
//!
//! Owns: the `.deb` container rules (`ar` archive, `debian-binary` first, `control.tar` with no,
//! gzip, xz or zstd compression, `./control` inside), the stanza fields Cairn adds (`Filename`,
//! `Size`, `MD5sum`, `SHA256`) and the `Release` layout.
//! Must not: know where or how the repository is served (no HTTP, no URLs), or touch the disk:
//! it reads the readers it is given and returns text.

use flate2::read::GzDecoder;
use md5::Md5;
use sha2::{Digest, Sha256};
use std::io::{self, Read};

/// A control file larger than this is refused (real ones are a few KiB); it is held in memory.
pub const MAX_CONTROL_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("cannot read the package: {0}")]
    Io(#[from] io::Error),
    #[error("not a Debian package: {0}")]
    NotDeb(String),
    #[error("not a Debian package: no control.tar member")]
    NoControlTar,
    #[error("control archive {0:?}: unsupported compression (expected none, .gz, .xz or .zst)")]
    Compression(String),
    #[error("control archive: {0}")]
    ControlTar(String),
    #[error("control archive has no ./control file")]
    NoControl,
    #[error("control file is larger than {MAX_CONTROL_BYTES} bytes")]
    ControlTooBig,
    #[error("control file is not UTF-8")]
    NotUtf8,
    #[error("control file, line {line}: {problem}")]
    BadControl { line: usize, problem: String },
    #[error("control file has no {0} field")]
    MissingField(&'static str),
    #[error("bundle date {0:?} is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)")]
    Date(String),
}

/// What a scan of one `.deb` found: its control file (as written by the packager) and the
/// digests of the whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scanned {
    pub control: String,
    pub size: u64,
    pub md5: String,
    pub sha256: String,
}

/// Reads a whole `.deb` once: its control file, and its MD5 and SHA-256 on the way (apt checks
/// the hashes given in `Packages`, and the bundle's manifest only has SHA-256).
pub fn scan(deb: impl Read) -> Result<Scanned, DebError> {
    let mut hashing = Hashing {
        inner: deb,
        md5: Md5::new(),
        sha256: Sha256::new(),
        size: 0,
    };
    let control = control(&mut hashing)?;
    // The data member follows the control member: hash it too.
    io::copy(&mut hashing, &mut io::sink())?;
    Ok(Scanned {
        control,
        size: hashing.size,
        md5: hex::encode(hashing.md5.finalize()),
        sha256: hex::encode(hashing.sha256.finalize()),
    })
}

/// Hashes what passes through.
struct Hashing<R> {
    inner: R,
    md5: Md5,
    sha256: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.md5.update(&buf[..n]);
        self.sha256.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// The `control` file of a `.deb` read from `deb` (read only up to the end of the control
/// member).
pub fn control(deb: impl Read) -> Result<String, DebError> {
    let mut archive = ar::Archive::new(deb);
    let mut first = true;
    while let Some(member) = archive.next_entry() {
        let member = member.map_err(|e| DebError::NotDeb(e.to_string()))?;
        let name = String::from_utf8_lossy(member.header().identifier())
            .trim_end_matches('/')
            .to_string();
        if first {
            if name != "debian-binary" {
                return Err(DebError::NotDeb(format!(
                    "the first member is {name:?}, not debian-binary"
                )));
            }
            first = false;
            continue;
        }
        let Some(compression) = name.strip_prefix("control.tar") else {
            continue;
        };
        let tar: Box<dyn Read + '_> = match compression {
            "" => Box::new(member),
            ".gz" => Box::new(GzDecoder::new(member)),
            ".xz" => Box::new(liblzma::read::XzDecoder::new(member)),
            ".zst" => Box::new(zstd::Decoder::new(member)?),
            _ => return Err(DebError::Compression(name)),
        };
        return control_in_tar(tar);
    }
    if first {
        return Err(DebError::NotDeb("empty ar archive".into()));
    }
    Err(DebError::NoControlTar)
}

fn control_in_tar(tar: impl Read) -> Result<String, DebError> {
    let bad = |e: io::Error| DebError::ControlTar(e.to_string());
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let is_control = matches!(&*entry.path_bytes(), b"./control" | b"control");
        if !is_control || !entry.header().entry_type().is_file() {
            continue;
        }
        if entry.size() > MAX_CONTROL_BYTES {
            return Err(DebError::ControlTooBig);
        }
        let mut bytes = Vec::new();
        entry
            .take(MAX_CONTROL_BYTES)
            .read_to_end(&mut bytes)
            .map_err(bad)?;
        return String::from_utf8(bytes).map_err(|_| DebError::NotUtf8);
    }
    Err(DebError::NoControl)
}

/// Fields a repository sets itself: a control file's own values for them are dropped.
const REPO_FIELDS: [&str; 5] = ["Filename", "Size", "MD5sum", "SHA1", "SHA256"];

/// One `Packages` stanza: the control file's fields as they are, then `Filename` (relative to
/// the repository root), `Size`, `MD5sum` and `SHA256`. Ends with a newline, no blank line.
pub fn stanza(control: &str, filename: &str, scanned: &Scanned) -> Result<String, DebError> {
    let mut out = String::with_capacity(control.len() + 200);
    let mut seen = Vec::new();
    let mut skipping = false;
    for (i, line) in control.trim_end().lines().enumerate() {
        let line = line.trim_end();
        let bad = |problem: &str| DebError::BadControl {
            line: i + 1,
            problem: problem.to_string(),
        };
        if line.is_empty() {
            // A blank line would end the stanza early and start a bogus one.
            return Err(bad("blank line inside the control file"));
        }
        if line.starts_with([' ', '\t']) {
            if i == 0 {
                return Err(bad("continuation line before any field"));
            }
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        }
        let Some((name, _)) = line.split_once(':') else {
            return Err(bad("not `Field: value`"));
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(bad("bad field name"));
        }
        skipping = REPO_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name));
        if !skipping {
            seen.push(name.to_ascii_lowercase());
            out.push_str(line);
            out.push('\n');
        }
    }
    for required in ["Package", "Version", "Architecture"] {
        if !seen.iter().any(|s| s.eq_ignore_ascii_case(required)) {
            return Err(DebError::MissingField(required));
        }
    }
    out.push_str(&format!(
        "Filename: {filename}\nSize: {}\nMD5sum: {}\nSHA256: {}\n",
        scanned.size, scanned.md5, scanned.sha256
    ));
    Ok(out)
}

/// A `Packages` file from stanzas (each as [`stanza`] returns it), separated by blank lines.
pub fn packages<S: AsRef<str>>(stanzas: &[S]) -> String {
    stanzas
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Gzip, as `Packages.gz` (no file name or time in the header: same input, same bytes).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    enc.write_all(data).expect("write to Vec");
    enc.finish().expect("write to Vec")
}

/// What a flat repository's `Release` says about itself.
#[derive(Clone, Debug)]
pub struct ReleaseInfo<'a> {
    /// The bundle's name (`Label`).
    pub label: &'a str,
    /// The bundle's version (`Version`).
    pub version: &'a str,
    /// RFC 3339 UTC, e.g. the manifest's `created`; written in RFC 2822 form as apt expects.
    pub date: &'a str,
}

/// The `Release` of a flat repository (`deb [trusted=yes] URL ./`) listing `files` (name,
/// content) with their MD5 and SHA-256. No `Suite`/`Codename`: a flat repository has none, and
/// apt warns when they do not match the sources line.
pub fn release(info: &ReleaseInfo<'_>, files: &[(&str, &[u8])]) -> Result<String, DebError> {
    let mut out = format!(
        "Origin: Cairn\nLabel: {}\nVersion: {}\nDate: {}\nDescription: Cairn bundle {} {}\n",
        info.label,
        info.version,
        rfc2822(info.date)?,
        info.label,
        info.version
    );
    out.push_str("MD5Sum:\n");
    for (name, data) in files {
        out.push_str(&format!(
            " {} {} {name}\n",
            hex::encode(Md5::digest(data)),
            data.len()
        ));
    }
    out.push_str("SHA256:\n");
    for (name, data) in files {
        out.push_str(&format!(
            " {} {} {name}\n",
            hex::encode(Sha256::digest(data)),
            data.len()
        ));
    }
    Ok(out)
}

/// `2026-11-23T04:17:19Z` -> `Mon, 23 Nov 2026 04:17:19 UTC`.
pub fn rfc2822(rfc3339: &str) -> Result<String, DebError> {
    let bad = || DebError::Date(rfc3339.to_string());
    let b = rfc3339.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, DebError> {
        let s = &rfc3339[r];
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = DAYS[days_from_civil(y, m, d).rem_euclid(7) as usize];
    Ok(format!(
        "{weekday}, {d:02} {} {y:04} {hh:02}:{mm:02}:{ss:02} UTC",
        MONTHS[(m - 1) as usize]
    ))
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`); 1970-01-01 was a Thursday.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
