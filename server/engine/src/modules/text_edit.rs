//! The flow `lineinfile`, `blockinfile` and `replace` share: read the file (state, real
//! path and content in one script), edit its text on the controller, and when it changed write
//! it back atomically with backup, validate and attributes in one more script (see
//! `remote_path::put`); when only attributes differ, one script sets them. Both scripts run
//! in the same shell on the host, one exec (the module's [`Session`]). Check mode stops
//! before writing; `--diff` gets the texts before and after.
//! Must not: know any module's editing rules (they are pure functions in each module).

use super::remote_path::{self, Attrs, PathState, Put};
use super::session::Session;
use super::{Call, Diff, ModuleResult, arg_bool, arg_str, path_arg};
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

/// What a module's edit decided.
pub struct Edited {
    /// The new text (equal to the old one: nothing to write).
    pub text: String,
    pub msg: String,
    /// Fields for the result (`found`...).
    pub extra: Vec<(&'static str, serde_json::Value)>,
}

/// The file as read.
pub struct Current {
    pub path: String,
    /// Where writes go: symbolic links are followed, as Ansible does.
    pub real: String,
    pub state: PathState,
    /// `None` when absent.
    pub text: Option<String>,
    /// Who a file written there belongs to (see `remote_path::creator`); `None` also when
    /// the directory is missing.
    pub creator: Option<remote_path::Owner>,
    /// The file's directory exists (a missing one is created for `create: true`).
    pub parent_exists: bool,
}

/// Read `path`: state, real path, content.
pub async fn read(s: &mut Session<'_>, path: &str) -> Result<Result<Current, String>, SshError> {
    let marker = format!("CAIRN-CONTENT-{:08x}", rand::random::<u32>());
    let q = shell_quote(path);
    let parent = super::copy::parent_of(path);
    let probes = [
        remote_path::Probe {
            path,
            follow: true,
            sum: remote_path::Sum::None,
        },
        remote_path::Probe {
            path: &parent,
            follow: true,
            sum: remote_path::Sum::None,
        },
        remote_path::Probe {
            path: remote_path::WHOAMI,
            follow: true,
            sum: remote_path::Sum::None,
        },
    ];
    // The probe prints `R 0 <real path>` for a link: no `readlink` for a plain file.
    // No `exit`: the write back, when there is one, runs in the same shell.
    let script = format!(
        "{}echo {marker}\n[ -f {q} ] && cat -- {q}; true\n",
        remote_path::probe_script(&probes),
    );
    let out = s.first(&script).await?;
    let needle = format!("{marker}\n");
    let pos = out
        .stdout
        .windows(needle.len())
        .position(|w| w == needle.as_bytes());
    let Some(pos) = pos else {
        return Ok(Err(format!(
            "could not read {path}: {}",
            out.stderr_str().trim()
        )));
    };
    let head = String::from_utf8_lossy(&out.stdout[..pos]).into_owned();
    let body = &out.stdout[pos + needle.len()..];
    let mut states = remote_path::parse_probe_output(&head, &probes).into_iter();
    let (state, parent_st, me) = (
        states.next().unwrap_or_default(),
        states.next().unwrap_or_default(),
        states.next().unwrap_or_default(),
    );
    let real = head
        .lines()
        .find_map(|l| l.strip_prefix("R 0 "))
        .filter(|r| !r.is_empty())
        .unwrap_or(path)
        .to_string();
    let text = if state.is_file() {
        match String::from_utf8(body.to_vec()) {
            Ok(t) => Some(t),
            Err(_) => {
                return Ok(Err(format!(
                    "{path} is not UTF-8 text: Cairn edits text files only"
                )));
            }
        }
    } else {
        None
    };
    // A write goes beside the real file: who creates it there is known only when that is
    // the directory probed.
    let creator = if real == path {
        remote_path::creator(&me, &parent_st)
    } else {
        None
    };
    let parent_exists = parent_st.is_dir() || real != path;
    Ok(Ok(Current {
        path: path.to_string(),
        real,
        state,
        text,
        creator,
        parent_exists,
    }))
}

/// The common arguments.
pub struct Common {
    pub path: String,
    pub attrs: Attrs,
    pub backup: bool,
    pub validate: Option<String>,
}

impl Common {
    pub fn from_args(call: &Call<'_>) -> Result<Common, String> {
        let path = path_arg(call.args).ok_or("missing required arguments: path")?;
        Ok(Common {
            path,
            attrs: Attrs::from_args(call.args)?,
            backup: arg_bool(call.args, "backup", false)?,
            validate: arg_str(call.args, "validate"),
        })
    }
}

/// Write the edit back (unless unchanged or in check mode), set attributes, and build the
/// result.
pub async fn finish(
    call: &Call<'_>,
    s: &mut Session<'_>,
    common: &Common,
    cur: &Current,
    edited: Edited,
) -> Result<ModuleResult, SshError> {
    let mut r = ModuleResult::default();
    let old = cur.text.clone();
    let changed = old.as_deref() != Some(edited.text.as_str());
    let mut msg = edited.msg;
    for (k, v) in edited.extra {
        r.extra.insert(k.into(), v);
    }
    if call.diff && changed {
        r.diff.push(Diff {
            before_header: format!("{} (content)", cur.path),
            after_header: format!("{} (content)", cur.path),
            before: old.clone().unwrap_or_default(),
            after: edited.text.clone(),
        });
    }
    if changed {
        r.changed = true;
        if !call.check {
            if !cur.state.exists && !cur.parent_exists {
                let parent = super::copy::parent_of(&cur.real);
                let out = s
                    .sh(&format!("mkdir -p -- {}", shell_quote(&parent)))
                    .await?;
                if !out.success() {
                    return Ok(ModuleResult::failed(format!(
                        "Error creating {parent} ({})",
                        out.stderr_str().trim()
                    )));
                }
            }
            let put = Put {
                dest: &cur.real,
                current: &cur.state,
                attrs: &common.attrs,
                preserve_mode: None,
                backup: common.backup,
                validate: common.validate.as_deref(),
                creator: cur.creator.clone(),
            };
            let w = match remote_path::put(s, &put, edited.text.as_bytes()).await? {
                Ok(w) => w,
                Err(e) => return Ok(ModuleResult::failed(e)),
            };
            if let Some((rc, _, err)) = w.invalid {
                let mut f =
                    ModuleResult::failed(format!("failed to validate: rc:{rc} error:{err}"));
                f.rc = Some(rc);
                return Ok(f);
            }
            if let Some(b) = w.backup_file {
                r.extra.insert("backup".into(), b.clone().into());
                r.extra.insert("backup_file".into(), b.into());
            }
        }
        if cur.state.exists && !common.attrs.changes(&cur.state).is_empty() {
            msg.push_str(" and ownership, perms or SE linux context changed");
        }
    } else if cur.state.exists {
        let changes = common.attrs.changes(&cur.state);
        if !changes.is_empty() {
            r.changed = true;
            if !msg.is_empty() {
                msg.push_str(" and ");
            }
            msg.push_str("ownership, perms or SE linux context changed");
            if call.diff {
                let (b, a) = changes.diff_maps(&cur.state);
                let mut d = remote_path::state_diff(&cur.path, b, a);
                d.before_header = format!("{} (file attributes)", cur.path);
                d.after_header = d.before_header.clone();
                r.diff.push(d);
            }
            if !call.check
                && let Err(e) = remote_path::apply(s, &cur.real, &changes, false).await?
            {
                return Ok(ModuleResult::failed(e));
            }
        }
    }
    r.msg = Some(msg);
    Ok(r)
}

/// The failure for a path that is a directory, or that is missing when the module may not
/// create it, in each module's own words and `rc` (Ansible's 256 and 257).
pub fn refusal(module: &str, path: &str, state: &PathState, create: bool) -> Option<ModuleResult> {
    let (rc, msg) = if state.is_dir() {
        (256, format!("Path {path} is a directory !"))
    } else if !state.exists && !create {
        let msg = match module {
            "lineinfile" => format!("Destination {path} does not exist !"),
            _ => format!("Path {path} does not exist !"),
        };
        (257, msg)
    } else {
        return None;
    };
    let mut r = ModuleResult::failed(msg);
    r.rc = Some(rc);
    Some(r)
}

/// `text` split into lines that keep their `\n` (Python's `readlines()` on bytes).
pub fn lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_in_ansible_words() {
        let dir = remote_path::parse_probes("P 0 41ed 0 0 1 1 1 1 1 rwx r r\n", 1).remove(0);
        let file = remote_path::parse_probes("P 0 81a4 0 0 1 1 1 1 1 rw r r\n", 1).remove(0);
        let none = PathState::default();
        let shown = |r: Option<ModuleResult>| r.map(|r| (r.rc, r.msg.unwrap_or_default()));
        let cases = [
            (
                "lineinfile",
                &dir,
                false,
                Some((Some(256), "Path /x is a directory !".to_string())),
            ),
            (
                "lineinfile",
                &none,
                false,
                Some((Some(257), "Destination /x does not exist !".to_string())),
            ),
            ("lineinfile", &none, true, None),
            (
                "blockinfile",
                &none,
                false,
                Some((Some(257), "Path /x does not exist !".to_string())),
            ),
            (
                "replace",
                &none,
                false,
                Some((Some(257), "Path /x does not exist !".to_string())),
            ),
            (
                "replace",
                &dir,
                false,
                Some((Some(256), "Path /x is a directory !".to_string())),
            ),
            ("replace", &file, false, None),
        ];
        for (module, st, create, want) in cases {
            assert_eq!(shown(refusal(module, "/x", st, create)), want, "{module}");
        }
    }
}
