//! `command`: run a program with arguments, without a shell (Ansible's semantics: the words
//! are split like `shlex`, each is quoted for the host's `/bin/sh`, so nothing is expanded).
//! Also the plumbing `shell` and `raw` share: `chdir`, `creates`/`removes`, `stdin`, the
//! task's `environment` exported first, check mode (skipped unless `creates`/`removes`
//! decide), and turning an `ExecOutput` into a result.

use serde_json::Value as Json;

use super::{Call, ModuleResult, arg_str, words};
use crate::ssh::quote::shell_quote;
use crate::ssh::{ExecOutput, ExecRequest, SshError, Stdin};

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let argv: Vec<String> = match (call.args.get("argv"), raw_params(call)) {
        (Some(Json::Array(items)), None) => items
            .iter()
            .map(|v| match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        (Some(_), Some(_)) => {
            return Ok(ModuleResult::failed(
                "parameters are mutually exclusive: argv and the command line",
            ));
        }
        (Some(_), None) => return Ok(ModuleResult::failed("argv must be a list")),
        (None, Some(line)) => match words::split(&line) {
            Ok(w) => w,
            Err(e) => return Ok(ModuleResult::failed(e)),
        },
        (None, None) => return Ok(ModuleResult::failed("no command given")),
    };
    if argv.is_empty() {
        return Ok(ModuleResult::failed("no command given"));
    }
    let line: Vec<String> = argv.iter().map(|w| shell_quote(w)).collect();
    let mut result = guarded(call, &line.join(" ")).await?;
    result.extra.insert(
        "cmd".into(),
        Json::Array(argv.into_iter().map(Json::from).collect()),
    );
    Ok(result)
}

/// The command line: free-form text (`_raw_params`) or `cmd:`.
pub fn raw_params(call: &Call<'_>) -> Option<String> {
    arg_str(call.args, "_raw_params").or_else(|| arg_str(call.args, "cmd"))
}

/// Run `script` (already quoted for `/bin/sh`) in `chdir`, unless `creates` exists or
/// `removes` does not. Relative `creates`/`removes` paths are taken from `chdir`, as Ansible
/// does.
pub async fn guarded(call: &Call<'_>, script: &str) -> Result<ModuleResult, SshError> {
    let cd = match arg_str(call.args, "chdir") {
        Some(dir) => format!("cd {} && ", shell_quote(&dir)),
        None => String::new(),
    };
    for (key, run_if_exists) in [("creates", false), ("removes", true)] {
        let Some(path) = arg_str(call.args, key) else {
            continue;
        };
        let test = format!("{cd}test -e {}", shell_quote(&path));
        let exists = exec(call, &test).await?.success();
        if exists != run_if_exists {
            let (stdout, msg) = if run_if_exists {
                (
                    format!("skipped, since {path} does not exist"),
                    format!("Did not run command since '{path}' does not exist"),
                )
            } else {
                (
                    format!("skipped, since {path} exists"),
                    format!("Did not run command since '{path}' exists"),
                )
            };
            return Ok(ModuleResult {
                rc: Some(0),
                stdout: Some(stdout),
                stderr: Some(String::new()),
                msg: Some(msg),
                ..ModuleResult::default()
            });
        }
    }
    if call.check {
        // Ansible's partial check mode: a guarded command would run; any other is skipped.
        let guarded =
            arg_str(call.args, "creates").is_some() || arg_str(call.args, "removes").is_some();
        let mut r = ModuleResult {
            changed: guarded,
            rc: Some(0),
            msg: Some("Command would have run if not in check mode".into()),
            ..ModuleResult::default()
        };
        if !guarded {
            r.extra.insert("skipped".into(), true.into());
        }
        return Ok(r);
    }
    let env = match exports(call) {
        Ok(e) => e,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let command = format!("{env}{cd}{script}");
    let stdin = match arg_str(call.args, "stdin") {
        Some(mut text) => {
            let add_newline =
                !matches!(call.args.get("stdin_add_newline"), Some(Json::Bool(false)));
            if add_newline {
                text.push('\n');
            }
            Some(text)
        }
        None => None,
    };
    let mut req = ExecRequest::new(&command);
    if let Some(text) = &stdin {
        req = req.stdin(Stdin::Bytes(text.as_bytes()));
    }
    if let Some(u) = call.become_user {
        req = req.become_user(u);
    }
    let out = call.conn.exec(req).await?;
    Ok(from_output(&out))
}

/// `export NAME='value'; ` for each variable of the task's `environment` (names were checked
/// by the runner; checked again here since a name is pasted into a shell line).
pub fn exports(call: &Call<'_>) -> Result<String, String> {
    let mut out = String::new();
    for (k, v) in call.environment {
        let valid = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("environment: {k:?} is not a valid variable name"));
        }
        out.push_str(&format!("export {k}={}; ", shell_quote(v)));
    }
    Ok(out)
}

pub async fn exec(call: &Call<'_>, command: &str) -> Result<ExecOutput, SshError> {
    let mut req = ExecRequest::new(command);
    if let Some(u) = call.become_user {
        req = req.become_user(u);
    }
    call.conn.exec(req).await
}

/// A command's result: changed (the runner's `changed_when` may say otherwise), failed on a
/// non-zero status or a signal; trailing newlines stripped from the output, as Ansible does.
pub fn from_output(out: &ExecOutput) -> ModuleResult {
    let strip = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .trim_end_matches(['\r', '\n'])
            .to_string()
    };
    let rc = match (out.exit_status, &out.exit_signal) {
        (Some(code), _) => i64::from(code),
        // Killed by a signal: Python's subprocess reports -SIGNUM; the name is in msg.
        (None, _) => -1,
    };
    let failed = rc != 0;
    let msg = match (&out.exit_signal, failed) {
        (Some(sig), _) => format!("killed by signal {sig}"),
        (None, true) => "non-zero return code".to_string(),
        (None, false) => String::new(),
    };
    ModuleResult {
        changed: true,
        failed,
        rc: Some(rc),
        stdout: Some(strip(&out.stdout)),
        stderr: Some(strip(&out.stderr)),
        msg: Some(msg),
        ..ModuleResult::default()
    }
}
