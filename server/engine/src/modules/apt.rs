//! `apt`: Debian packages present, absent (`purge`, `autoremove`) or at their `latest`
//! version, a local `.deb` (`deb`), and the package lists (`update_cache`, `cache_valid_time`).
//!
//! One exec. The script refreshes the lists when asked and stale, keeps the names that need
//! work (`dpkg-query`: not installed, another version asked, or installed when they must go),
//! asks `apt-get -s` what it would do (its `Inst`/`Remv`/`Purg` lines decide `changed`, in
//! check mode too, where nothing else runs), then runs `apt-get -y`. Always non-interactive
//! (`DEBIAN_FRONTEND=noninteractive`, keep changed config files), waiting up to `lock_timeout`
//! seconds for another apt or dpkg to let go of its lock. Unlike Ansible's, when apt-get
//! refuses because "dpkg was interrupted" (an install cut off: the installer killed, the host's
//! power lost), it runs `dpkg --configure -a` and apt-get once more, and says so in
//! `warnings`: a resumed install must not stop on what the install itself left half-done.

use serde_json::json;

use super::params::Params;
use super::sh::{self, Report, bit};
use super::{Call, ModuleResult};
use crate::playbook::Vars;
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

#[derive(Debug, Default)]
pub struct Want {
    pub names: Vec<String>,
    pub deb: Option<String>,
    pub state: String,
    pub update_cache: bool,
    pub cache_valid_time: i64,
    pub install_recommends: Option<bool>,
    pub purge: bool,
    pub autoremove: bool,
    pub allow_downgrade: bool,
    pub force: bool,
    pub lock_timeout: i64,
    pub default_release: Option<String>,
}

pub fn want(args: &Vars) -> Result<Want, String> {
    let p = Params(args);
    let mut state = p.choice_or(
        &["state"],
        &["present", "absent", "latest", "installed", "removed"],
        "present",
    )?;
    state = match state.as_str() {
        "installed" => "present".into(),
        "removed" => "absent".into(),
        _ => state,
    };
    let cache_valid_time = p.int(&["cache_valid_time"])?.unwrap_or(0);
    let w = Want {
        names: p.list(&["name", "package", "pkg"]),
        deb: p.str(&["deb"]),
        update_cache: p.flag(&["update_cache", "update-cache"], false)? || cache_valid_time > 0,
        cache_valid_time,
        install_recommends: p.bool(&["install_recommends", "install-recommends"])?,
        purge: p.flag(&["purge"], false)?,
        autoremove: p.flag(&["autoremove"], false)?,
        allow_downgrade: p.flag(
            &[
                "allow_downgrade",
                "allow-downgrade",
                "allow_downgrades",
                "allow-downgrades",
            ],
            false,
        )?,
        force: p.flag(&["force"], false)?,
        lock_timeout: p.int(&["lock_timeout"])?.unwrap_or(60),
        default_release: p.str(&["default_release", "default-release"]),
        state,
    };
    if w.names.is_empty() && w.deb.is_none() && !w.update_cache && !w.autoremove {
        return Err("one of the following is required: name, deb, update_cache, autoremove".into());
    }
    if let Some(rel) = &w.default_release
        && !rel
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(format!("default_release {rel:?} is not a release name"));
    }
    if w.deb.is_some() && w.state == "absent" {
        return Err(
            "deb installs a package file: to remove its package, give its name with state: absent"
                .into(),
        );
    }
    if w.deb.as_deref().is_some_and(|d| d.contains("://")) {
        return Err(
            "deb must be a path on the host; download it first (get_url), then give its path"
                .into(),
        );
    }
    Ok(w)
}

/// `apt-get` options shared by the simulation and the real run.
pub fn options(w: &Want) -> String {
    let mut o = format!(
        "-q -o DPkg::Lock::Timeout={} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold",
        w.lock_timeout
    );
    if let Some(r) = w.install_recommends {
        o.push_str(&format!(
            " -o APT::Install-Recommends={}",
            if r { "yes" } else { "no" }
        ));
    }
    if let Some(rel) = &w.default_release {
        o.push_str(&format!(" -t {rel}"));
    }
    if w.allow_downgrade || w.force {
        o.push_str(" --allow-downgrades");
    }
    if w.force {
        o.push_str(
            " --allow-unauthenticated --allow-remove-essential --allow-change-held-packages",
        );
    }
    if w.autoremove && w.state == "absent" {
        o.push_str(" --auto-remove");
    }
    o
}

pub fn verb(w: &Want) -> &'static str {
    match (w.state.as_str(), w.purge) {
        ("absent", true) => "purge",
        ("absent", false) => "remove",
        _ if w.autoremove && w.names.is_empty() && w.deb.is_none() => "autoremove",
        _ => "install",
    }
}

pub fn script(w: &Want, check: bool) -> String {
    let names: Vec<String> = w.names.iter().map(|n| shell_quote(n)).collect();
    format!(
        r#"DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND
check={check}; update={update}; valid={valid}; state={state}; verb={verb}; deb={deb}
O="{opts}"
command -v apt-get >/dev/null 2>&1 || {{ echo "@noapt=1"; exit 0; }}
if [ "$update" = 1 ]; then
  stamp=/var/lib/apt/periodic/update-success-stamp; [ -e "$stamp" ] || stamp=/var/lib/apt/lists
  age=$(( $(date +%s) - $(stat -c %Y "$stamp") ))
  if [ "$valid" = 0 ] || [ "$age" -gt "$valid" ]; then
    if [ "$check" = 0 ]; then
      out=$(apt-get $O update 2>&1) || {{ printf '%s\n' "$out"; echo "@failed=update"; exit 0; }}
      mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/update-success-stamp
      stamp=/var/lib/apt/periodic/update-success-stamp
    fi
    echo "@cache_updated=1"
  fi
  echo "@cache_update_time=$(stat -c %Y "$stamp")"
fi
set -- {names}
todo=""
for p in "$@"; do
  case "$p" in *=*) n=${{p%%=*}}; v=${{p#*=}};; *) n=$p; v="";; esac
  st=$(dpkg-query -W -f='${{db:Status-Abbrev}} ${{Version}}' "$n" 2>/dev/null)
  inst=0; have=""
  case "$st" in ii*|hi*) inst=1; have=${{st#* }}; have=${{have# }};; esac
  case "$state" in
    present) if [ "$inst" = 0 ] || {{ [ -n "$v" ] && [ "$v" != "$have" ]; }}; then todo="$todo $p"; fi ;;
    latest) todo="$todo $p" ;;
    absent) if [ "$inst" = 1 ] || {{ [ "$verb" = purge ] && [ -n "$st" ] && [ "${{st#rc}}" != "$st" ]; }}; then todo="$todo $n"; fi ;;
  esac
done
if [ -n "$deb" ]; then
  [ -f "$deb" ] || {{ echo "@nodeb=1"; exit 0; }}
  dn=$(dpkg-deb -f "$deb" Package); dv=$(dpkg-deb -f "$deb" Version)
  st=$(dpkg-query -W -f='${{db:Status-Abbrev}} ${{Version}}' "$dn" 2>/dev/null)
  [ "$st" = "ii  $dv" ] || {{ case "$deb" in /*) todo="$todo $deb";; *) todo="$todo ./$deb";; esac; }}
fi
if [ -z "$todo" ] && [ "$verb" != autoremove ]; then exit 0; fi
sim=$(apt-get -s $O $verb $todo 2>&1) || {{ printf '%s\n' "$sim"; echo "@failed=$verb"; exit 0; }}
printf '%s\n' "$sim" | grep -E '^(Inst|Remv|Purg) ' | sed 's/^/@change=/'
printf '%s\n' "$sim" | grep -qE '^(Inst|Remv|Purg) ' || exit 0
[ "$check" = 1 ] && exit 0
echo "@@run"
out=$(apt-get -y $O $verb $todo 2>&1); rc=$?
if [ "$rc" != 0 ] && printf '%s\n' "$out" | grep -q "dpkg was interrupted"; then
  printf '%s\n' "$out"
  echo "@repaired=dpkg"
  dpkg --force-confdef --force-confold --configure -a 2>&1
  out=$(apt-get -y $O $verb $todo 2>&1); rc=$?
fi
printf '%s\n' "$out"
[ "$rc" = 0 ] || echo "@failed=$verb"
"#,
        check = bit(check),
        update = bit(w.update_cache),
        valid = w.cache_valid_time,
        state = w.state,
        verb = verb(w),
        deb = shell_quote(w.deb.as_deref().unwrap_or("")),
        opts = options(w),
        names = names.join(" "),
    )
}

/// Ansible's message for a failed apt-get, from its output.
pub fn failure_message(verb: &str, text: &str) -> String {
    let locate = regex::Regex::new(r"Unable to locate package (\S+)").expect("static regex");
    if let Some(c) = locate.captures(text) {
        return format!("No package matching '{}' is available", &c[1]);
    }
    let version =
        regex::Regex::new(r"Version '([^']+)' for '([^']+)' was not found").expect("static regex");
    if let Some(c) = version.captures(text) {
        return format!(
            "no available installation candidate for {}={}",
            &c[2], &c[1]
        );
    }
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("E: ")).collect();
    let detail = if errors.is_empty() {
        text.trim().to_string()
    } else {
        errors.join("; ")
    };
    if verb == "update" {
        return format!("Failed to update apt cache: {detail}");
    }
    format!("'apt-get {verb}' failed: {detail}")
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let w = match want(call.args) {
        Ok(w) => w,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let limit = std::time::Duration::from_secs(3600);
    let out = sh::run(call, &script(&w, call.check), None, Some(limit)).await?;
    let rep = Report::parse(&out.stdout_str());
    Ok(result(&w, &out, &rep, call.host))
}

pub fn result(w: &Want, out: &crate::ssh::ExecOutput, rep: &Report, host: &str) -> ModuleResult {
    if rep.is("noapt", "1") {
        return sh::failure(
            out,
            rep,
            format!(
                "{host} has no apt-get: use the package manager of its distribution (package: picks it)"
            ),
        );
    }
    if rep.is("nodeb", "1") {
        return sh::failure(
            out,
            rep,
            format!(
                "deb file {} not found on {host}",
                w.deb.as_deref().unwrap_or("")
            ),
        );
    }
    let run_text = rep.text.split_once("@@run\n").map_or("", |(_, t)| t);
    let repaired = rep.is("repaired", "dpkg").then_some(
        "dpkg had been interrupted (a package install cut off): Cairn ran \
         `dpkg --configure -a`, then apt-get again",
    );
    if let Some(verb) = rep.get("failed") {
        let text = if run_text.is_empty() {
            rep.text.as_str()
        } else {
            run_text
        };
        let mut msg = failure_message(verb, text);
        if let Some(r) = &repaired {
            msg = format!("{msg} ({r})");
        }
        return sh::failure(out, rep, msg);
    }
    let changes = rep.all("change");
    let cache_updated = rep.is("cache_updated", "1");
    let packages_requested = !w.names.is_empty() || w.deb.is_some() || w.autoremove;
    let mut r = ModuleResult {
        // With packages named, the cache refresh alone is not a change (as in Ansible).
        changed: !changes.is_empty() || (cache_updated && !packages_requested),
        rc: Some(0),
        stdout: Some(run_text.trim_end().to_string()),
        stderr: Some(String::new()),
        ..ModuleResult::default()
    };
    if w.update_cache {
        r.extra.insert("cache_updated".into(), json!(cache_updated));
        if let Some(t) = rep
            .get("cache_update_time")
            .and_then(|t| t.parse::<i64>().ok())
        {
            r.extra.insert("cache_update_time".into(), json!(t));
        }
    }
    let lines: Vec<&str> = run_text.lines().collect();
    r.extra.insert("stdout_lines".into(), json!(lines));
    // What apt-get did (or, in check mode, would do): its `Inst`/`Remv`/`Purg` lines.
    r.extra.insert("changes".into(), json!(changes));
    if let Some(w) = repaired {
        r.extra.insert("warnings".into(), json!([w]));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::ExecOutput;

    fn w(v: serde_json::Value) -> Result<Want, String> {
        want(v.as_object().unwrap())
    }

    #[test]
    fn arguments_and_commands() {
        let a = w(json!({"name": "tree,curl", "state": "latest", "install_recommends": false, "cache_valid_time": 3600})).unwrap();
        assert_eq!(a.names, vec!["tree", "curl"]);
        assert!(a.update_cache, "cache_valid_time implies update_cache");
        assert_eq!(verb(&a), "install");
        assert!(options(&a).contains("-o APT::Install-Recommends=no"));
        assert!(options(&a).contains("-o DPkg::Lock::Timeout=60"));
        let s = script(&a, true);
        assert!(s.contains("set -- tree curl\n"));
        assert!(s.contains("check=1; update=1; valid=3600; state=latest; verb=install"));
        let r = w(json!({"name": ["tree"], "state": "absent", "purge": true, "autoremove": true}))
            .unwrap();
        assert_eq!(verb(&r), "purge");
        assert!(options(&r).ends_with("--auto-remove"));
        let errors = [
            (
                json!({}),
                "one of the following is required: name, deb, update_cache, autoremove",
            ),
            (
                json!({"name": "x", "state": "fixed"}),
                "value of state must be one of: present, absent, latest, installed, removed, got: fixed",
            ),
            (
                json!({"deb": "https://h/x.deb"}),
                "deb must be a path on the host; download it first (get_url), then give its path",
            ),
        ];
        for (args, msg) in errors {
            assert_eq!(w(args.clone()).unwrap_err(), msg, "{args}");
        }
    }

    #[test]
    fn messages() {
        let cases = [
            (
                "install",
                "Reading package lists...\nE: Unable to locate package nosuch\n",
                "No package matching 'nosuch' is available",
            ),
            (
                "install",
                "E: Version '9.9' for 'tree' was not found\n",
                "no available installation candidate for tree=9.9",
            ),
            (
                "update",
                "E: Could not get lock /var/lib/apt/lists/lock\n",
                "Failed to update apt cache: E: Could not get lock /var/lib/apt/lists/lock",
            ),
            (
                "remove",
                "dpkg: error\nE: Sub-process /usr/bin/dpkg returned an error code (1)\n",
                "'apt-get remove' failed: E: Sub-process /usr/bin/dpkg returned an error code (1)",
            ),
        ];
        for (verb, text, msg) in cases {
            assert_eq!(failure_message(verb, text), msg);
        }
    }

    /// An install cut off earlier: apt-get refused, dpkg --configure -a ran, apt-get again.
    #[test]
    fn an_interrupted_dpkg_is_repaired_and_said() {
        let ok = ExecOutput {
            exit_status: Some(0),
            ..Default::default()
        };
        let a = w(json!({"name": "prometheus"})).unwrap();
        let said = "dpkg had been interrupted (a package install cut off): Cairn ran \
                    `dpkg --configure -a`, then apt-get again";
        let text = "@change=Inst prometheus (2.42)\n@@run\nE: dpkg was interrupted, you must \
                    manually run 'sudo dpkg --configure -a' to correct the problem.\n\
                    @repaired=dpkg\nSetting up libjs-d3\nSetting up prometheus\n";
        let r = result(&a, &ok, &Report::parse(text), "lab51");
        assert!(r.changed && !r.failed);
        assert_eq!(r.extra["warnings"], json!([said]));
        let failed = text.replace(
            "Setting up prometheus\n",
            "E: Sub-process /usr/bin/dpkg returned an error code (1)\n@failed=install\n",
        );
        let r = result(&a, &ok, &Report::parse(&failed), "lab51");
        assert!(r.failed);
        assert_eq!(
            r.msg.as_deref(),
            Some(format!("'apt-get install' failed: E: dpkg was interrupted, you must manually run 'sudo dpkg --configure -a' to correct the problem.; E: Sub-process /usr/bin/dpkg returned an error code (1) ({said})").as_str())
        );
    }

    #[test]
    fn results() {
        let ok = ExecOutput {
            exit_status: Some(0),
            ..Default::default()
        };
        let a = w(json!({"name": "tree", "update_cache": true})).unwrap();
        let r = result(
            &a,
            &ok,
            &Report::parse("@cache_updated=1\n@cache_update_time=5\n"),
            "h",
        );
        assert!(
            !r.changed,
            "a refreshed cache with packages named is not a change"
        );
        assert_eq!(r.extra["cache_updated"], true);
        let r = result(
            &a,
            &ok,
            &Report::parse(
                "@change=Inst tree (2.1.0-1 Debian:12/stable [amd64])\n@@run\nSetting up tree\n",
            ),
            "h",
        );
        assert!(r.changed);
        assert_eq!(r.stdout.as_deref(), Some("Setting up tree"));
        let u = w(json!({"update_cache": true})).unwrap();
        assert!(result(&u, &ok, &Report::parse("@cache_updated=1\n"), "h").changed);
        let r = result(&a, &ok, &Report::parse("@noapt=1\n"), "lab8");
        assert_eq!(
            r.msg.as_deref(),
            Some(
                "lab8 has no apt-get: use the package manager of its distribution (package: picks it)"
            )
        );
        let d = w(json!({"deb": "/tmp/x.deb"})).unwrap();
        let r = result(&d, &ok, &Report::parse("@nodeb=1\n"), "lab8");
        assert_eq!(
            r.msg.as_deref(),
            Some("deb file /tmp/x.deb not found on lab8")
        );
        let r = result(
            &a,
            &ok,
            &Report::parse("E: Unable to locate package tree\n@failed=install\n"),
            "h",
        );
        assert_eq!(
            r.msg.as_deref(),
            Some("No package matching 'tree' is available")
        );
    }
}
