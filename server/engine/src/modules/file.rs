//! `file`: make a path be a file, directory, symbolic or hard link, absent, or touched, with
//! mode/owner/group (and `recurse` over a directory), as Ansible's `file` module does.
//!
//! One script probes the path (and `src` for links); one script makes the change and prints
//! the final state (so results carry the real mode and owner); `recurse` adds one script
//! listing the tree (`find` + `stat`) and applies only what differs. All in one shell on the
//! host, one exec (a [`Session`]). `--diff` shows the state and
//! attribute changes as Ansible's `{path, state, mode...}` before/after maps.
//! Must not: write file contents (see `copy`).

use std::fmt::Write as _;

use serde_json::Value as Json;

use super::remote_path::{self, Attrs, PathState, Probe, Sum};
use super::session::Session;
use super::{Call, ModuleResult, arg_bool, arg_str, path_arg};
use crate::playbook::Vars;
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

const STATES: &[&str] = &["file", "directory", "link", "hard", "absent", "touch"];

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    // The probe and the change in one shell on the host.
    let mut s = Session::new(call);
    let r = run_inner(call, &mut s).await;
    s.close().await;
    match r? {
        Ok(r) => Ok(r),
        Err(msg) => Ok(ModuleResult::failed(msg)),
    }
}

async fn run_inner(
    call: &Call<'_>,
    s: &mut Session<'_>,
) -> Result<Result<ModuleResult, String>, SshError> {
    let args = call.args;
    let Some(path) = path_arg(args) else {
        return Ok(Err("missing required arguments: path".into()));
    };
    let path = if path.len() > 1 {
        path.trim_end_matches('/').to_string()
    } else {
        path
    };
    let attrs = match Attrs::from_args(args) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    let flags = (|| {
        Ok::<_, String>((
            arg_bool(args, "recurse", false)?,
            arg_bool(args, "force", false)?,
            arg_bool(args, "follow", true)?,
        ))
    })();
    let (recurse, force, follow) = match flags {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    let src = arg_str(args, "src");
    let state_arg = arg_str(args, "state");
    if let Some(s) = &state_arg
        && !STATES.contains(&s.as_str())
    {
        return Ok(Err(format!(
            "value of state must be one of: {}, got: {s}",
            STATES.join(", ")
        )));
    }
    let link_like = matches!(state_arg.as_deref(), Some("link" | "hard"));
    // The link itself for link states; what it points to otherwise (follow: true).
    let link_src_abs = src.as_ref().map(|s| {
        if s.starts_with('/') {
            s.clone()
        } else {
            format!("{}/{s}", super::copy::parent_of(&path))
        }
    });
    let probe_src = link_src_abs.clone().unwrap_or_else(|| "/dev/null".into());
    let probes = [
        Probe {
            path: &path,
            follow: follow && !link_like,
            sum: Sum::None,
        },
        Probe {
            path: &probe_src,
            follow: true,
            sum: Sum::None,
        },
    ];
    let states = remote_path::probe_first(s, &probes).await?;
    let (st, src_st) = (&states[0], &states[1]);
    let state = match state_arg.as_deref() {
        Some(s) => s,
        None if recurse => "directory",
        None if src.is_some() => "link",
        None if st.exists && st.is_dir() => "directory",
        None => "file",
    };
    if recurse && state != "directory" {
        return Ok(Err("recurse option requires state to be 'directory'".into()));
    }
    let mut r = ModuleResult::default();
    r.extra.insert("path".into(), path.clone().into());
    let prev = st.state_name();
    let mut before = Vars::new();
    let mut after = Vars::new();
    before.insert("state".into(), prev.into());
    after.insert("state".into(), state.into());
    // The shell work to do, and whether the path's state itself changes.
    let mut script = String::new();
    let mut changed = false;
    let mut make_dir = false;
    match state {
        "absent" => {
            if st.exists {
                changed = true;
                let _ = writeln!(script, "rm -rf -- {} || exit 3", shell_quote(&path));
            }
            r.extra.insert("state".into(), "absent".into());
            finish_diff(call, &mut r, &path, changed, before, after);
            return apply(call, s, r, &script, changed, None).await;
        }
        "file" => {
            if !st.exists {
                return Ok(Err(format!("file ({path}) is absent, cannot continue")));
            }
            if !st.is_file() {
                return Ok(Err(format!("file ({path}) is {prev}, cannot continue")));
            }
        }
        "directory" => {
            if st.exists && !st.is_dir() {
                return Ok(Err(format!("{path} already exists as a {prev}")));
            }
            if !st.exists {
                changed = true;
                make_dir = true; // written with the attributes below
            }
        }
        "touch" => {
            if st.exists && !(st.is_file() || st.is_dir()) {
                return Ok(Err(format!("{path} exists as a {prev}, cannot touch it")));
            }
            let times = match touch_args(args) {
                Ok(t) => t,
                Err(e) => return Ok(Err(e)),
            };
            if !st.exists {
                changed = true;
                let _ = writeln!(script, "touch -- {} || exit 3", shell_quote(&path));
                after.insert("state".into(), "file".into());
            }
            if !times.is_empty() {
                // Ansible's touch updates the times each run (changed) unless both are
                // `preserve`.
                changed = true;
                let _ = writeln!(script, "touch {times} -- {} || exit 3", shell_quote(&path));
            }
            if !st.exists {
                after.insert("state".into(), "touch".into());
            }
        }
        "link" | "hard" => {
            let (Some(src), Some(src_abs)) = (src.as_ref(), link_src_abs.as_ref()) else {
                return Ok(Err(format!(
                    "src is required for creating new {}",
                    if state == "link" {
                        "symlinks"
                    } else {
                        "hard links"
                    }
                )));
            };
            r.extra.insert("dest".into(), path.clone().into());
            r.extra.insert("src".into(), src.clone().into());
            if !src_st.exists && (state == "hard" || !force) {
                return Ok(Err(if state == "hard" {
                    format!("src does not exist: {src_abs}")
                } else {
                    format!(
                        "src file does not exist, use \"force=yes\" if you really want to create the link: {src_abs}"
                    )
                }));
            }
            let already = if state == "link" {
                st.is_link() && st.link_target.as_deref() == Some(src.as_str())
            } else {
                st.exists && st.inode == src_st.inode && st.dev == src_st.dev
            };
            if !already {
                if st.exists && st.is_dir() {
                    return Ok(Err(format!(
                        "refusing to convert from directory to {} for {path}",
                        if state == "link" {
                            "symlink"
                        } else {
                            "hard link"
                        }
                    )));
                }
                if st.exists && !st.is_link() && state == "link" && !force {
                    return Ok(Err(format!(
                        "refusing to convert from {prev} to symlink for {path}"
                    )));
                }
                changed = true;
                let tmp = format!(
                    "{}/.{}.cairn-tmp-{:08x}",
                    super::copy::parent_of(&path),
                    super::copy::basename(&path),
                    rand::random::<u32>()
                );
                let op = if state == "link" { "ln -s" } else { "ln" };
                let source = if state == "link" { src } else { src_abs };
                let _ = writeln!(
                    script,
                    "{op} -- {} {qt} && mv -f -T -- {qt} {} || {{ rm -f {qt}; exit 3; }}",
                    shell_quote(source),
                    shell_quote(&path),
                    qt = shell_quote(&tmp)
                );
                before.insert(
                    "src".into(),
                    st.link_target.clone().unwrap_or_default().into(),
                );
                after.insert("src".into(), src.clone().into());
            }
        }
        _ => unreachable!("state checked above"),
    }
    // Attributes: on the path as it is, or, when created here, on what the new one will be.
    let no_deref = state == "link";
    let base = if st.exists && !(state == "link" && changed) {
        st.clone()
    } else {
        let mut fresh = PathState {
            mode: if state == "directory" { 0o755 } else { 0o644 },
            kind: Some(if state == "directory" {
                remote_path::Kind::Dir
            } else {
                remote_path::Kind::File
            }),
            ..PathState::default()
        };
        fresh.exists = false;
        fresh
    };
    let mut changes = attrs.changes(&base);
    if no_deref {
        changes.mode = None;
    }
    // A directory created with a mode and no owner or group to set gets the mode from
    // `mkdir -m`: one `chmod` fewer on the host.
    let mut to_apply = changes.clone();
    // Nothing but attributes is written for the path (no creation, removal, link or touch).
    let attrs_only = script.is_empty() && !make_dir;
    if make_dir {
        let m = match (&to_apply.owner, &to_apply.group) {
            (None, None) => to_apply.mode.take(),
            _ => None,
        };
        let m = m.map(|m| format!("-m {m:o} ")).unwrap_or_default();
        let _ = writeln!(script, "mkdir -p {m}-- {} || exit 3", shell_quote(&path));
    }
    if !changes.is_empty() {
        changed = true;
        script.push_str(&to_apply.script(&path, no_deref));
        let (b, a) = changes.diff_maps(&base);
        before.extend(b);
        after.extend(a);
    }
    if recurse && (attrs.mode.is_some() || attrs.owner.is_some() || attrs.group.is_some()) {
        let tree = if st.exists {
            list_tree(s, &path).await?
        } else {
            Vec::new()
        };
        let mut n = 0;
        for (p, entry) in &tree {
            let c = attrs.changes(entry);
            if !c.is_empty() {
                n += 1;
                script.push_str(&c.script(p, entry.is_link()));
            }
        }
        if n > 0 {
            changed = true;
            after.insert("recursed".into(), format!("{n} paths").into());
        }
    }
    let recursed = after.contains_key("recursed");
    r.extra.insert("state".into(), state.into());
    finish_diff(call, &mut r, &path, changed, before, after);
    // Nothing to change and the first probe looked at the path the way the report does: its
    // state is the final one, without another exec.
    if !changed && st.exists && probes[0].follow != no_deref {
        report_state(&mut r, st);
        return apply(call, s, r, &script, changed, None).await;
    }
    // Only the mode of the path changes: the probe's state with the new mode is the final one,
    // without a `stat` after the `chmod` (which is exact, except that it keeps a directory's
    // setuid/setgid bits: those are read back).
    if attrs_only
        && !recursed
        && st.exists
        && probes[0].follow != no_deref
        && to_apply.owner.is_none()
        && to_apply.group.is_none()
        && !(st.is_dir() && st.mode & 0o6000 != 0)
        && let Some(m) = to_apply.mode
    {
        let mut now = st.clone();
        now.mode = m;
        report_state(&mut r, &now);
        return apply(call, s, r, &script, changed, None).await;
    }
    apply(call, s, r, &script, changed, Some((&path, no_deref))).await
}

/// The final state's fields of the result.
fn report_state(r: &mut ModuleResult, st: &PathState) {
    r.extra
        .insert("mode".into(), format!("{:04o}", st.mode).into());
    r.extra.insert("owner".into(), st.owner.clone().into());
    r.extra.insert("group".into(), st.group.clone().into());
    r.extra.insert("uid".into(), st.uid.into());
    r.extra.insert("gid".into(), st.gid.into());
    r.extra.insert("size".into(), st.size.into());
}

fn finish_diff(call: &Call<'_>, r: &mut ModuleResult, path: &str, changed: bool, b: Vars, a: Vars) {
    if call.diff && changed {
        r.diff.push(remote_path::state_diff(path, b, a));
    }
}

/// Run the change (not in check mode) and report the final state of `path`.
async fn apply(
    call: &Call<'_>,
    s: &mut Session<'_>,
    mut r: ModuleResult,
    script: &str,
    changed: bool,
    report: Option<(&str, bool)>,
) -> Result<Result<ModuleResult, String>, SshError> {
    r.changed = changed;
    if call.check || (!changed && report.is_none()) {
        return Ok(Ok(r));
    }
    let mut full = script.to_string();
    let report_probe = report.map(|(path, no_deref)| Probe {
        path,
        follow: !no_deref,
        sum: Sum::None,
    });
    if let Some(p) = &report_probe {
        full.push_str(&remote_path::probe_script(std::slice::from_ref(p)));
    }
    let out = s.sh(&full).await?;
    if !out.success() {
        return Ok(Err(format!(
            "changing {} failed: {}",
            r.extra.get("path").and_then(Json::as_str).unwrap_or(""),
            out.stderr_str().trim()
        )));
    }
    if let Some(p) = report_probe {
        let st = remote_path::parse_probe_output(&out.stdout_str(), &[p]).remove(0);
        if st.exists {
            report_state(&mut r, &st);
        }
    }
    Ok(Ok(r))
}

/// `modification_time`/`access_time` for `touch`: `now` (default), `preserve`, or a time
/// in `modification_time_format` (default `%Y%m%d%H%M.%S`, which is touch's `-t` form).
fn touch_args(args: &Vars) -> Result<String, String> {
    let mut out = Vec::new();
    for (key, flag) in [("modification_time", "-m"), ("access_time", "-a")] {
        match arg_str(args, key).as_deref() {
            None | Some("now") => out.push(flag.to_string()),
            Some("preserve") => {}
            Some(t) => {
                let fmt = arg_str(args, &format!("{key}_format"))
                    .unwrap_or_else(|| "%Y%m%d%H%M.%S".into());
                if fmt != "%Y%m%d%H%M.%S" {
                    return Err(format!(
                        "{key}_format {fmt:?} is not supported by Cairn: use %Y%m%d%H%M.%S"
                    ));
                }
                if !t.chars().all(|c| c.is_ascii_digit() || c == '.') {
                    return Err(format!(
                        "{key} {t:?} does not match the format %Y%m%d%H%M.%S"
                    ));
                }
                out.push(format!("{flag} -t {t}"));
            }
        }
    }
    // Both "now": one plain touch.
    if out == ["-m", "-a"] {
        return Ok("-c".into());
    }
    Ok(out.join(" "))
}

/// Every path under `dir` (not `dir` itself) with its state, in one exec.
async fn list_tree(s: &mut Session<'_>, dir: &str) -> Result<Vec<(String, PathState)>, SshError> {
    let script = format!(
        "find {} -mindepth 1 -exec stat -c 'E %f %u %g %U %G %n' {{}} +",
        shell_quote(dir)
    );
    let out = s.sh(&script).await?;
    Ok(parse_tree(&out.stdout_str()))
}

fn parse_tree(text: &str) -> Vec<(String, PathState)> {
    let mut v = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("E ") else {
            continue;
        };
        let f: Vec<&str> = rest.splitn(6, ' ').collect();
        if f.len() < 6 {
            continue;
        }
        let raw = u32::from_str_radix(f[0], 16).unwrap_or(0);
        let st = PathState {
            exists: true,
            kind: Some(match raw & 0o170000 {
                0o040000 => remote_path::Kind::Dir,
                0o120000 => remote_path::Kind::Link,
                0o100000 => remote_path::Kind::File,
                _ => remote_path::Kind::Other,
            }),
            mode: raw & 0o7777,
            uid: f[1].parse().unwrap_or(0),
            gid: f[2].parse().unwrap_or(0),
            owner: f[3].into(),
            group: f[4].into(),
            ..PathState::default()
        };
        v.push((f[5].to_string(), st));
    }
    v
}

/// Attribute changes a recursion would make (for tests).
#[cfg(test)]
fn recursion_changes(
    attrs: &Attrs,
    tree: &[(String, PathState)],
) -> Vec<(String, remote_path::AttrChanges)> {
    tree.iter()
        .map(|(p, s)| (p.clone(), attrs.changes(s)))
        .filter(|(_, c)| !c.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn touch_times() {
        let a = |v: Json| touch_args(v.as_object().unwrap());
        assert_eq!(a(json!({})), Ok("-c".into()));
        assert_eq!(
            a(json!({"modification_time": "preserve", "access_time": "preserve"})),
            Ok(String::new())
        );
        assert_eq!(
            a(json!({"modification_time": "202001011200.00", "access_time": "preserve"})),
            Ok("-m -t 202001011200.00".into())
        );
        assert_eq!(
            a(json!({"modification_time": "yesterday"})),
            Err("modification_time \"yesterday\" does not match the format %Y%m%d%H%M.%S".into())
        );
    }

    #[test]
    fn recursion_applies_only_what_differs() {
        let tree = parse_tree(
            "E 41ed 0 0 root root /t/d\nE 81a4 1000 0 cairn root /t/d/f\nE 81ed 0 0 root root /t/d/x y\n",
        );
        assert_eq!(tree.len(), 3);
        assert_eq!(tree[2].0, "/t/d/x y");
        let attrs = Attrs::from_args(
            json!({"mode": "u=rwX,g=rX,o=rX", "owner": "root"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let c = recursion_changes(&attrs, &tree);
        let shown: Vec<String> = c
            .iter()
            .map(|(p, c)| format!("{p} {:?} {:?}", c.mode, c.owner))
            .collect();
        assert_eq!(shown, vec!["/t/d/f None Some(\"root\")"]);
    }
}
