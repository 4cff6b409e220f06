//! `other.xml`: each package's changelog entries (already limited and ordered by `header`).
//!
//! Owns: that document. Must not: read RPMs.

use super::filelists::package_open;
use super::header::Package;
use super::xml::{attribute, text};

/// The whole document for `packages`, in the order given.
pub fn document(packages: &[Package]) -> String {
    let mut out = String::with_capacity(512 * packages.len() + 256);
    out.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{}\">\n",
        packages.len()
    ));
    for p in packages {
        package_open(&mut out, p);
        for c in &p.changelogs {
            out.push_str("  <changelog");
            attribute(&mut out, "author", &c.author);
            attribute(&mut out, "date", &c.date.to_string());
            out.push('>');
            text(&mut out, &c.text);
            out.push_str("</changelog>\n");
        }
        out.push_str("</package>\n");
    }
    out.push_str("</otherdata>");
    out
}
