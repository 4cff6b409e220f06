//! `modprobe` (community.general): a kernel module loaded or not, and whether it is loaded at
//! boot (`persistent: present` writes `/etc/modules-load.d/NAME.conf`, and
//! `/etc/modprobe.d/NAME.conf` with its `params`; `absent` removes them; `disabled`, the
//! default, leaves them alone).
//!
//! One exec. A module counts as loaded when `/proc/modules` lists it or it is built in
//! (`/lib/modules/$(uname -r)/modules.builtin`, or `/sys/module/NAME` for a kernel without
//! loadable modules): then `present` is ok and unchanged even where nothing can be loaded, as
//! in a container. Otherwise loading needs `modprobe` and the right to use it; the failure
//! says which of the two is missing.

use serde_json::json;

use super::params::Params;
use super::sh::{self, ACT, Report, bit};
use super::{Call, ModuleResult};
use crate::playbook::Vars;
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

#[derive(Debug)]
pub struct Want {
    pub name: String,
    pub present: bool,
    pub params: String,
    pub persistent: String,
}

pub fn want(args: &Vars) -> Result<Want, String> {
    let p = Params(args);
    let name = p.required(&["name"])?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!("invalid kernel module name {name:?}"));
    }
    Ok(Want {
        name,
        present: p.choice(&["state"], &["present", "absent"])? == "present",
        params: p.str(&["params"]).unwrap_or_default(),
        persistent: p.choice(&["persistent"], &["disabled", "present", "absent"])?,
    })
}

pub fn script(w: &Want, check: bool) -> String {
    // /proc/modules and /sys/module spell module names with '_' where modprobe accepts '-'.
    let canon = w.name.replace('-', "_");
    let mut s = format!(
        r#"n={n}; c={c}; check={check}; params={params}
{ACT}loaded=0; builtin=0
grep -q "^$c " /proc/modules 2>/dev/null && loaded=1
b=/lib/modules/$(uname -r)/modules.builtin
if [ -f "$b" ]; then sed 's/-/_/g' "$b" | grep -q "/$c\.ko" && builtin=1
elif [ ! -e /proc/modules ] && [ -d "/sys/module/$c" ]; then builtin=1; fi
echo "@loaded=$loaded"; echo "@builtin=$builtin"
[ -e /proc/modules ] || echo "@nomodules=1"
command -v modprobe >/dev/null 2>&1 || echo "@nomodprobe=1"
"#,
        n = shell_quote(&w.name),
        c = shell_quote(&canon),
        check = bit(check),
        params = shell_quote(&w.params),
    );
    if w.present {
        s.push_str(
            r#"if [ "$loaded" = 0 ] && [ "$builtin" = 0 ]; then
  if ! command -v modprobe >/dev/null 2>&1; then echo "@cannot=1"; exit 0; fi
  act modprobe "$n" $params
fi
"#,
        );
    } else {
        s.push_str(
            r#"if [ "$builtin" = 1 ]; then echo "@builtin_absent=1"; exit 0; fi
if [ "$loaded" = 1 ]; then
  if ! command -v modprobe >/dev/null 2>&1; then echo "@cannot=1"; exit 0; fi
  act modprobe -r "$n"
fi
"#,
        );
    }
    let load_d = format!("/etc/modules-load.d/{}.conf", w.name);
    let opts_d = format!("/etc/modprobe.d/{}.conf", w.name);
    match w.persistent.as_str() {
        "present" => {
            s.push_str(&format!(
                "[ \"$(cat {load_d} 2>/dev/null)\" = \"$n\" ] || act sh -c 'mkdir -p /etc/modules-load.d && printf \"%s\\n\" \"$1\" > \"$2\"' sh \"$n\" {load_d}\n"
            ));
            if w.params.is_empty() {
                s.push_str(&format!("[ -e {opts_d} ] && act rm -f {opts_d}\n"));
            } else {
                s.push_str(&format!(
                    "[ \"$(cat {opts_d} 2>/dev/null)\" = \"options $n $params\" ] || act sh -c 'mkdir -p /etc/modprobe.d && printf \"options %s %s\\n\" \"$1\" \"$2\" > \"$3\"' sh \"$n\" \"$params\" {opts_d}\n"
                ));
            }
        }
        "absent" => {
            s.push_str(&format!(
                "for f in {load_d} {opts_d}; do [ -e \"$f\" ] && act rm -f \"$f\"; done\n"
            ));
        }
        _ => {}
    }
    s.push_str("true\n");
    s
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
    if rep.is("cannot", "1") {
        let why = if rep.is("nomodules", "1") {
            "this kernel has no /proc/modules (no loadable modules, or a container that does not see them)"
        } else {
            "modprobe is not installed (package kmod)"
        };
        let what = if w.present { "load" } else { "unload" };
        return sh::failure(
            out,
            rep,
            format!(
                "cannot {what} kernel module {} on {host}: {why}, and the module is {}",
                w.name,
                if w.present {
                    "neither loaded nor built in"
                } else {
                    "loaded, not built in"
                }
            ),
        );
    }
    if rep.is("builtin_absent", "1") {
        return sh::failure(
            out,
            rep,
            format!(
                "kernel module {} is built into the kernel and cannot be removed",
                w.name
            ),
        );
    }
    if let Some(cmd) = rep.get("failed") {
        let mut msg = format!("{cmd} failed: {}", rep.text.trim());
        if rep.text.contains("Operation not permitted")
            || rep.text.contains("not found in directory")
        {
            msg.push_str(" (in a container, kernel modules are the host machine's: load it there)");
        }
        return sh::failure(out, rep, msg);
    }
    let mut r = ModuleResult {
        changed: !rep.all("did").is_empty(),
        ..ModuleResult::default()
    };
    r.extra.insert("name".into(), json!(w.name));
    r.extra.insert("params".into(), json!(w.params));
    r.extra.insert(
        "state".into(),
        json!(if w.present { "present" } else { "absent" }),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::ExecOutput;

    fn w(v: serde_json::Value) -> Want {
        want(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn results() {
        let ok = ExecOutput {
            exit_status: Some(0),
            ..Default::default()
        };
        let present = w(json!({"name": "br_netfilter"}));
        // (report, changed, message)
        let cases = [
            ("@loaded=1\n@builtin=0\n", false, None),
            ("@loaded=0\n@builtin=1\n@nomodprobe=1\n", false, None),
            (
                "@loaded=0\n@builtin=0\n@did=modprobe br_netfilter\n",
                true,
                None,
            ),
            (
                "@loaded=0\n@builtin=0\n@nomodules=1\n@nomodprobe=1\n@cannot=1\n",
                false,
                Some(
                    "cannot load kernel module br_netfilter on lab8: this kernel has no /proc/modules (no loadable modules, or a container that does not see them), and the module is neither loaded nor built in",
                ),
            ),
            (
                "@loaded=0\n@builtin=0\n@nomodprobe=1\n@cannot=1\n",
                false,
                Some(
                    "cannot load kernel module br_netfilter on lab8: modprobe is not installed (package kmod), and the module is neither loaded nor built in",
                ),
            ),
            (
                "modprobe: ERROR: could not insert 'br_netfilter': Operation not permitted\n@failed=modprobe\n",
                false,
                Some(
                    "modprobe failed: modprobe: ERROR: could not insert 'br_netfilter': Operation not permitted (in a container, kernel modules are the host machine's: load it there)",
                ),
            ),
        ];
        for (rep, changed, msg) in cases {
            let r = result(&present, &ok, &Report::parse(rep), "lab8");
            assert_eq!(r.changed, changed, "{rep}");
            assert_eq!(r.msg.as_deref(), msg, "{rep}");
        }
        let absent = w(json!({"name": "dummy", "state": "absent"}));
        let r = result(&absent, &ok, &Report::parse("@builtin_absent=1\n"), "h");
        assert_eq!(
            r.msg.as_deref(),
            Some("kernel module dummy is built into the kernel and cannot be removed")
        );
        let r = result(&absent, &ok, &Report::parse("@cannot=1\n"), "h");
        assert_eq!(
            r.msg.as_deref(),
            Some(
                "cannot unload kernel module dummy on h: modprobe is not installed (package kmod), and the module is loaded, not built in"
            )
        );
    }

    #[test]
    fn scripts() {
        let s = script(
            &w(json!({"name": "nf-conntrack", "params": "hashsize=1", "persistent": "present"})),
            true,
        );
        assert!(
            s.starts_with("n=nf-conntrack; c=nf_conntrack; check=1; params=hashsize=1"),
            "{s}"
        );
        assert!(s.contains("/etc/modules-load.d/nf-conntrack.conf"));
        assert!(s.contains("options %s %s"));
        assert_eq!(
            want(json!({"name": "a;b"}).as_object().unwrap()).unwrap_err(),
            "invalid kernel module name \"a;b\""
        );
    }
}
