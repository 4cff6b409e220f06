//! Running a module's POSIX `sh` program on the host in one round trip and reading back what
//! it reports.
//!
//! The system modules (apt, service, user, ...) each send one small script that inspects the
//! host, and when allowed, acts; it reports facts as `@key=value` lines on stdout, mixed with
//! the output of the tools it ran. This file owns the transport of such a script (`/bin/sh`
//! whatever the login shell, `become`, the task's `environment`, `LC_ALL=C` so tools print
//! parseable English) and the split of its output. Must not: decide what a module's result
//! means (each module parses its report in Rust, where that is unit-tested).

use std::time::Duration;

use super::{Call, ModuleResult};
use crate::ssh::quote::shell_quote;
use crate::ssh::{ExecOutput, ExecRequest, SshError, Stdin};

/// What a script reported: its `@key=value` lines, in order, and the rest of its stdout.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub pairs: Vec<(String, String)>,
    pub text: String,
}

impl Report {
    pub fn parse(stdout: &str) -> Report {
        let mut r = Report::default();
        for line in stdout.lines() {
            match line.strip_prefix('@').and_then(|l| l.split_once('=')) {
                Some((k, v)) if !k.is_empty() && !k.contains(' ') => {
                    r.pairs.push((k.to_string(), v.to_string()))
                }
                _ => {
                    r.text.push_str(line);
                    r.text.push('\n');
                }
            }
        }
        r
    }

    /// The last value reported for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value reported for `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn is(&self, key: &str, value: &str) -> bool {
        self.get(key) == Some(value)
    }
}

/// The full command line that runs `script` under `/bin/sh` with the task's environment.
pub fn command_line(environment: &[(String, String)], script: &str) -> String {
    let mut pre = String::from("LC_ALL=C; export LC_ALL; ");
    for (k, v) in environment {
        pre.push_str(&format!("{k}={}; export {k}; ", shell_quote(v)));
    }
    format!("/bin/sh -c {}", shell_quote(&format!("{pre}{script}")))
}

/// Run `script` (with optional stdin bytes, never echoed: passwords, file contents).
pub async fn run(
    call: &Call<'_>,
    script: &str,
    stdin: Option<&[u8]>,
    timeout: Option<Duration>,
) -> Result<ExecOutput, SshError> {
    let line = command_line(call.environment, script);
    let mut req = ExecRequest::new(&line);
    if let Some(u) = call.become_user {
        req = req.become_user(u);
    }
    if let Some(bytes) = stdin {
        req = req.stdin(Stdin::Bytes(bytes));
    }
    if let Some(t) = timeout {
        req = req.timeout(t);
    }
    call.conn.exec(req).await
}

/// Run and parse in one go.
pub async fn report(
    call: &Call<'_>,
    script: &str,
    stdin: Option<&[u8]>,
) -> Result<(ExecOutput, Report), SshError> {
    let out = run(call, script, stdin, None).await?;
    let rep = Report::parse(&out.stdout_str());
    Ok((out, rep))
}

/// A failed result carrying the tool output (`rc`, `stdout`, `stderr`) and `msg`.
pub fn failure(out: &ExecOutput, rep: &Report, msg: impl Into<String>) -> ModuleResult {
    let mut r = super::command::from_output(out);
    r.failed = true;
    r.changed = false;
    r.stdout = Some(rep.text.trim_end().to_string());
    r.msg = Some(msg.into());
    if r.rc == Some(0) {
        // The script decided the failure: no tool's exit status to show.
        r.rc = None;
    }
    r
}

/// The script function `act CMD ARGS...`: reports `@did=CMD ARGS` and, unless `$check` is
/// 1, runs it; on failure prints its output and `@failed=CMD` and exits 1. Arguments are
/// reported, so a secret must never be one (passwords go through stdin).
pub const ACT: &str = r#"act() {
  echo "@did=$*"
  [ "$check" = 1 ] && return 0
  out=$("$@" 2>&1) || { printf '%s\n' "$out"; echo "@failed=$1"; exit 1; }
}
"#;

/// `1`/`0` for a script variable.
pub fn bit(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_and_text_split() {
        let r = Report::parse("@a=1\nhello\n@b=x=y\n@a=2\n@bad key=3\n");
        assert_eq!(r.get("a"), Some("2"));
        assert_eq!(r.all("a"), vec!["1", "2"]);
        assert_eq!(r.get("b"), Some("x=y"));
        assert_eq!(r.text, "hello\n@bad key=3\n");
        assert!(r.is("b", "x=y"));
    }

    #[test]
    fn environment_exported_before_the_script() {
        let env = [("X".to_string(), "a b".to_string())];
        assert_eq!(
            command_line(&env, "echo $X"),
            "/bin/sh -c 'LC_ALL=C; export LC_ALL; X='\\''a b'\\''; export X; echo $X'"
        );
    }
}
