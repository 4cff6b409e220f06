//! `script`: run a controller script on the host: uploaded into a fresh temporary directory
//! (`mktemp -d`) and run with its arguments, by `executable` when given, else by its shebang
//! (`#!`) or `/bin/sh`; removed afterwards. `creates`/`removes` (checked from `chdir`) skip
//! it, `chdir` runs it elsewhere. One exec does all of it: the script body is the exec's
//! stdin. In check mode nothing runs (reported as would-change unless skipped), as Ansible.

use super::command::from_output;
use super::{Call, ModuleResult, arg_str, remote_path};
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let Some(line) = arg_str(call.args, "_raw_params").or_else(|| arg_str(call.args, "cmd")) else {
        return Ok(ModuleResult::failed(
            "script needs the path of a script (and its arguments)",
        ));
    };
    let (name, rest) = split_first(&line);
    let name = super::words::split(&name)
        .ok()
        .and_then(|w| w.into_iter().next())
        .unwrap_or(name);
    let Some(local) = call.find_src(&name, "files") else {
        return Ok(ModuleResult::failed(super::copy::not_found(
            call, &name, "files",
        )));
    };
    let body = match std::fs::read(&local) {
        Ok(b) => b,
        Err(e) => {
            return Ok(ModuleResult::failed(format!(
                "could not read {}: {e}",
                local.display()
            )));
        }
    };
    let runner = match arg_str(call.args, "executable") {
        Some(e) => format!("{e} "),
        None if body.starts_with(b"#!") => String::new(),
        None => "/bin/sh ".into(),
    };
    let script = build(
        &super::copy::basename(&name),
        &runner,
        &rest,
        arg_str(call.args, "chdir").as_deref(),
        arg_str(call.args, "creates").as_deref(),
        arg_str(call.args, "removes").as_deref(),
        call.check,
    );
    let out = remote_path::sh_stdin(call, &script, crate::ssh::Stdin::Bytes(&body)).await?;
    let stdout = out.stdout_str();
    if let Some(reason) = stdout.lines().find_map(|l| l.strip_prefix("CAIRN-SKIP ")) {
        return Ok(ModuleResult {
            rc: Some(0),
            stdout: Some(format!("skipped, since {reason}")),
            stderr: Some(String::new()),
            msg: Some(format!("Did not run script since {reason}")),
            ..ModuleResult::default()
        });
    }
    if call.check {
        return Ok(ModuleResult {
            changed: true,
            msg: Some("Command would have run if not in check mode".into()),
            ..ModuleResult::default()
        });
    }
    let mut r = from_output(&out);
    if out.exit_status == Some(97) && out.stderr_str().contains("CAIRN-CHDIR") {
        r.msg = Some("Unable to change directory before execution".into());
    }
    Ok(r)
}

/// The first word (quotes respected) and the raw rest of a command line.
fn split_first(line: &str) -> (String, String) {
    let line = line.trim();
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                return (line[..i].to_string(), line[i..].trim().to_string());
            }
            _ => {}
        }
    }
    (line.to_string(), String::new())
}

/// The host-side script: guards, upload, run, clean up; the script's exit status is ours.
fn build(
    name: &str,
    runner: &str,
    args: &str,
    chdir: Option<&str>,
    creates: Option<&str>,
    removes: Option<&str>,
    check: bool,
) -> String {
    let mut s = String::new();
    if let Some(d) = chdir {
        s.push_str(&format!(
            "cd {} || {{ echo CAIRN-CHDIR >&2; exit 97; }}\n",
            shell_quote(d)
        ));
    }
    if let Some(c) = creates {
        let q = shell_quote(c);
        s.push_str(&format!(
            "if [ -e {q} ]; then echo \"CAIRN-SKIP \"{} exists; exit 0; fi\n",
            shell_quote(c)
        ));
    }
    if let Some(r) = removes {
        let q = shell_quote(r);
        s.push_str(&format!(
            "if [ ! -e {q} ]; then echo \"CAIRN-SKIP \"{q} does not exist; exit 0; fi\n"
        ));
    }
    if check {
        s.push_str("exit 0\n");
        return s;
    }
    let target = format!("\"$d\"/{}", shell_quote(name));
    s.push_str(&format!(
        "d=$(mktemp -d) || exit 1\n\
         cat > {target} || {{ rm -rf \"$d\"; exit 1; }}\n\
         chmod 700 {target}\n\
         {runner}{target} {args}\n\
         rc=$?\n\
         rm -rf \"$d\"\n\
         exit $rc\n"
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_splits() {
        assert_eq!(
            split_first("a.sh x 'y z'"),
            ("a.sh".into(), "x 'y z'".into())
        );
        assert_eq!(
            split_first("'my s.sh'"),
            ("'my s.sh'".into(), String::new())
        );
    }

    #[test]
    fn the_host_script_runs_under_local_sh() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("m");
        let script = build(
            "t.sh",
            "/bin/sh ",
            "one 'two three'",
            Some(dir.path().to_str().unwrap()),
            None,
            None,
            false,
        );
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"echo \"$#:$2:$(pwd)\"; touch m; exit 3\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("2:two three:{}", dir.path().display())
        );
        assert!(marker.exists());
        let skip = build(
            "t.sh",
            "",
            "",
            None,
            Some(marker.to_str().unwrap()),
            None,
            false,
        );
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&skip)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("CAIRN-SKIP "));
    }
}
