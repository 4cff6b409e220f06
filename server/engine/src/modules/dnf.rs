//! `yum` and `dnf`: RPM packages present, absent or `latest`, with repositories enabled or
//! disabled for the run (`disablerepo: "*"` then `enablerepo: cairn` uses only Cairn's repo;
//! the options are passed in that order, which is the order dnf applies them).
//!
//! One exec: `rpm -q` (or `--whatprovides`) splits the names into installed and missing,
//! `check-update` (exit 100) finds upgrades for `latest`, and only the needed `install`,
//! `upgrade` or `remove` runs (none in check mode). dnf is used when present, else yum.
//! `installroot` and `releasever` as in Ansible: dnf and rpm then work on the tree under that
//! path. The command construction and output parsing are unit-tested; `tests/yum.rs` runs the
//! module (local connection) against real dnf 4 (Debian's) with an installroot and Cairn's yum
//! repository as its only one. The lab hosts are Debian, so no EL host has run it yet.

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
    pub state: String,
    pub enablerepo: Vec<String>,
    pub disablerepo: Vec<String>,
    pub update_cache: bool,
    pub disable_gpg_check: bool,
    pub exclude: Vec<String>,
    pub autoremove: bool,
    pub install_weak_deps: Option<bool>,
    pub allowerasing: bool,
    /// Ansible's `installroot`: dnf and rpm work on the tree under this path (`/`: the host).
    pub installroot: Option<String>,
    /// Ansible's `releasever`: `$releasever` for the repositories (needed in an installroot
    /// that has no release package yet).
    pub releasever: Option<String>,
}

pub fn want(args: &Vars) -> Result<Want, String> {
    let p = Params(args);
    let state = match p.str(&["state"]).as_deref() {
        None | Some("present" | "installed") => "present",
        Some("absent" | "removed") => "absent",
        Some("latest") => "latest",
        Some(other) => {
            return Err(format!(
                "value of state must be one of: absent, installed, latest, present, removed, got: {other}"
            ));
        }
    };
    let w = Want {
        names: p.list(&["name", "pkg"]),
        state: state.into(),
        enablerepo: p.list(&["enablerepo"]),
        disablerepo: p.list(&["disablerepo"]),
        update_cache: p.flag(&["update_cache", "expire-cache"], false)?,
        disable_gpg_check: p.flag(&["disable_gpg_check"], false)?,
        exclude: p.list(&["exclude"]),
        autoremove: p.flag(&["autoremove"], false)?,
        install_weak_deps: p.bool(&["install_weak_deps"])?,
        allowerasing: p.flag(&["allowerasing"], false)?,
        installroot: p.str(&["installroot"]).filter(|r| r != "/"),
        releasever: p.str(&["releasever"]),
    };
    if w.names.is_empty() && !w.update_cache && !w.autoremove {
        return Err("one of the following is required: name, update_cache, autoremove".into());
    }
    // Options are word-split by the script (globbing off): keep them single words.
    let root: Vec<String> = w.installroot.iter().cloned().collect();
    let release: Vec<String> = w.releasever.iter().cloned().collect();
    for (key, values) in [
        ("enablerepo", &w.enablerepo),
        ("disablerepo", &w.disablerepo),
        ("exclude", &w.exclude),
        ("installroot", &root),
        ("releasever", &release),
    ] {
        if let Some(bad) = values.iter().find(|v| {
            v.chars()
                .any(|c| c.is_whitespace() || "'\"$`\\;&|<>()".contains(c))
        }) {
            return Err(format!(
                "{key}: {bad:?} must be one word, without spaces, quotes or shell characters"
            ));
        }
    }
    Ok(w)
}

/// The options before the verb: repositories (disabled first, then enabled), gpg, excludes.
pub fn options(w: &Want) -> Vec<String> {
    let mut o = Vec::new();
    for r in &w.disablerepo {
        o.push(format!("--disablerepo={r}"));
    }
    for r in &w.enablerepo {
        o.push(format!("--enablerepo={r}"));
    }
    if w.disable_gpg_check {
        o.push("--nogpgcheck".into());
    }
    for e in &w.exclude {
        o.push(format!("--exclude={e}"));
    }
    if let Some(b) = w.install_weak_deps {
        o.push(format!(
            "--setopt=install_weak_deps={}",
            if b { "True" } else { "False" }
        ));
    }
    if w.allowerasing {
        o.push("--allowerasing".into());
    }
    if let Some(r) = &w.installroot {
        o.push(format!("--installroot={r}"));
    }
    if let Some(r) = &w.releasever {
        o.push(format!("--releasever={r}"));
    }
    o
}

/// rpm's options: the same tree as dnf's.
fn rpm_options(w: &Want) -> String {
    match &w.installroot {
        Some(r) => format!("--root {r}"),
        None => String::new(),
    }
}

pub fn script(w: &Want, check: bool) -> String {
    let opts = options(w);
    let names: Vec<String> = w.names.iter().map(|n| shell_quote(n)).collect();
    format!(
        r#"set -f
check={check}; state={state}; refresh={refresh}; autoremove={autoremove}
if command -v dnf >/dev/null 2>&1; then pm=dnf; elif command -v yum >/dev/null 2>&1; then pm=yum
else echo "@nopm=1"; exit 0; fi
echo "@pm=$pm"
O="{opts}"; R="{rpm}"
pmrun() {{
  echo "@did=$*"
  [ "$check" = 1 ] && return 0
  echo "@@run $1"
  $pm -y $O "$@" 2>&1 || {{ echo "@failed=$1"; exit 0; }}
}}
if [ "$refresh" = 1 ] && [ "$check" = 0 ]; then
  out=$($pm -q $O makecache 2>&1) || {{ printf '%s\n' "$out"; echo "@failed=makecache"; exit 0; }}
  echo "@cache_updated=1"
fi
set -- {names}
missing=""; installed=""
for p in "$@"; do
  if rpm $R -q "$p" >/dev/null 2>&1 || rpm $R -q --whatprovides "$p" >/dev/null 2>&1; then installed="$installed $p"
  else missing="$missing $p"; fi
done
echo "@missing=$missing"; echo "@installed=$installed"
case "$state" in
  present) [ -n "$missing" ] && pmrun install $missing ;;
  latest)
    [ -n "$missing" ] && pmrun install $missing
    if [ -n "$installed" ]; then
      $pm -q $O check-update $installed >/dev/null 2>&1; [ $? = 100 ] && pmrun upgrade $installed
    fi ;;
  absent) [ -n "$installed" ] && pmrun remove $installed ;;
esac
if [ "$autoremove" = 1 ]; then
  n=$($pm -q $O autoremove --assumeno 2>/dev/null | grep -c '^Removing')
  [ "$n" -gt 0 ] && pmrun autoremove
fi
true
"#,
        check = bit(check),
        state = w.state,
        refresh = bit(w.update_cache),
        autoremove = bit(w.autoremove),
        opts = opts.join(" "),
        rpm = rpm_options(w),
        names = names.join(" "),
    )
}

/// `Installed: tree-1.8.0-10.el9.x86_64` lines, as Ansible's dnf `results`, from dnf's or
/// yum's summary sections.
pub fn results(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut section: Option<&str> = None;
    for line in text.lines() {
        let t = line.trim();
        match t {
            "Installed:"
            | "Upgraded:"
            | "Removed:"
            | "Updated:"
            | "Dependency Installed:"
            | "Dependency Updated:"
            | "Dependency Removed:"
            | "Erased:" => {
                section = Some(t.trim_end_matches(':'));
                continue;
            }
            "" | "Complete!" => {
                section = None;
                continue;
            }
            _ => {}
        }
        if let Some(s) = section {
            if line.starts_with(' ') {
                for pkg in t.split_whitespace() {
                    // yum prints `name.arch epoch:version`: the version joins its package.
                    match out.last_mut() {
                        Some(prev) if pkg.starts_with(|c: char| c.is_ascii_digit()) => {
                            prev.push(' ');
                            prev.push_str(pkg);
                        }
                        _ => out.push(format!("{s}: {pkg}")),
                    }
                }
            } else {
                section = None;
            }
        }
    }
    out
}

pub fn failure_message(verb: &str, text: &str) -> String {
    let nomatch = regex::Regex::new(r"(?m)^No (?:match for argument|package)[: ]+(\S+)")
        .expect("static regex");
    let missing: Vec<String> = nomatch
        .captures_iter(text)
        .map(|c| format!("No package {} available.", c[1].trim_end_matches('.')))
        .collect();
    if !missing.is_empty() {
        return format!(
            "Failed to install some of the specified packages: {}",
            missing.join(" ")
        );
    }
    // dnf 4 puts a depsolve problem on the indented lines after a bare `Error: `: keep them
    // with their error line.
    let mut errors: Vec<String> = Vec::new();
    let mut in_error = false;
    for line in text.lines() {
        if line.starts_with("Error") {
            errors.push(line.trim().to_string());
            in_error = true;
        } else if in_error && line.starts_with(' ') && !line.trim().is_empty() {
            let last = errors.last_mut().expect("an error line came first");
            last.push(' ');
            last.push_str(line.trim());
        } else {
            in_error = false;
        }
    }
    let detail = if errors.is_empty() {
        text.trim().to_string()
    } else {
        errors.join("; ")
    };
    format!("'{verb}' failed: {detail}")
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let w = match want(call.args) {
        Ok(w) => w,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let limit = std::time::Duration::from_secs(3600);
    let out = sh::run(call, &script(&w, call.check), None, Some(limit)).await?;
    let rep = Report::parse(&out.stdout_str());
    Ok(result(&out, &rep, call.host))
}

pub fn result(out: &crate::ssh::ExecOutput, rep: &Report, host: &str) -> ModuleResult {
    if rep.is("nopm", "1") {
        return sh::failure(
            out,
            rep,
            format!(
                "{host} has neither dnf nor yum: use the package manager of its distribution (package: picks it)"
            ),
        );
    }
    if let Some(verb) = rep.get("failed") {
        return sh::failure(out, rep, failure_message(verb, &rep.text));
    }
    let did = rep.all("did");
    let mut r = ModuleResult {
        changed: !did.is_empty(),
        rc: Some(0),
        msg: Some(if did.is_empty() {
            "Nothing to do".into()
        } else {
            String::new()
        }),
        ..ModuleResult::default()
    };
    r.extra.insert("results".into(), json!(results(&rep.text)));
    if let Some(pm) = rep.get("pm") {
        r.extra.insert("pkg_mgr".into(), json!(pm));
    }
    r.extra.insert("actions".into(), json!(did));
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
    fn command_construction() {
        let a = w(json!({"name": ["tree", "etcd-3.5"], "state": "installed", "disablerepo": "*",
            "enablerepo": ["cairn", "cairn-extra"], "disable_gpg_check": true, "update_cache": "yes"})).unwrap();
        assert_eq!(
            options(&a),
            vec![
                "--disablerepo=*",
                "--enablerepo=cairn",
                "--enablerepo=cairn-extra",
                "--nogpgcheck"
            ]
        );
        let s = script(&a, false);
        assert!(s.starts_with("set -f\n"));
        assert!(
            s.contains(
                "O=\"--disablerepo=* --enablerepo=cairn --enablerepo=cairn-extra --nogpgcheck\""
            ),
            "{s}"
        );
        assert_eq!(
            w(json!({"name": "x", "enablerepo": "a b"})).unwrap_err(),
            "enablerepo: \"a b\" must be one word, without spaces, quotes or shell characters"
        );
        assert!(s.contains("set -- tree etcd-3.5\n"));
        assert!(
            s.contains("R=\"\"\n"),
            "no installroot: rpm on the host's tree: {s}"
        );
        let r = w(json!({"name": "x", "installroot": "/srv/root", "releasever": "9"})).unwrap();
        assert_eq!(
            options(&r),
            vec!["--installroot=/srv/root", "--releasever=9"]
        );
        assert!(script(&r, false).contains("R=\"--root /srv/root\"\n"));
        assert_eq!(
            w(json!({"name": "x", "installroot": "/"}))
                .unwrap()
                .installroot,
            None
        );
        assert_eq!(
            w(json!({"name": "x", "installroot": "/a;b"})).unwrap_err(),
            "installroot: \"/a;b\" must be one word, without spaces, quotes or shell characters"
        );
        assert!(s.contains("check=0; state=present; refresh=1"));
        assert_eq!(
            w(json!({"name": "x", "state": "fixed"})).unwrap_err(),
            "value of state must be one of: absent, installed, latest, present, removed, got: fixed"
        );
        assert_eq!(
            w(json!({})).unwrap_err(),
            "one of the following is required: name, update_cache, autoremove"
        );
    }

    #[test]
    fn output_parsing() {
        let dnf = "Last metadata expiration check: 0:01:02 ago.\nDependencies resolved.\n\
                   ====\nInstalled:\n  tree-1.8.0-10.el9.x86_64    lsof-4.94.0-3.el9.x86_64\n\nComplete!\n";
        assert_eq!(
            results(dnf),
            vec![
                "Installed: tree-1.8.0-10.el9.x86_64",
                "Installed: lsof-4.94.0-3.el9.x86_64"
            ]
        );
        let yum = "Removed:\n  tree.x86_64 0:1.6.0-10.el7\n\nComplete!\n";
        assert_eq!(results(yum), vec!["Removed: tree.x86_64 0:1.6.0-10.el7"]);
        assert_eq!(
            failure_message(
                "install",
                "No match for argument: nosuch\nError: Unable to find a match: nosuch\n"
            ),
            "Failed to install some of the specified packages: No package nosuch available."
        );
        assert_eq!(
            failure_message(
                "install",
                "Error: Failed to download metadata for repo 'cairn'\n"
            ),
            "'install' failed: Error: Failed to download metadata for repo 'cairn'"
        );
        // dnf 4's depsolve failure: the reason is under a bare `Error: `.
        assert_eq!(
            failure_message(
                "install",
                "@@run install\nCairn installer   1.5 MB/s | 1.5 kB     00:00    \nError: \n \
                 Problem: conflicting requests\n  - nothing provides libfoo >= 2.0 needed by \
                 needs-new-1.0-1.noarch\n(try to add '--skip-broken' to skip uninstallable packages)"
            ),
            "'install' failed: Error: Problem: conflicting requests - nothing provides libfoo >= 2.0 \
             needed by needs-new-1.0-1.noarch"
        );
        let ok = ExecOutput {
            exit_status: Some(0),
            ..Default::default()
        };
        let r = result(
            &ok,
            &Report::parse("@pm=dnf\n@missing=\n@installed= tree\n"),
            "h",
        );
        assert!(!r.changed);
        let r = result(
            &ok,
            &Report::parse(
                "@pm=dnf\n@did=install tree\n@@run install\nInstalled:\n  tree-1.8.0-10.el9.x86_64\n",
            ),
            "h",
        );
        assert!(r.changed);
        assert_eq!(
            r.extra["results"],
            json!(["Installed: tree-1.8.0-10.el9.x86_64"])
        );
        let r = result(&ok, &Report::parse("@nopm=1\n"), "h");
        assert_eq!(
            r.msg.as_deref(),
            Some(
                "h has neither dnf nor yum: use the package manager of its distribution (package: picks it)"
            )
        );
    }
}
