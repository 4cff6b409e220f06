//! `primary.xml`: every package's identity, checksum, sizes, location, dependencies and its
//! "primary" files, in createrepo_c's exact layout.
//!
//! Owns: that document's elements and their order. Must not: read RPMs (`header`) or decide
//! which requires are listed (also `header`, as createrepo_c does it while parsing).

use super::header::{Dep, Package, is_primary};
use super::xml::{attribute, element, version};

pub const NAMESPACES: &str = "xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\"";

/// The whole document for `packages`, in the order given.
pub fn document(packages: &[Package]) -> String {
    let mut out = String::with_capacity(2048 * packages.len() + 256);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata ");
    out.push_str(NAMESPACES);
    out.push_str(&format!(" packages=\"{}\">\n", packages.len()));
    for p in packages {
        package(&mut out, p);
    }
    out.push_str("</metadata>");
    out
}

fn package(out: &mut String, p: &Package) {
    out.push_str("<package type=\"rpm\">\n");
    element(out, "  ", "name", &p.name);
    element(out, "  ", "arch", &p.arch);
    version(out, p);
    out.push_str("  <checksum type=\"sha256\" pkgid=\"YES\">");
    out.push_str(&p.pkgid);
    out.push_str("</checksum>\n");
    element(out, "  ", "summary", &p.summary);
    element(out, "  ", "description", &p.description);
    element(out, "  ", "packager", &p.packager);
    element(out, "  ", "url", &p.url);
    out.push_str(&format!(
        "  <time file=\"{}\" build=\"{}\"/>\n  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>\n",
        p.time_file, p.time_build, p.size_package, p.size_installed, p.size_archive
    ));
    out.push_str("  <location");
    attribute(out, "href", &p.href);
    out.push_str("/>\n  <format>\n");
    element(out, "    ", "rpm:license", &p.license);
    element(out, "    ", "rpm:vendor", &p.vendor);
    element(out, "    ", "rpm:group", &p.group);
    element(out, "    ", "rpm:buildhost", &p.buildhost);
    element(out, "    ", "rpm:sourcerpm", &p.sourcerpm);
    out.push_str(&format!(
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>\n",
        p.header_start, p.header_end
    ));
    for (name, deps, is_requires) in [
        ("provides", &p.provides, false),
        ("requires", &p.requires, true),
        ("conflicts", &p.conflicts, false),
        ("obsoletes", &p.obsoletes, false),
        ("suggests", &p.suggests, false),
        ("enhances", &p.enhances, false),
        ("recommends", &p.recommends, false),
        ("supplements", &p.supplements, false),
    ] {
        dependencies(out, name, deps, is_requires);
    }
    for f in p.files.iter().filter(|f| is_primary(&f.path)) {
        super::filelists::file(out, "    ", f);
    }
    out.push_str("  </format>\n</package>\n");
}

/// `<rpm:NAME>` with one `<rpm:entry>` per dependency; nothing when there are none.
fn dependencies(out: &mut String, name: &str, deps: &[Dep], is_requires: bool) {
    if deps.is_empty() {
        return;
    }
    out.push_str(&format!("    <rpm:{name}>\n"));
    for d in deps {
        out.push_str("      <rpm:entry");
        attribute(out, "name", &d.name);
        if !d.flags.is_empty() {
            attribute(out, "flags", d.flags);
            for (attr, v) in [
                ("epoch", &d.epoch),
                ("ver", &d.version),
                ("rel", &d.release),
            ] {
                if !v.is_empty() {
                    attribute(out, attr, v);
                }
            }
        }
        if is_requires && d.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    out.push_str(&format!("    </rpm:{name}>\n"));
}
