//! `blockinfile`: keep a block of lines between two marker lines (`# {mark} ANSIBLE MANAGED
//! BLOCK` by default, `{mark}` replaced by `marker_begin`/`marker_end`), inserted at
//! `insertafter`/`insertbefore` (regex, `EOF`, `BOF`) when the markers are not there yet,
//! replaced in place when they are, removed with `state: absent` or an empty block. The edit
//! is a pure function ([`edit`]) ported from Ansible's module; `text_edit` does the I/O.

use super::session::Session;
use super::text_edit::{self, Common, Edited};
use super::{Call, ModuleResult, arg_bool, arg_str, pyregex};
use crate::ssh::SshError;

#[derive(Clone, Debug)]
pub struct Spec {
    pub block: String,
    pub marker: String,
    pub marker_begin: String,
    pub marker_end: String,
    pub insertafter: Option<String>,
    pub insertbefore: Option<String>,
    pub present: bool,
    pub prepend_newline: bool,
    pub append_newline: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            block: String::new(),
            marker: "# {mark} ANSIBLE MANAGED BLOCK".into(),
            marker_begin: "BEGIN".into(),
            marker_end: "END".into(),
            insertafter: None,
            insertbefore: None,
            present: true,
            prepend_newline: false,
            append_newline: false,
        }
    }
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    // The read and the write back in one shell on the host.
    let mut s = Session::new(call);
    let r = run_in(call, &mut s).await;
    s.close().await;
    r
}

async fn run_in(call: &Call<'_>, s: &mut Session<'_>) -> Result<ModuleResult, SshError> {
    let args = call.args;
    let common = match Common::from_args(call) {
        Ok(c) => c,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let parsed = (|| {
        let state = arg_str(args, "state").unwrap_or_else(|| "present".into());
        if state != "present" && state != "absent" {
            return Err(format!(
                "value of state must be one of: absent, present, got: {state}"
            ));
        }
        let d = Spec::default();
        let spec = Spec {
            block: arg_str(args, "block")
                .or_else(|| arg_str(args, "content"))
                .unwrap_or_default(),
            marker: arg_str(args, "marker").unwrap_or(d.marker),
            marker_begin: arg_str(args, "marker_begin").unwrap_or(d.marker_begin),
            marker_end: arg_str(args, "marker_end").unwrap_or(d.marker_end),
            insertafter: arg_str(args, "insertafter"),
            insertbefore: arg_str(args, "insertbefore"),
            present: state == "present",
            prepend_newline: arg_bool(args, "prepend_newline", false)?,
            append_newline: arg_bool(args, "append_newline", false)?,
        };
        if spec.insertafter.is_some() && spec.insertbefore.is_some() {
            return Err("parameters are mutually exclusive: insertbefore|insertafter".into());
        }
        Ok((spec, arg_bool(args, "create", false)?))
    })();
    let (spec, create) = match parsed {
        Ok(p) => p,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let cur = match text_edit::read(s, &common.path).await? {
        Ok(c) => c,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    if let Some(r) = text_edit::refusal("blockinfile", &common.path, &cur.state, create) {
        return Ok(r);
    }
    if cur.text.is_none() && !spec.present {
        return Ok(ModuleResult {
            msg: Some(format!("File {} not present", common.path)),
            ..ModuleResult::default()
        });
    }
    match edit(cur.text.as_deref(), &spec) {
        Ok(e) => text_edit::finish(call, s, &common, &cur, e).await,
        Err(e) => Ok(ModuleResult::failed(e)),
    }
}

/// The block edit on `original` (`None`: the file does not exist yet).
pub fn edit(original: Option<&str>, spec: &Spec) -> Result<Edited, String> {
    let mut lines: Vec<String> = original.map(text_edit::lines).unwrap_or_default();
    let (mut insertafter, insertbefore) = (spec.insertafter.clone(), spec.insertbefore.clone());
    if insertafter.is_none() && insertbefore.is_none() {
        insertafter = Some("EOF".into());
    }
    let pattern = match (&insertafter, &insertbefore) {
        (Some(a), _) if a != "EOF" => Some(a.clone()),
        (None, Some(b)) if b != "BOF" => Some(b.clone()),
        _ => None,
    };
    // `(?m)` at the start: Ansible searches the whole text (re.MULTILINE).
    let multiline = pattern.as_deref().is_some_and(|p| p.starts_with("(?m)"));
    let insertre = match &pattern {
        Some(p) => Some(pyregex::compile(
            p.trim_start_matches("(?m)"),
            multiline,
            false,
        )?),
        None => None,
    };
    let marker0 = spec.marker.replace("{mark}", &spec.marker_begin) + "\n";
    let marker1 = spec.marker.replace("{mark}", &spec.marker_end) + "\n";
    let blocklines: Vec<String> = if spec.present && !spec.block.is_empty() {
        let mut block = spec.block.clone();
        if !block.ends_with('\n') {
            block.push('\n');
        }
        let mut v = vec![marker0.clone()];
        v.extend(text_edit::lines(&block));
        v.push(marker1.clone());
        v
    } else {
        Vec::new()
    };
    let (mut n0, mut n1) = (None, None);
    for (i, l) in lines.iter().enumerate() {
        if *l == marker0 {
            n0 = Some(i);
        }
        if *l == marker1 {
            n1 = Some(i);
        }
    }
    let mut at = match (n0, n1) {
        (Some(a), Some(b)) if a < b => {
            lines.drain(a..=b);
            a
        }
        (Some(a), Some(b)) => {
            lines.drain(b..=a);
            b
        }
        _ => {
            let mut found = None;
            if let Some(re) = &insertre {
                if multiline {
                    let text = original.unwrap_or("");
                    if let Some(m) = re.find(text) {
                        found = Some(if insertafter.is_some() {
                            text[..m.end()].matches('\n').count()
                        } else {
                            text[..m.start()].matches('\n').count()
                        });
                    }
                } else {
                    for (i, l) in lines.iter().enumerate() {
                        if re.is_match(l.strip_suffix('\n').unwrap_or(l)) {
                            found = Some(i);
                        }
                    }
                }
                match found {
                    None => lines.len(),
                    Some(i) if insertafter.is_some() => i + 1,
                    Some(i) => i,
                }
            } else if insertbefore.is_some() {
                0
            } else {
                lines.len()
            }
        }
    };
    if at > 0 && !lines[at - 1].ends_with('\n') {
        lines[at - 1].push('\n');
    }
    if spec.prepend_newline && spec.present && at != 0 && lines[at - 1] != "\n" {
        lines.insert(at, "\n".into());
        at += 1;
    }
    let n = blocklines.len();
    lines.splice(at..at, blocklines);
    if spec.append_newline && spec.present {
        let after = at + n;
        if after < lines.len() && lines[after] != "\n" {
            lines.insert(after, "\n".into());
        }
    }
    let result = lines.concat();
    let msg = if original == Some(result.as_str()) {
        ""
    } else if original.is_none() {
        "File created"
    } else if n == 0 {
        "Block removed"
    } else {
        "Block inserted"
    };
    Ok(Edited {
        text: result,
        msg: msg.into(),
        extra: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(block: &str) -> Spec {
        Spec {
            block: block.into(),
            ..Spec::default()
        }
    }

    #[test]
    fn cases() {
        let m0 = "# BEGIN ANSIBLE MANAGED BLOCK\n";
        let m1 = "# END ANSIBLE MANAGED BLOCK\n";
        let with = |b: &str| format!("{m0}{b}{m1}");
        let cases: Vec<(&str, Option<String>, Spec, String, &str)> = vec![
            (
                "insert at EOF",
                Some("a\n".into()),
                spec("x\ny"),
                format!("a\n{}", with("x\ny\n")),
                "Block inserted",
            ),
            (
                "file without final newline",
                Some("a".into()),
                spec("x"),
                format!("a\n{}", with("x\n")),
                "Block inserted",
            ),
            (
                "replace in place",
                Some(format!("a\n{}b\n", with("old\n"))),
                spec("new"),
                format!("a\n{}b\n", with("new\n")),
                "Block inserted",
            ),
            (
                "unchanged",
                Some(format!("a\n{}", with("x\n"))),
                spec("x"),
                format!("a\n{}", with("x\n")),
                "",
            ),
            (
                "remove with empty block",
                Some(format!("a\n{}b\n", with("x\n"))),
                spec(""),
                "a\nb\n".into(),
                "Block removed",
            ),
            (
                "remove with state absent",
                Some(format!("a\n{}", with("x\n"))),
                Spec {
                    present: false,
                    ..spec("x")
                },
                "a\n".into(),
                "Block removed",
            ),
            ("create", None, spec("x"), with("x\n"), "File created"),
            (
                "insertbefore BOF",
                Some("a\n".into()),
                Spec {
                    insertbefore: Some("BOF".into()),
                    ..spec("x")
                },
                format!("{}a\n", with("x\n")),
                "Block inserted",
            ),
            (
                "insertafter regex (last match)",
                Some("[s]\nk=1\n[s]\nk=2\n".into()),
                Spec {
                    insertafter: Some(r"^\[s\]".into()),
                    ..spec("x=1")
                },
                format!("[s]\nk=1\n[s]\n{}k=2\n", with("x=1\n")),
                "Block inserted",
            ),
            (
                "insertbefore regex",
                Some("a\n</html>\n".into()),
                Spec {
                    insertbefore: Some("</html>".into()),
                    ..spec("b")
                },
                format!("a\n{}</html>\n", with("b\n")),
                "Block inserted",
            ),
            (
                "custom marker",
                Some("".into()),
                Spec {
                    marker: "<!-- {mark} cairn -->".into(),
                    marker_begin: "start".into(),
                    marker_end: "stop".into(),
                    ..spec("p")
                },
                "<!-- start cairn -->\np\n<!-- stop cairn -->\n".into(),
                "Block inserted",
            ),
            (
                "prepend and append newline",
                Some("a\nb\n".into()),
                Spec {
                    insertafter: Some("^a".into()),
                    prepend_newline: true,
                    append_newline: true,
                    ..spec("x")
                },
                format!("a\n\n{}\nb\n", with("x\n")),
                "Block inserted",
            ),
            (
                "multiline insertafter",
                Some("a\nb\nc\n".into()),
                Spec {
                    insertafter: Some("(?m)^a\nb$".into()),
                    ..spec("x")
                },
                format!("a\nb\n{}c\n", with("x\n")),
                "Block inserted",
            ),
        ];
        for (name, before, s, after, msg) in cases {
            let e = edit(before.as_deref(), &s).unwrap();
            assert_eq!(e.text, after, "{name}");
            assert_eq!(e.msg, msg, "{name}");
            let again = edit(Some(&e.text), &s).unwrap();
            assert_eq!(again.text, e.text, "{name}: second run");
        }
    }
}
