//! `service`, `systemd`, `systemd_service`: a systemd unit's state (started, stopped,
//! restarted, reloaded), whether it starts at boot (`enabled`), `masked`, and `daemon_reload`.
//!
//! One exec: a script reads the unit's `LoadState`, `ActiveState` and `systemctl is-enabled`,
//! runs only the `systemctl` verbs needed (none in check mode; it only reports them), then
//! reports the unit's properties for `status`. Order as Ansible's: daemon-reload, mask/unmask,
//! enable/disable, then the state. Only systemd is supported (`service` on a host without
//! systemd is a clear failure, not SysV emulation).

use serde_json::{Value as Json, json};

use super::params::Params;
use super::sh::{self, Report, bit};
use super::{Call, ModuleResult};
use crate::playbook::Vars;
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

/// What the user asked for, validated.
#[derive(Debug, PartialEq)]
pub struct Want {
    pub name: String,
    pub state: Option<String>,
    pub enabled: Option<bool>,
    pub masked: Option<bool>,
    pub daemon_reload: bool,
}

pub fn want(args: &Vars) -> Result<Want, String> {
    let p = Params(args);
    let name = p.str(&["name", "service", "unit"]);
    let state = match p.str(&["state"]) {
        None => None,
        Some(_) => Some(p.choice(&["state"], &["started", "stopped", "restarted", "reloaded"])?),
    };
    let enabled = p.bool(&["enabled"])?;
    let masked = p.bool(&["masked"])?;
    let daemon_reload = p.flag(&["daemon_reload", "daemon-reload"], false)?
        || p.flag(&["daemon_reexec", "daemon-reexec"], false)?;
    if let Some(scope) = p.str(&["scope"])
        && scope != "system"
    {
        return Err(format!(
            "scope {scope} is not supported by Cairn: only the system manager is"
        ));
    }
    let name = match name {
        Some(n) => n,
        None if daemon_reload && state.is_none() && enabled.is_none() && masked.is_none() => {
            String::new()
        }
        None => return Err("missing required arguments: name".into()),
    };
    if !name.is_empty()
        && state.is_none()
        && enabled.is_none()
        && masked.is_none()
        && !daemon_reload
    {
        return Err("at least one of state, enabled, masked or daemon_reload is required".into());
    }
    Ok(Want {
        name,
        state,
        enabled,
        masked,
        daemon_reload,
    })
}

/// The script for `w` (`check`: decide and report, run no verb but daemon-reload's read-only
/// absence).
pub fn script(w: &Want, check: bool) -> String {
    let opt = |b: Option<bool>| b.map_or("", bit);
    format!(
        r#"n={name}; check={check}; st={state}; en={en}; mask={mask}; reload={reload}
command -v systemctl >/dev/null 2>&1 || {{ echo "@nosystemd=1"; exit 1; }}
act() {{
  echo "@did=$1"
  [ "$check" = 1 ] && return 0
  out=$(systemctl "$1" "$n" 2>&1) || {{ printf '%s\n' "$out"; echo "@failed=$1"; exit 1; }}
}}
if [ "$reload" = 1 ] && [ "$check" = 0 ]; then
  out=$(systemctl daemon-reload 2>&1) || {{ printf '%s\n' "$out"; echo "@failed=daemon-reload"; exit 1; }}
fi
[ -z "$n" ] && exit 0
load=$(systemctl show "$n" -p LoadState --value 2>/dev/null)
echo "@load=$load"
if [ "$mask" = 1 ] && [ "$load" != masked ]; then act mask; fi
# Masking works on units not installed yet (as in Ansible); enabling and state need the unit.
if [ "$load" = not-found ] && [ "$mask" != 1 ]; then
  if [ -n "$en" ] || [ -n "$st" ]; then echo "@missing=1"; fi
  exit 0
fi
if [ "$mask" = 0 ] && [ "$load" = masked ]; then act unmask; fi
if [ -n "$en" ]; then
  e=$(systemctl is-enabled "$n" 2>/dev/null); echo "@is_enabled=$e"
  case "$e" in
    enabled|enabled-runtime|alias|linked|linked-runtime|indirect) on=1 ;;
    static|generated|transient) on=$en ;;
    *) on=0 ;;
  esac
  if [ "$en" = 1 ] && [ "$on" = 0 ]; then act enable; fi
  if [ "$en" = 0 ] && [ "$on" = 1 ]; then act disable; fi
fi
a=$(systemctl show "$n" -p ActiveState --value 2>/dev/null)
echo "@active=$a"
case "$st" in
  started) case "$a" in active|activating|reloading) ;; *) act start ;; esac ;;
  stopped) case "$a" in active|activating|reloading|deactivating) act stop ;; esac ;;
  restarted) act restart ;;
  reloaded) case "$a" in active|reloading) act reload ;; *) act start ;; esac ;;
esac
systemctl show "$n" --no-pager -p Id -p Names -p Description -p LoadState -p ActiveState \
  -p SubState -p UnitFileState -p MainPID -p ExecMainStatus -p FragmentPath 2>/dev/null \
  | sed 's/^/@status_/'
"#,
        name = shell_quote(&w.name),
        check = bit(check),
        state = w.state.as_deref().unwrap_or("''"),
        en = opt(w.enabled),
        mask = opt(w.masked),
        reload = bit(w.daemon_reload),
    )
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let w = match want(call.args) {
        Ok(w) => w,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let (out, rep) = sh::report(call, &script(&w, call.check), None).await?;
    Ok(result(&w, &out, &rep, call.host))
}

pub fn result(w: &Want, out: &crate::ssh::ExecOutput, rep: &Report, host: &str) -> ModuleResult {
    if rep.is("nosystemd", "1") {
        return sh::failure(
            out,
            rep,
            format!("{host} has no systemctl: Cairn manages services through systemd only"),
        );
    }
    if let Some(verb) = rep.get("failed") {
        let detail = rep.text.trim();
        return sh::failure(
            out,
            rep,
            format!("Unable to {verb} service {}: {detail}", w.name),
        );
    }
    if !out.success() {
        return sh::failure(out, rep, "the service script failed on the host");
    }
    if rep.is("missing", "1") {
        return sh::failure(
            out,
            rep,
            format!("Could not find the requested service {}: host", w.name),
        );
    }
    let did = rep.all("did");
    let mut r = ModuleResult {
        changed: !did.is_empty(),
        ..ModuleResult::default()
    };
    if !w.name.is_empty() {
        r.extra.insert("name".into(), json!(w.name));
        let mut status = Vars::new();
        for (k, v) in &rep.pairs {
            if let Some(prop) = k.strip_prefix("status_") {
                status.insert(prop.to_string(), json!(v));
            }
        }
        r.extra.insert("status".into(), Json::Object(status));
    }
    if let Some(s) = &w.state {
        r.extra.insert("state".into(), json!(s));
    }
    if let Some(e) = w.enabled {
        r.extra.insert("enabled".into(), json!(e));
    }
    if let Some(m) = w.masked {
        r.extra.insert("masked".into(), json!(m));
    }
    if !did.is_empty() {
        // The systemctl verbs run (or, in check mode, that would run).
        r.extra.insert("actions".into(), json!(did));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::ExecOutput;

    fn args(v: Json) -> Vars {
        v.as_object().unwrap().clone()
    }

    fn ok() -> ExecOutput {
        ExecOutput {
            exit_status: Some(0),
            ..Default::default()
        }
    }

    #[test]
    fn arguments() {
        let cases: &[(Json, Result<(), &str>)] = &[
            (json!({"name": "ssh", "state": "started"}), Ok(())),
            (json!({"daemon_reload": true}), Ok(())),
            (
                json!({"name": "ssh"}),
                Err("at least one of state, enabled, masked or daemon_reload is required"),
            ),
            (
                json!({"state": "started"}),
                Err("missing required arguments: name"),
            ),
            (
                json!({"name": "ssh", "state": "running"}),
                Err(
                    "value of state must be one of: started, stopped, restarted, reloaded, got: running",
                ),
            ),
            (
                json!({"name": "ssh", "state": "started", "scope": "user"}),
                Err("scope user is not supported by Cairn: only the system manager is"),
            ),
        ];
        for (a, want_res) in cases {
            assert_eq!(
                want(&args(a.clone())).map(|_| ()),
                want_res.map_err(str::to_string),
                "{a}"
            );
        }
    }

    #[test]
    fn check_mode_script_runs_no_verb() {
        let w = want(&args(
            json!({"name": "x y", "state": "started", "enabled": true}),
        ))
        .unwrap();
        let s = script(&w, true);
        assert!(s.starts_with("n='x y'; check=1; st=started; en=1; mask=; reload=0"));
        assert!(s.contains(r#"[ "$check" = 1 ] && return 0"#));
    }

    #[test]
    fn results_from_reports() {
        let w = want(&args(
            json!({"name": "nginx", "state": "started", "enabled": true}),
        ))
        .unwrap();
        let rep = Report::parse(
            "@load=loaded\n@is_enabled=disabled\n@did=enable\n@active=inactive\n@did=start\n\
             @status_ActiveState=active\n@status_SubState=running\n",
        );
        let r = result(&w, &ok(), &rep, "h");
        assert!(r.changed && !r.failed);
        assert_eq!(r.extra["status"]["ActiveState"], "active");
        assert_eq!(r.extra["enabled"], true);
        assert_eq!(r.extra["state"], "started");

        let unchanged = Report::parse("@load=loaded\n@is_enabled=enabled\n@active=active\n");
        assert!(!result(&w, &ok(), &unchanged, "h").changed);

        let missing = Report::parse("@load=not-found\n@missing=1\n");
        let r = result(&w, &ok(), &missing, "lab8");
        assert_eq!(
            r.msg.as_deref(),
            Some("Could not find the requested service nginx: host")
        );

        let bad = ExecOutput {
            exit_status: Some(1),
            ..Default::default()
        };
        let failed = Report::parse("Job for nginx.service failed.\n@failed=start\n");
        let r = result(&w, &bad, &failed, "h");
        assert_eq!(
            r.msg.as_deref(),
            Some("Unable to start service nginx: Job for nginx.service failed.")
        );
        let r = result(&w, &bad, &Report::parse("@nosystemd=1\n"), "lab8");
        assert_eq!(
            r.msg.as_deref(),
            Some("lab8 has no systemctl: Cairn manages services through systemd only")
        );
    }
}
