//! `repomd.xml`: the index dnf fetches first. For each metadata file: its type, the sha256 and
//! size of the compressed file (which librepo checks after download) and of the uncompressed
//! data, its location (`repodata/<sha256>-<type>.xml.gz`, unique so caches never mix
//! generations) and timestamp.
//!
//! Owns: that document and the metadata file names. Must not: compress or read RPMs.

use super::xml::attr;

/// One compressed metadata file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFile {
    /// `primary`, `filelists` or `other`.
    pub kind: &'static str,
    pub sha256: String,
    pub size: u64,
    pub open_sha256: String,
    pub open_size: u64,
}

impl DataFile {
    /// The path relative to the repository root, as `location href` gives it.
    pub fn href(&self) -> String {
        format!("repodata/{}-{}.xml.gz", self.sha256, self.kind)
    }
}

/// The document; `revision` and every `timestamp` are `time` (seconds since the epoch).
pub fn document(time: u64, files: &[DataFile]) -> String {
    let mut out = String::with_capacity(512 * files.len() + 256);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    out.push_str(&format!("  <revision>{time}</revision>\n"));
    for f in files {
        out.push_str("  <data type=\"");
        attr(&mut out, f.kind);
        out.push_str("\">\n");
        out.push_str(&format!(
            "    <checksum type=\"sha256\">{}</checksum>\n    <open-checksum type=\"sha256\">{}</open-checksum>\n",
            f.sha256, f.open_sha256
        ));
        out.push_str("    <location href=\"");
        attr(&mut out, &f.href());
        out.push_str("\"/>\n");
        out.push_str(&format!(
            "    <timestamp>{time}</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            f.size, f.open_size
        ));
    }
    out.push_str("</repomd>\n");
    out
}
