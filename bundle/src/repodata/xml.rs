//! XML text and attribute values escaped the way libxml2 (hence createrepo_c) escapes them, so
//! Cairn's metadata is byte-for-byte comparable with createrepo_c's.
//!
//! Owns: escaping only. The documents are written directly by `primary`, `filelists`, `other`
//! and `repomd`: their shape is fixed, and writing it straight keeps generation fast and the
//! output identical to createrepo_c's (a general XML writer escapes quotes in text and indents
//! differently). Must not: know any element names.

/// Appends `s` as element text: `&`, `<`, `>` and carriage returns escaped; control characters
/// that XML 1.0 forbids are dropped (a header may hold anything).
pub fn text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
}

/// Appends `s` as an attribute value (inside double quotes): as [`text`], plus `"`, and the
/// whitespace that attribute normalisation would otherwise fold.
pub fn attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
}

/// `<name>text</name>` on its own line, indented by `indent`.
pub fn element(out: &mut String, indent: &str, name: &str, value: &str) {
    out.push_str(indent);
    out.push('<');
    out.push_str(name);
    out.push('>');
    text(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push_str(">\n");
}

/// ` name="value"`.
pub fn attribute(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    attr(out, value);
    out.push('"');
}

/// `<version epoch=".." ver=".." rel=".."/>` as all three files write it.
pub fn version(out: &mut String, p: &super::header::Package) {
    out.push_str("  <version");
    attribute(out, "epoch", &p.epoch);
    attribute(out, "ver", &p.version);
    attribute(out, "rel", &p.release);
    out.push_str("/>\n");
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_like_libxml2() {
        let cases = [
            (
                "a<b>&c\"d'e",
                "a&lt;b&gt;&amp;c\"d'e",
                "a&lt;b&gt;&amp;c&quot;d'e",
            ),
            ("l1\nl2\tx\ry", "l1\nl2\tx&#13;y", "l1&#10;l2&#9;x&#13;y"),
            ("bell\u{7}é", "bellé", "bellé"),
        ];
        for (input, text, attr) in cases {
            let (mut t, mut a) = (String::new(), String::new());
            super::text(&mut t, input);
            super::attr(&mut a, input);
            assert_eq!((t.as_str(), a.as_str()), (text, attr), "{input:?}");
        }
    }
}
