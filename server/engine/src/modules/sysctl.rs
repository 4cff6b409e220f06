//! `sysctl` (ansible.posix): a kernel parameter in a sysctl file (`sysctl_file`, default
//! `/etc/sysctl.conf`), optionally set in the running kernel (`sysctl_set`) and reloaded from
//! the file (`reload`).
//!
//! One exec reads the file and the live value; the file edit is computed here (Ansible's
//! rules: the first `key = value` line is replaced by `key=value`, later duplicates dropped,
//! appended when absent); a second exec runs only when something changes (never in check
//! mode). In a container, `kernel.*` parameters belong to the host machine and are read-only:
//! setting one fails with the kernel's "permission denied", and the message says why.

use super::params::Params;
use super::sh::{self, Report};
use super::{Call, Diff, ModuleResult};
use crate::playbook::Vars;
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

#[derive(Debug, PartialEq)]
pub struct Want {
    pub name: String,
    pub value: String,
    pub present: bool,
    pub file: String,
    pub reload: bool,
    pub set: bool,
    pub ignore_errors: bool,
}

pub fn want(args: &Vars) -> Result<Want, String> {
    let p = Params(args);
    let name = p.required(&["name", "key"])?;
    let present = p.choice(&["state"], &["present", "absent"])? == "present";
    let value = match args.get("value").or(args.get("val")) {
        None | Some(serde_json::Value::Null) if present => {
            return Err("missing required arguments: value (state is present)".into());
        }
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::Bool(b)) => (if *b { "1" } else { "0" }).to_string(),
        Some(_) => normalize(&p.str(&["value", "val"]).unwrap_or_default()),
    };
    Ok(Want {
        name,
        value,
        present,
        file: p
            .str(&["sysctl_file"])
            .unwrap_or_else(|| "/etc/sysctl.conf".into()),
        reload: p.flag(&["reload"], true)?,
        set: p.flag(&["sysctl_set"], false)?,
        ignore_errors: p.flag(&["ignoreerrors"], false)?,
    })
}

/// Ansible's `_parse_value`: booleans as 1/0, other text trimmed.
fn normalize(v: &str) -> String {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" => "1".into(),
        "no" | "off" | "false" => "0".into(),
        _ => v.trim().to_string(),
    }
}

/// Values equal as Ansible compares them: word by word, whitespace ignored.
fn same(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// The file's value for `name`, if set (the last assignment wins, as `sysctl -p` applies them).
pub fn file_value(text: &str, name: &str) -> Option<String> {
    text.lines()
        .filter_map(assignment)
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .next_back()
}

fn assignment(line: &str) -> Option<(&str, &str)> {
    let l = line.trim();
    if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
        return None;
    }
    let (k, v) = l.split_once('=')?;
    Some((k.trim(), v.trim()))
}

/// The file after the edit.
pub fn edited(text: &str, w: &Want) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in text.lines() {
        match assignment(line) {
            Some((k, _)) if k == w.name => {
                if w.present && !done {
                    out.push_str(&format!("{}={}\n", w.name, w.value));
                }
                done = true;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if w.present && !done {
        out.push_str(&format!("{}={}\n", w.name, w.value));
    }
    out
}

/// What to do, from the file's text and the live value (`None`: no such key in the kernel).
#[derive(Debug, PartialEq)]
pub struct Plan {
    pub new_file: Option<String>,
    pub set_live: bool,
}

pub fn plan(w: &Want, text: &str, live: Option<&str>) -> Plan {
    let current = file_value(text, &w.name);
    let write = if w.present {
        current.as_deref().is_none_or(|c| !same(c, &w.value))
    } else {
        current.is_some()
    };
    let set_live = w.present && w.set && live.is_none_or(|l| !same(l, &w.value));
    Plan {
        new_file: write.then(|| edited(text, w)),
        set_live,
    }
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let w = match want(call.args) {
        Ok(w) => w,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let probe = format!(
        "n={n}; f={f}\nif v=$(sysctl -n \"$n\" 2>&1); then echo \"@live=$v\"; else echo \"@nolive=$v\"; fi\n\
         echo @@file; cat \"$f\" 2>/dev/null; true",
        n = shell_quote(&w.name),
        f = shell_quote(&w.file)
    );
    let out = sh::run(call, &probe, None, None).await?;
    let stdout = out.stdout_str();
    let (head, text) = stdout.split_once("@@file\n").unwrap_or((&stdout, ""));
    let rep = Report::parse(head);
    let live = rep.get("live");
    if w.present && w.set && live.is_none() && !w.ignore_errors {
        let why = rep.get("nolive").unwrap_or("");
        return Ok(ModuleResult::failed(format!(
            "setting {} failed: no such key in the running kernel ({why})",
            w.name
        )));
    }
    let p = plan(&w, text, live);
    let mut r = ModuleResult {
        changed: p.new_file.is_some() || p.set_live,
        ..ModuleResult::default()
    };
    if call.diff
        && let Some(new) = &p.new_file
    {
        r.diff.push(Diff {
            before_header: w.file.clone(),
            after_header: w.file.clone(),
            before: text.to_string(),
            after: new.clone(),
        });
    }
    if !r.changed || call.check {
        return Ok(r);
    }
    let mut script = format!("n={}; f={}\n", shell_quote(&w.name), shell_quote(&w.file));
    if p.new_file.is_some() {
        script.push_str(
            "mkdir -p \"$(dirname \"$f\")\" && cat > \"$f.cairn-new\" && \
             { [ ! -e \"$f\" ] || chmod --reference=\"$f\" \"$f.cairn-new\"; } && \
             mv \"$f.cairn-new\" \"$f\" || { echo @failed=write; exit 1; }\n",
        );
    }
    if p.set_live {
        script.push_str(&format!(
            "out=$(sysctl -w \"$n\"={} 2>&1) || {{ printf '%s\\n' \"$out\"; echo @failed=set; exit 1; }}\n",
            shell_quote(&w.value)
        ));
    }
    if p.new_file.is_some() && w.reload {
        script.push_str(&format!(
            "out=$(sysctl {}-p \"$f\" 2>&1) || {{ printf '%s\\n' \"$out\"; echo @failed=reload; exit 1; }}\n",
            if w.ignore_errors { "-e " } else { "" }
        ));
    }
    let stdin = p.new_file.clone().unwrap_or_default();
    let out = sh::run(call, &script, Some(stdin.as_bytes()), None).await?;
    let rep = Report::parse(&out.stdout_str());
    if let Some(step) = rep.get("failed") {
        return Ok(sh::failure(
            &out,
            &rep,
            failure_message(&w, step, rep.text.trim()),
        ));
    }
    if !out.success() {
        return Ok(sh::failure(
            &out,
            &rep,
            "the sysctl script failed on the host",
        ));
    }
    Ok(r)
}

/// The message for a failed step, with the reason a container refuses `kernel.*`.
pub fn failure_message(w: &Want, step: &str, detail: &str) -> String {
    let mut msg = match step {
        "write" => format!("failed to write {}: {detail}", w.file),
        "set" => format!("setting {} failed: {detail}", w.name),
        _ => format!("Failed to reload sysctl: {detail}"),
    };
    if detail.contains("permission denied") || detail.contains("Read-only file system") {
        msg.push_str(
            " (the kernel refuses this parameter here: in a container, parameters outside the \
             container's namespaces, such as kernel.*, belong to the host machine and are read-only)",
        );
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn w(v: serde_json::Value) -> Want {
        want(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn file_edits_and_plans() {
        let file = "# comment\nnet.a = 1\nvm.x=3\nnet.a=7\n";
        // (args, live value, file after (None: unchanged), set live)
        let cases: Vec<(serde_json::Value, Option<&str>, Option<&str>, bool)> = vec![
            (
                json!({"name": "net.a", "value": "7"}),
                Some("0"),
                None,
                false,
            ),
            (
                json!({"name": "net.a", "value": "2"}),
                Some("0"),
                Some("# comment\nnet.a=2\nvm.x=3\n"),
                false,
            ),
            (
                json!({"name": "net.b", "value": true, "sysctl_set": true}),
                Some("0"),
                Some("# comment\nnet.a = 1\nvm.x=3\nnet.a=7\nnet.b=1\n"),
                true,
            ),
            (
                json!({"name": "vm.x", "value": "3", "sysctl_set": "yes"}),
                Some("3"),
                None,
                false,
            ),
            (
                json!({"name": "vm.x", "value": "3", "sysctl_set": "yes"}),
                Some("4"),
                None,
                true,
            ),
            (
                json!({"name": "vm.x", "state": "absent"}),
                Some("3"),
                Some("# comment\nnet.a = 1\nnet.a=7\n"),
                false,
            ),
            (
                json!({"name": "vm.y", "state": "absent"}),
                None,
                None,
                false,
            ),
            (
                json!({"name": "net.r", "value": "1  2\t3", "sysctl_set": true}),
                Some("1\t2 3"),
                Some("# comment\nnet.a = 1\nvm.x=3\nnet.a=7\nnet.r=1  2\t3\n"),
                false,
            ),
        ];
        for (args, live, after, set) in cases {
            let p = plan(&w(args.clone()), file, live);
            assert_eq!(p.new_file.as_deref(), after, "{args}");
            assert_eq!(p.set_live, set, "{args}");
        }
    }

    #[test]
    fn messages() {
        assert_eq!(
            want(json!({"name": "a"}).as_object().unwrap()),
            Err("missing required arguments: value (state is present)".into())
        );
        let k = w(json!({"name": "kernel.pid_max", "value": "9"}));
        assert_eq!(
            failure_message(
                &k,
                "set",
                "sysctl: permission denied on key \"kernel.pid_max\""
            ),
            "setting kernel.pid_max failed: sysctl: permission denied on key \"kernel.pid_max\" \
             (the kernel refuses this parameter here: in a container, parameters outside the \
             container's namespaces, such as kernel.*, belong to the host machine and are read-only)"
        );
        assert_eq!(
            failure_message(&k, "reload", "sysctl: cannot stat /x: nope"),
            "Failed to reload sysctl: sysctl: cannot stat /x: nope"
        );
    }
}
