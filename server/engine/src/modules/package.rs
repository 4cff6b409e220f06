//! `package`: install or remove packages with the host's own package manager, as Ansible's
//! generic module does: `use` if given, else the `ansible_pkg_mgr` fact when facts were
//! gathered, else one probe of the host (`apt-get`, `dnf`, `yum`). Then the arguments go to
//! that module (`apt`, or `dnf`/`yum`) unchanged, `use` removed.

use serde_json::Value as Json;

use super::params::Params;
use super::{Call, ModuleResult, apt, dnf};
use crate::playbook::Vars;
use crate::ssh::SshError;

/// The package manager named by the facts, if they were gathered and name one.
pub fn from_facts(vars: &Vars) -> Option<String> {
    let fact = vars
        .get("ansible_pkg_mgr")
        .or_else(|| vars.get("ansible_facts").and_then(|f| f.get("pkg_mgr")))
        .and_then(Json::as_str)?;
    (fact != "unknown" && !fact.is_empty()).then(|| fact.to_string())
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let p = Params(call.args);
    let chosen = match p.str(&["use"]).filter(|u| u != "auto") {
        Some(u) => u,
        None => match from_facts(&call.vars.json) {
            Some(m) => m,
            None => {
                let out = super::sh::run(
                    call,
                    "for m in apt-get dnf yum; do command -v $m >/dev/null 2>&1 && { echo $m; exit 0; }; done; echo unknown",
                    None,
                    None,
                )
                .await?;
                match out.stdout_str().trim() {
                    "apt-get" => "apt".to_string(),
                    other => other.to_string(),
                }
            }
        },
    };
    let mut args: Vars = call.args.clone();
    args.remove("use");
    let sub = Call {
        args: &args,
        ..*call
    };
    match chosen.as_str() {
        "apt" => apt::run(&sub).await,
        "dnf" | "dnf5" | "yum" => dnf::run(&sub).await,
        other => Ok(ModuleResult::failed(format!(
            "Could not find a module for {other}: Cairn's package handles apt, dnf and yum"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_pick_the_manager() {
        let v = |j: Json| j.as_object().unwrap().clone();
        assert_eq!(
            from_facts(&v(json!({"ansible_pkg_mgr": "apt"}))).as_deref(),
            Some("apt")
        );
        assert_eq!(
            from_facts(&v(json!({"ansible_facts": {"pkg_mgr": "dnf"}}))).as_deref(),
            Some("dnf")
        );
        assert_eq!(from_facts(&v(json!({"ansible_pkg_mgr": "unknown"}))), None);
        assert_eq!(from_facts(&v(json!({}))), None);
    }
}
