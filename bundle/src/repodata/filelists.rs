//! `filelists.xml`: every path of every package (directories and `%ghost` files marked), which
//! dnf needs for file dependencies outside the primary paths and for `repoquery -l`.
//!
//! Owns: that document and the `<file>` element (shared with `primary`). Must not: read RPMs.

use super::header::{FileKind, Package, PkgFile};
use super::xml::{attribute, text, version};

/// The whole document for `packages`, in the order given.
pub fn document(packages: &[Package]) -> String {
    let mut out = String::with_capacity(512 * packages.len() + 256);
    out.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{}\">\n",
        packages.len()
    ));
    for p in packages {
        package_open(&mut out, p);
        for f in &p.files {
            file(&mut out, "  ", f);
        }
        out.push_str("</package>\n");
    }
    out.push_str("</filelists>");
    out
}

/// `<package pkgid name arch>` and its `<version/>`, as `filelists` and `other` open a package.
pub fn package_open(out: &mut String, p: &Package) {
    out.push_str("<package");
    attribute(out, "pkgid", &p.pkgid);
    attribute(out, "name", &p.name);
    attribute(out, "arch", &p.arch);
    out.push_str(">\n");
    version(out, p);
}

/// `<file>` with its `type` when it is not a plain file.
pub fn file(out: &mut String, indent: &str, f: &PkgFile) {
    out.push_str(indent);
    out.push_str(match f.kind {
        FileKind::File => "<file>",
        FileKind::Dir => "<file type=\"dir\">",
        FileKind::Ghost => "<file type=\"ghost\">",
    });
    text(out, &f.path);
    out.push_str("</file>\n");
}
