//! The dict `register:` stores, in Ansible's shape: `changed`, `failed`, `skipped`, and for
//! modules that ran a command `rc`, `stdout`, `stderr`, `stdout_lines`, `stderr_lines`;
//! `msg` when the module said something; module extras (`cmd`, `ansible_facts`, ...).

use serde_json::{Value as Json, json};

use crate::modules::ModuleResult;
use crate::playbook::Vars;

pub fn registered(r: &ModuleResult) -> Json {
    let mut m = Vars::new();
    m.insert("changed".into(), r.changed.into());
    m.insert("failed".into(), r.failed.into());
    m.insert("skipped".into(), false.into());
    if let Some(rc) = r.rc {
        m.insert("rc".into(), rc.into());
        for (key, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            let text = text.clone().unwrap_or_default();
            let lines: Vec<Json> = text.lines().map(Json::from).collect();
            m.insert(format!("{key}_lines"), Json::Array(lines));
            m.insert(key.into(), text.into());
        }
    }
    if let Some(msg) = &r.msg {
        m.insert("msg".into(), msg.clone().into());
    }
    for (k, v) in r.data.iter().chain(&r.extra) {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Json::Object(m)
}

/// What a task skipped by `when` registers.
pub fn skipped(condition: &str) -> Json {
    json!({
        "changed": false,
        "skipped": true,
        "skip_reason": "Conditional result was False",
        "false_condition": condition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_result_shape() {
        let r = ModuleResult {
            changed: true,
            failed: false,
            rc: Some(0),
            stdout: Some("a\nb".into()),
            stderr: Some(String::new()),
            msg: Some(String::new()),
            ..ModuleResult::default()
        };
        assert_eq!(
            registered(&r),
            json!({
                "changed": true, "failed": false, "skipped": false, "rc": 0,
                "stdout": "a\nb", "stdout_lines": ["a", "b"],
                "stderr": "", "stderr_lines": [], "msg": "",
            })
        );
    }

    #[test]
    fn non_command_results_have_no_rc() {
        let mut r = ModuleResult::failed("boom");
        r.extra.insert("assertion".into(), "x".into());
        assert_eq!(
            registered(&r),
            json!({"changed": false, "failed": true, "skipped": false, "msg": "boom", "assertion": "x"})
        );
        assert_eq!(skipped("x")["skipped"], json!(true));
    }
}
