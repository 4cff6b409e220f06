//! `mount` (ansible.posix): an fstab entry (`present`/`absent`) and the mount itself
//! (`mounted`, `unmounted`, `remounted`).
//!
//! One exec reads the fstab and whether `path` is mounted (`/proc/self/mountinfo` via
//! `findmnt`, else `/proc/mounts`); the fstab edit is computed here (Ansible's format: one
//! `src path fstype opts dump passno` line per mount point, replaced in place); a second exec
//! writes it and mounts or unmounts, only when needed and never in check mode. Whether a
//! container may mount depends on its capabilities: a refused `mount` is reported with the
//! kernel's words, never hidden.

use serde_json::json;

use super::params::Params;
use super::sh::{self, Report};
use super::{Call, Diff, ModuleResult};
use crate::playbook::Vars;
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

#[derive(Debug)]
pub struct Want {
    pub path: String,
    pub src: Option<String>,
    pub fstype: Option<String>,
    pub opts: String,
    pub dump: String,
    pub passno: String,
    pub state: String,
    pub fstab: String,
}

pub fn want(args: &Vars) -> Result<Want, String> {
    let p = Params(args);
    let w = Want {
        path: p
            .required(&["path", "name"])?
            .trim_end_matches('/')
            .to_string(),
        src: p.str(&["src"]),
        fstype: p.str(&["fstype"]),
        opts: p.str(&["opts"]).unwrap_or_else(|| "defaults".into()),
        dump: p.str(&["dump"]).unwrap_or_else(|| "0".into()),
        passno: p.str(&["passno"]).unwrap_or_else(|| "0".into()),
        state: p.required(&["state"]).and_then(|_| {
            p.choice(
                &["state"],
                &[
                    "mounted",
                    "unmounted",
                    "present",
                    "absent",
                    "remounted",
                    "absent_from_fstab",
                    "ephemeral",
                ],
            )
        })?,
        fstab: p.str(&["fstab"]).unwrap_or_else(|| "/etc/fstab".into()),
    };
    if w.state == "ephemeral" {
        return Err("state=ephemeral is not supported by Cairn".into());
    }
    if matches!(w.state.as_str(), "present" | "mounted") && (w.src.is_none() || w.fstype.is_none())
    {
        return Err(format!(
            "state is {} but all of the following are missing: {}",
            w.state,
            [("src", &w.src), ("fstype", &w.fstype)]
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(w)
}

/// fstab escapes blanks in fields as `\040`.
fn escape(s: &str) -> String {
    s.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
}

/// The fstab after the edit (`None`: unchanged).
pub fn edited(text: &str, w: &Want) -> Option<String> {
    let want_line = match (&w.src, &w.fstype) {
        (Some(src), Some(fs)) if !matches!(w.state.as_str(), "absent" | "absent_from_fstab") => {
            Some(format!(
                "{} {} {} {} {} {}",
                escape(src),
                escape(&w.path),
                fs,
                w.opts,
                w.dump,
                w.passno
            ))
        }
        _ => None,
    };
    let remove = matches!(w.state.as_str(), "absent" | "absent_from_fstab");
    let path = escape(&w.path);
    let mut out = String::new();
    let mut found = false;
    let mut changed = false;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let ours = !line.trim_start().starts_with('#')
            && f.len() >= 2
            && f[1].trim_end_matches('/') == path;
        if !ours {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if remove || found {
            changed = true;
            continue;
        }
        found = true;
        match &want_line {
            Some(l) => {
                let mut have: Vec<&str> = f.clone();
                while have.len() < 6 {
                    have.push(if have.len() == 3 { "defaults" } else { "0" });
                }
                let same = have.join(" ") == *l;
                if !same {
                    changed = true;
                }
                out.push_str(if same { line } else { l });
                out.push('\n');
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if !found && let Some(l) = &want_line {
        out.push_str(l);
        out.push('\n');
        changed = true;
    }
    changed.then_some(out)
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let w = match want(call.args) {
        Ok(w) => w,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let probe = format!(
        "p={p}\nif command -v findmnt >/dev/null 2>&1; then findmnt -rn --mountpoint \"$p\" >/dev/null && echo @mounted=1\n\
         else awk -v p=\"$p\" '$2 == p {{ f = 1 }} END {{ exit !f }}' /proc/mounts && echo @mounted=1; fi\n\
         echo @@fstab; cat {f} 2>/dev/null; true",
        p = shell_quote(&w.path),
        f = shell_quote(&w.fstab)
    );
    let out = sh::run(call, &probe, None, None).await?;
    let stdout = out.stdout_str();
    let (head, text) = stdout.split_once("@@fstab\n").unwrap_or((&stdout, ""));
    let mounted = Report::parse(head).is("mounted", "1");
    let new_fstab = match w.state.as_str() {
        "mounted" | "present" | "absent" | "absent_from_fstab" => edited(text, &w),
        _ => None,
    };
    // (shell step, reported name)
    let mut steps: Vec<&str> = Vec::new();
    match w.state.as_str() {
        "mounted" if !mounted => steps.push("mount"),
        // A changed entry of a mounted file system takes effect by remounting, as Ansible does.
        "mounted" if new_fstab.is_some() => steps.push("remount"),
        "unmounted" | "absent" if mounted => steps.push("umount"),
        "remounted" if mounted => steps.push("remount"),
        _ => {}
    }
    if w.state == "absent" {
        steps.push("rmdir");
    }
    let mut r = ModuleResult {
        changed: new_fstab.is_some() || steps.iter().any(|s| *s != "rmdir"),
        ..ModuleResult::default()
    };
    if call.diff
        && let Some(new) = &new_fstab
    {
        r.diff.push(Diff {
            before_header: w.fstab.clone(),
            after_header: w.fstab.clone(),
            before: text.to_string(),
            after: new.clone(),
        });
    }
    for (k, v) in [
        ("name", Some(w.path.clone())),
        ("src", w.src.clone()),
        ("fstype", w.fstype.clone()),
        ("opts", Some(w.opts.clone())),
        ("dump", Some(w.dump.clone())),
        ("passno", Some(w.passno.clone())),
        ("fstab", Some(w.fstab.clone())),
    ] {
        if let Some(v) = v {
            r.extra.insert(k.into(), json!(v));
        }
    }
    if call.check || (!r.changed && !steps.contains(&"rmdir")) {
        return Ok(r);
    }
    let mut script = format!("p={}; f={}\n", shell_quote(&w.path), shell_quote(&w.fstab));
    if new_fstab.is_some() {
        script.push_str(
            "cat > \"$f.cairn-new\" && { [ ! -e \"$f\" ] || chmod --reference=\"$f\" \"$f.cairn-new\"; } && \
             mv \"$f.cairn-new\" \"$f\" || { echo @failed=write; exit 1; }\n",
        );
    }
    for s in &steps {
        script.push_str(match *s {
            "mount" => "mkdir -p \"$p\" && out=$(mount \"$p\" 2>&1) || { printf '%s\\n' \"$out\"; echo @failed=mount; exit 1; }\n",
            "remount" => "out=$(mount -o remount \"$p\" 2>&1) || { printf '%s\\n' \"$out\"; echo @failed=remount; exit 1; }\n",
            "umount" => "out=$(umount \"$p\" 2>&1) || { printf '%s\\n' \"$out\"; echo @failed=umount; exit 1; }\n",
            _ => "[ -d \"$p\" ] && rmdir \"$p\" 2>/dev/null && echo @removed_dir=1; true\n",
        });
    }
    let out = sh::run(
        call,
        &script,
        Some(new_fstab.unwrap_or_default().as_bytes()),
        None,
    )
    .await?;
    let rep = Report::parse(&out.stdout_str());
    if let Some(step) = rep.get("failed") {
        return Ok(sh::failure(
            &out,
            &rep,
            failure_message(&w, step, rep.text.trim()),
        ));
    }
    if rep.is("removed_dir", "1") {
        r.changed = true;
    }
    Ok(r)
}

pub fn failure_message(w: &Want, step: &str, detail: &str) -> String {
    let mut msg = match step {
        "write" => format!("failed to write {}: {detail}", w.fstab),
        "mount" => format!("Error mounting {}: {detail}", w.path),
        "remount" => format!("Error remounting {}: {detail}", w.path),
        _ => format!("Error unmounting {}: {detail}", w.path),
    };
    if detail.contains("permission denied") || detail.contains("Operation not permitted") {
        msg.push_str(" (the host refuses to mount: a container needs CAP_SYS_ADMIN to mount; the fstab entry is written)");
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: serde_json::Value) -> Want {
        want(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn fstab_edits() {
        let fstab = "# static\nUUID=1 / ext4 defaults 0 1\ntmpfs /mnt/x tmpfs size=1m 0 0\n";
        // (args, fstab after; None: unchanged)
        let cases: Vec<(serde_json::Value, Option<&str>)> = vec![
            (
                json!({"path": "/mnt/x", "src": "tmpfs", "fstype": "tmpfs", "opts": "size=1m", "state": "present"}),
                None,
            ),
            (
                json!({"path": "/mnt/x/", "src": "tmpfs", "fstype": "tmpfs", "opts": "size=2m", "state": "mounted"}),
                Some("# static\nUUID=1 / ext4 defaults 0 1\ntmpfs /mnt/x tmpfs size=2m 0 0\n"),
            ),
            (
                json!({"path": "/mnt/my y", "src": "tmpfs", "fstype": "tmpfs", "state": "present"}),
                Some(
                    "# static\nUUID=1 / ext4 defaults 0 1\ntmpfs /mnt/x tmpfs size=1m 0 0\ntmpfs /mnt/my\\040y tmpfs defaults 0 0\n",
                ),
            ),
            (
                json!({"path": "/mnt/x", "state": "absent"}),
                Some("# static\nUUID=1 / ext4 defaults 0 1\n"),
            ),
            (json!({"path": "/mnt/none", "state": "absent"}), None),
            (json!({"path": "/mnt/x", "state": "unmounted"}), None),
        ];
        for (args, after) in cases {
            assert_eq!(edited(fstab, &w(args.clone())).as_deref(), after, "{args}");
        }
        assert_eq!(
            edited(
                "tmpfs /t tmpfs\n",
                &w(json!({"path": "/t", "src": "tmpfs", "fstype": "tmpfs", "state": "present"}))
            ),
            None,
            "missing trailing fields are the defaults"
        );
    }

    #[test]
    fn messages() {
        assert_eq!(
            want(
                json!({"path": "/x", "state": "mounted", "src": "a"})
                    .as_object()
                    .unwrap()
            )
            .unwrap_err(),
            "state is mounted but all of the following are missing: fstype"
        );
        assert_eq!(
            want(json!({"path": "/x"}).as_object().unwrap()).unwrap_err(),
            "missing required arguments: state"
        );
        let m = w(json!({"path": "/x", "state": "unmounted"}));
        assert_eq!(
            failure_message(&m, "mount", "mount: /x: permission denied."),
            "Error mounting /x: mount: /x: permission denied. (the host refuses to mount: a container needs CAP_SYS_ADMIN to mount; the fstab entry is written)"
        );
    }
}
