//! `wait_for`: wait on the host until a TCP port accepts connections (or stops, or has no
//! connections left: `drained`), a file exists (optionally containing `search_regex`) or is
//! gone, within `timeout` seconds, checking every `sleep` seconds after a `delay`.
//!
//! The loop runs on the host, in one exec, in POSIX sh (dash has no `/dev/tcp`): a port is
//! probed with bash's `/dev/tcp` when bash is there (Debian's base has it), else `nc -z`,
//! else, for a local `host` only, `ss` listening sockets; `drained` reads `ss`. Must not: read
//! data from a port (`search_regex` applies to files only here, said in the error).
//! `search_regex` is a POSIX extended regex (`grep -E`), not Python's `re`.

use std::time::Duration;

use serde_json::json;

use super::params::Params;
use super::sh::{self, Report};
use super::{Call, ModuleResult};
use crate::playbook::Vars;
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

#[derive(Debug, PartialEq)]
pub struct Want {
    pub host: String,
    pub port: Option<i64>,
    pub path: Option<String>,
    pub state: String,
    pub regex: Option<String>,
    pub timeout: i64,
    pub delay: i64,
    pub sleep: i64,
    pub connect_timeout: i64,
    pub msg: Option<String>,
}

pub fn want(args: &Vars) -> Result<Want, String> {
    let p = Params(args);
    let w = Want {
        host: p.str(&["host"]).unwrap_or_else(|| "127.0.0.1".into()),
        port: p.int(&["port"])?,
        path: p.str(&["path"]),
        state: p.choice(
            &["state"],
            &["started", "stopped", "present", "absent", "drained"],
        )?,
        regex: p.str(&["search_regex"]),
        timeout: p.int(&["timeout"])?.unwrap_or(300),
        delay: p.int(&["delay"])?.unwrap_or(0),
        sleep: p.int(&["sleep"])?.unwrap_or(1).max(1),
        connect_timeout: p.int(&["connect_timeout"])?.unwrap_or(5).max(1),
        msg: p.str(&["msg"]),
    };
    if w.port.is_some() && w.path.is_some() {
        return Err("port and path parameter can not both be passed to wait_for".into());
    }
    if w.port.is_some() && w.regex.is_some() {
        return Err(
            "search_regex with port is not supported by Cairn (it does not read from sockets): \
             wait for the port, or for a file with search_regex"
                .into(),
        );
    }
    if w.path.is_some() && w.state == "drained" {
        return Err(
            "state=drained should only be used for checking a port in the wait_for module".into(),
        );
    }
    if w.state == "drained" && w.port.is_none() {
        return Err("state=drained needs a port".into());
    }
    Ok(w)
}

/// The shell condition that ends the wait (true when done), or `None` for a plain sleep.
pub fn condition(w: &Want) -> Option<String> {
    if let Some(path) = &w.path {
        let f = shell_quote(path);
        return Some(match (w.state.as_str(), &w.regex) {
            ("absent" | "stopped", _) => format!("[ ! -e {f} ]"),
            (_, Some(re)) => format!(
                "[ -f {f} ] && grep -Eq -- {} {f} 2>/dev/null",
                shell_quote(re)
            ),
            _ => format!("[ -e {f} ]"),
        });
    }
    let port = w.port?;
    let drained = format!(
        "[ -z \"$(ss -Htn state established state syn-recv state fin-wait-1 state fin-wait-2 \
         state close-wait state last-ack '( sport = :{port} )' 2>/dev/null)\" ]"
    );
    Some(match w.state.as_str() {
        "drained" => drained,
        "stopped" | "absent" => "! open".to_string(),
        _ => "open".to_string(),
    })
}

pub fn script(w: &Want) -> String {
    let cond = condition(w).unwrap_or_else(|| "false".into());
    let port = w.port.unwrap_or(0);
    let local = matches!(
        w.host.as_str(),
        "127.0.0.1" | "localhost" | "::1" | "0.0.0.0" | ""
    );
    format!(
        r#"host={host}; port={port}; ct={ct}; local={local}
now() {{ date +%s; }}
open() {{
  if command -v bash >/dev/null 2>&1; then
    timeout "$ct" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
  elif command -v nc >/dev/null 2>&1; then nc -z -w "$ct" "$host" "$port" >/dev/null 2>&1
  elif [ "$local" = 1 ]; then [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]
  else echo "@noprobe=1"; exit 0; fi
}}
start=$(now)
sleep {delay}
while :; do
  if {cond}; then echo "@elapsed=$(( $(now) - start ))"; exit 0; fi
  if [ $(( $(now) - start )) -ge {timeout} ]; then echo "@timeout=1"; echo "@elapsed=$(( $(now) - start ))"; exit 0; fi
  sleep {sleep}
done
"#,
        host = shell_quote(&w.host),
        ct = w.connect_timeout,
        local = u8::from(local),
        delay = w.delay,
        timeout = w.timeout,
        sleep = w.sleep,
    )
}

/// Ansible's timeout message for `w`.
pub fn timeout_message(w: &Want) -> String {
    if let Some(m) = &w.msg {
        return m.clone();
    }
    let hp = format!("{}:{}", w.host, w.port.unwrap_or(0));
    match (&w.path, &w.regex, w.state.as_str()) {
        (Some(p), _, "absent" | "stopped") => format!("Timeout when waiting for {p} to be absent."),
        (Some(p), Some(re), _) => format!("Timeout when waiting for search string {re} in {p}"),
        (Some(p), None, _) => format!("Timeout when waiting for file {p}"),
        (None, _, "stopped" | "absent") => format!("Timeout when waiting for {hp} to stop."),
        (None, _, "drained") => format!("Timeout when waiting for {hp} to drain"),
        _ => format!("Timeout when waiting for {hp}"),
    }
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let w = match want(call.args) {
        Ok(w) => w,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let limit = Duration::from_secs((w.delay + w.timeout).max(0) as u64 + 60);
    let out = sh::run(call, &script(&w), None, Some(limit)).await?;
    let rep = Report::parse(&out.stdout_str());
    Ok(result(&w, &out, &rep, call.host))
}

pub fn result(w: &Want, out: &crate::ssh::ExecOutput, rep: &Report, host: &str) -> ModuleResult {
    if rep.is("noprobe", "1") {
        return sh::failure(
            out,
            rep,
            format!(
                "wait_for cannot probe {}:{} from {host}: it has neither bash nor nc (install netcat-openbsd), \
                 and only local ports can be checked with ss",
                w.host,
                w.port.unwrap_or(0)
            ),
        );
    }
    let elapsed: i64 = rep.get("elapsed").and_then(|e| e.parse().ok()).unwrap_or(0);
    let timed_out = rep.is("timeout", "1");
    let mut r = if timed_out && condition(w).is_some() {
        let mut r = ModuleResult::failed(timeout_message(w));
        r.rc = None;
        r
    } else if !out.success() {
        sh::failure(out, rep, "the wait_for loop failed on the host")
    } else {
        ModuleResult::default()
    };
    r.extra.insert("elapsed".into(), json!(elapsed));
    r.extra.insert("state".into(), json!(w.state));
    if let Some(p) = w.port {
        r.extra.insert("port".into(), json!(p));
    }
    if let Some(p) = &w.path {
        r.extra.insert("path".into(), json!(p));
    }
    if let Some(re) = &w.regex {
        r.extra.insert("search_regex".into(), json!(re));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: serde_json::Value) -> Result<Want, String> {
        want(v.as_object().unwrap())
    }

    #[test]
    fn conditions_and_messages() {
        // (args, condition, timeout message)
        let cases = [
            (
                json!({"port": 22}),
                "open",
                "Timeout when waiting for 127.0.0.1:22",
            ),
            (
                json!({"port": 80, "host": "10.0.0.1", "state": "stopped"}),
                "! open",
                "Timeout when waiting for 10.0.0.1:80 to stop.",
            ),
            (
                json!({"path": "/tmp/x y"}),
                "[ -e '/tmp/x y' ]",
                "Timeout when waiting for file /tmp/x y",
            ),
            (
                json!({"path": "/tmp/x", "search_regex": "ready|up"}),
                "[ -f /tmp/x ] && grep -Eq -- 'ready|up' /tmp/x 2>/dev/null",
                "Timeout when waiting for search string ready|up in /tmp/x",
            ),
            (
                json!({"path": "/tmp/x", "state": "absent"}),
                "[ ! -e /tmp/x ]",
                "Timeout when waiting for /tmp/x to be absent.",
            ),
            (json!({"port": 22, "msg": "no ssh"}), "open", "no ssh"),
        ];
        for (args, cond, msg) in cases {
            let w = w(args.clone()).unwrap();
            assert_eq!(condition(&w).as_deref(), Some(cond), "{args}");
            assert_eq!(timeout_message(&w), msg, "{args}");
        }
        let d = w(json!({"port": 22, "state": "drained"})).unwrap();
        assert!(condition(&d).unwrap().contains("'( sport = :22 )'"));
        assert_eq!(condition(&w(json!({"timeout": 1})).unwrap()), None);
    }

    #[test]
    fn results() {
        let ok = crate::ssh::ExecOutput {
            exit_status: Some(0),
            ..Default::default()
        };
        let remote = w(json!({"port": 80, "host": "10.0.0.9"})).unwrap();
        let r = result(&remote, &ok, &Report::parse("@noprobe=1\n"), "lab8");
        assert_eq!(
            r.msg.as_deref(),
            Some(
                "wait_for cannot probe 10.0.0.9:80 from lab8: it has neither bash nor nc (install netcat-openbsd), and only local ports can be checked with ss"
            )
        );
        let r = result(&remote, &ok, &Report::parse("@elapsed=3\n"), "lab8");
        assert!(!r.failed && !r.changed);
        assert_eq!(r.extra["elapsed"], 3);
        let r = result(
            &remote,
            &ok,
            &Report::parse("@timeout=1\n@elapsed=5\n"),
            "lab8",
        );
        assert_eq!(
            r.msg.as_deref(),
            Some("Timeout when waiting for 10.0.0.9:80")
        );
        // No port and no path: a plain sleep of `timeout` seconds, which is no failure.
        let sleep = w(json!({"timeout": 1})).unwrap();
        assert!(!result(&sleep, &ok, &Report::parse("@timeout=1\n@elapsed=1\n"), "h").failed);
    }

    #[test]
    fn refused_arguments() {
        let cases = [
            (
                json!({"port": 1, "path": "/x"}),
                "port and path parameter can not both be passed to wait_for",
            ),
            (
                json!({"port": 1, "search_regex": "x"}),
                "search_regex with port is not supported by Cairn (it does not read from sockets): wait for the port, or for a file with search_regex",
            ),
            (json!({"state": "drained"}), "state=drained needs a port"),
            (
                json!({"path": "/x", "state": "drained"}),
                "state=drained should only be used for checking a port in the wait_for module",
            ),
        ];
        for (args, msg) in cases {
            assert_eq!(w(args.clone()).unwrap_err(), msg, "{args}");
        }
    }
}
