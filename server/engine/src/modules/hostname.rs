//! `hostname`: the host's name, both the running (transient) one and the one kept across
//! boots.
//!
//! One exec: the script picks the strategy (`use`: `systemd` when hostnamectl and a running
//! systemd are there, else `debian`, which writes `/etc/hostname` and runs `hostname`),
//! compares, and changes only what differs (nothing in check mode). Lab hosts are
//! systemd-nspawn containers where hostnamectl works (tested). The new name is returned as
//! facts (`ansible_hostname`, `ansible_nodename`, ...) as Ansible does.

use serde_json::{Value as Json, json};

use super::params::Params;
use super::sh::{self, ACT, Report, bit};
use super::{Call, ModuleResult};
use crate::playbook::Vars;
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

/// The `use` strategies Cairn implements (Ansible's names).
const STRATEGIES: &[&str] = &["auto", "systemd", "debian", "generic"];

pub fn script(name: &str, strategy: &str, check: bool) -> String {
    format!(
        r#"name={name}; check={check}; use={strategy}
{ACT}if [ "$use" = auto ]; then
  if command -v hostnamectl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then use=systemd; else use=debian; fi
fi
cur=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)
if [ "$use" = systemd ]; then perm=$(hostnamectl --static 2>/dev/null || cat /etc/hostname 2>/dev/null)
else perm=$(cat /etc/hostname 2>/dev/null); fi
echo "@use=$use"; echo "@before=$cur"; echo "@before_permanent=$perm"
[ "$cur" = "$name" ] && [ "$perm" = "$name" ] && exit 0
if [ "$use" = systemd ]; then act hostnamectl set-hostname "$name"
else
  act sh -c 'printf "%s\n" "$1" > /etc/hostname' sh "$name"
  act hostname "$name"
fi
"#,
        name = shell_quote(name),
        check = bit(check),
    )
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let p = Params(call.args);
    let (name, strategy) = match (p.required(&["name"]), p.choice(&["use"], STRATEGIES)) {
        (Ok(n), Ok(s)) => (n, s),
        (Err(e), _) | (_, Err(e)) => return Ok(ModuleResult::failed(e)),
    };
    if let Some(bad) = invalid(&name) {
        return Ok(ModuleResult::failed(bad));
    }
    let (out, rep) = sh::report(call, &script(&name, &strategy, call.check), None).await?;
    Ok(result(&name, &out, &rep))
}

/// Why `name` cannot be a host name (RFC 1123 labels), if it cannot.
pub fn invalid(name: &str) -> Option<String> {
    let ok = name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    (!ok).then(|| {
        format!(
            "invalid hostname {name:?}: use letters, digits and '-' in dot-separated labels of at most 63 characters"
        )
    })
}

pub fn result(name: &str, out: &crate::ssh::ExecOutput, rep: &Report) -> ModuleResult {
    if let Some(cmd) = rep.get("failed") {
        return sh::failure(out, rep, format!("{cmd} failed: {}", rep.text.trim()));
    }
    if !out.success() {
        return sh::failure(out, rep, "the hostname script failed on the host");
    }
    let short = name.split('.').next().unwrap_or(name);
    let domain = name.split_once('.').map_or("", |(_, d)| d);
    let facts = json!({
        "ansible_hostname": short,
        "ansible_nodename": name,
        "ansible_fqdn": name,
        "ansible_domain": domain,
    });
    let mut r = ModuleResult {
        changed: !rep.all("did").is_empty(),
        ..ModuleResult::default()
    };
    r.extra.insert("name".into(), json!(name));
    r.extra.insert("ansible_facts".into(), facts.clone());
    if let Some(u) = rep.get("use") {
        r.extra.insert("use".into(), json!(u));
    }
    if let Json::Object(f) = facts {
        r.facts = f.clone();
        // Also under ansible_facts, without the prefix, as setup sets them.
        let bare: Vars = f
            .into_iter()
            .map(|(k, v)| (k.trim_start_matches("ansible_").to_string(), v))
            .collect();
        r.facts.insert("ansible_facts".into(), Json::Object(bare));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::ExecOutput;

    #[test]
    fn names_checked() {
        assert_eq!(invalid("lab8"), None);
        assert_eq!(invalid("node-1.example.com"), None);
        assert_eq!(
            invalid("bad_name").as_deref(),
            Some(
                "invalid hostname \"bad_name\": use letters, digits and '-' in dot-separated labels of at most 63 characters"
            )
        );
        assert!(invalid("-x").is_some());
        assert!(invalid("a..b").is_some());
    }

    #[test]
    fn results() {
        let ok = ExecOutput {
            exit_status: Some(0),
            ..Default::default()
        };
        let same = Report::parse("@use=systemd\n@before=n1\n@before_permanent=n1\n");
        let r = result("n1.example.com", &ok, &same);
        assert!(!r.changed);
        assert_eq!(r.facts["ansible_hostname"], "n1");
        assert_eq!(r.extra["ansible_facts"]["ansible_domain"], "example.com");
        let changed = Report::parse("@use=systemd\n@did=hostnamectl set-hostname n2\n");
        assert!(result("n2", &ok, &changed).changed);
        let failed =
            Report::parse("Could not set static hostname: Access denied\n@failed=hostnamectl\n");
        assert_eq!(
            result("n2", &ok, &failed).msg.as_deref(),
            Some("hostnamectl failed: Could not set static hostname: Access denied")
        );
        let s = script("n2", "auto", true);
        assert!(s.starts_with("name=n2; check=1; use=auto"));
    }
}
