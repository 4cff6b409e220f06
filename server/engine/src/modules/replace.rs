//! `replace`: replace every match of a (Python, multiline) `regexp` in a file, optionally
//! only in the section between `after` and `before`, as Ansible's module does
//! (`N replacements made`). The edit is a pure function ([`edit`]); `text_edit` does the I/O.

use super::session::Session;
use super::text_edit::{self, Common, Edited};
use super::{Call, ModuleResult, arg_str, pyregex};
use crate::ssh::SshError;

#[derive(Clone, Debug, Default)]
pub struct Spec {
    pub regexp: String,
    pub replace: String,
    pub after: Option<String>,
    pub before: Option<String>,
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
    let Some(regexp) = arg_str(args, "regexp") else {
        return Ok(ModuleResult::failed("missing required arguments: regexp"));
    };
    let spec = Spec {
        regexp,
        replace: arg_str(args, "replace").unwrap_or_default(),
        after: arg_str(args, "after"),
        before: arg_str(args, "before"),
    };
    let cur = match text_edit::read(s, &common.path).await? {
        Ok(c) => c,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    if let Some(r) = text_edit::refusal("replace", &common.path, &cur.state, false) {
        return Ok(r);
    }
    let Some(text) = cur.text.clone() else {
        return Ok(ModuleResult::failed(format!(
            "{} is not a regular file",
            common.path
        )));
    };
    match edit(&text, &spec) {
        Ok(e) => text_edit::finish(call, s, &common, &cur, e).await,
        Err(e) => Ok(ModuleResult::failed(e)),
    }
}

pub fn edit(contents: &str, spec: &Spec) -> Result<Edited, String> {
    let pattern = match (&spec.after, &spec.before) {
        (Some(a), Some(b)) => Some(format!("{a}(?P<subsection>.*?){b}")),
        (Some(a), None) => Some(format!("{a}(?P<subsection>.*)")),
        (None, Some(b)) => Some(format!("(?P<subsection>.*){b}")),
        (None, None) => None,
    };
    let (start, end) = match &pattern {
        Some(p) => {
            let re = pyregex::compile(p, false, true)?;
            match re.captures(contents).and_then(|c| c.name("subsection")) {
                Some(m) => (m.start(), m.end()),
                None => {
                    return Ok(Edited {
                        text: contents.to_string(),
                        msg: format!(
                            "Pattern for before/after params did not match the given file: {p}"
                        ),
                        extra: Vec::new(),
                    });
                }
            }
        }
        None => (0, contents.len()),
    };
    let section = &contents[start..end];
    let re = pyregex::compile(&spec.regexp, true, false)?;
    let n = re.find_iter(section).count();
    let replaced = re.replace_all(section, pyregex::replacement(&spec.replace).as_str());
    if n == 0 || replaced == section {
        return Ok(Edited {
            text: contents.to_string(),
            msg: String::new(),
            extra: Vec::new(),
        });
    }
    Ok(Edited {
        text: format!("{}{replaced}{}", &contents[..start], &contents[end..]),
        msg: format!("{n} replacements made"),
        extra: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        let hosts = "127.0.0.1 localhost\n10.0.0.1 old.host.name other\n";
        let cases: &[(&str, &str, Spec, &str, &str)] = &[
            (
                "documented: every match",
                hosts,
                Spec {
                    regexp: r"(\s+)old\.host\.name(\s+.*)?$".into(),
                    replace: r"\1new.host.name\2".into(),
                    ..Spec::default()
                },
                "127.0.0.1 localhost\n10.0.0.1 new.host.name other\n",
                "1 replacements made",
            ),
            (
                "every match",
                "a old\nb old\n",
                Spec {
                    regexp: r"old$".into(),
                    replace: "new".into(),
                    ..Spec::default()
                },
                "a new\nb new\n",
                "2 replacements made",
            ),
            (
                "after",
                "<VirtualHost>\nx\n</VirtualHost>\nx\n",
                Spec {
                    regexp: "^x$".into(),
                    replace: "y".into(),
                    after: Some("</VirtualHost>".into()),
                    ..Spec::default()
                },
                "<VirtualHost>\nx\n</VirtualHost>\ny\n",
                "1 replacements made",
            ),
            (
                "after and before",
                "a\n[s]\nk=1\n[t]\nk=1\n",
                Spec {
                    regexp: "^k=1$".into(),
                    replace: "k=2".into(),
                    after: Some(r"\[s\]".into()),
                    before: Some(r"\[t\]".into()),
                },
                "a\n[s]\nk=2\n[t]\nk=1\n",
                "1 replacements made",
            ),
            (
                "named group",
                "port=80\n",
                Spec {
                    regexp: r"^port=(?P<p>\d+)$".into(),
                    replace: r"port=\g<p>80".into(),
                    ..Spec::default()
                },
                "port=8080\n",
                "1 replacements made",
            ),
            (
                "no match",
                "a\n",
                Spec {
                    regexp: "^b".into(),
                    replace: "c".into(),
                    ..Spec::default()
                },
                "a\n",
                "",
            ),
            (
                "remove lines",
                "# c\nk\n# d\n",
                Spec {
                    regexp: "^#.*\n".into(),
                    ..Spec::default()
                },
                "k\n",
                "2 replacements made",
            ),
            (
                "section not found",
                "a\n",
                Spec {
                    regexp: "a".into(),
                    replace: "b".into(),
                    after: Some("zzz".into()),
                    ..Spec::default()
                },
                "a\n",
                "Pattern for before/after params did not match the given file: zzz(?P<subsection>.*)",
            ),
        ];
        for (name, before, s, after, msg) in cases {
            let e = edit(before, s).unwrap();
            assert_eq!(e.text, *after, "{name}");
            assert_eq!(e.msg, *msg, "{name}");
        }
        // Idempotent once the pattern no longer matches what it replaced.
        let s = &cases[0].2;
        let once = edit(hosts, s).unwrap().text;
        assert_eq!(edit(&once, s).unwrap().msg, "");
        assert!(
            edit(
                "a",
                &Spec {
                    regexp: "(".into(),
                    ..Spec::default()
                }
            )
            .is_err()
        );
    }
}
