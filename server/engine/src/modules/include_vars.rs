//! `include_vars`: load variables from a YAML (or JSON) file on the controller into the
//! host's variables for the rest of the run, as Ansible's `include_vars` does (`file` or the
//! free-form file name, `name` to put them under one key). A relative file is looked up in
//! the role's `vars/` directory, then the role's directory, then the playbook's `vars/` and
//! the playbook's directory (Ansible: the role's `vars/`, then beside the task file).
//!
//! The variables join the host's facts layer, which is where `set_fact` puts its own: in
//! Ansible `include_vars` ranks one level below `set_fact` (docs/playbooks.md says so).
//! Must not: touch the host; `dir` (a directory of files) is an honest error, not done.

use serde_json::Value as Json;

use super::{Call, ModuleResult, arg_str};
use crate::playbook::Vars;

pub fn run(call: &Call<'_>) -> ModuleResult {
    if call.args.get("dir").is_some_and(|v| !v.is_null()) {
        return ModuleResult::failed(
            "include_vars: dir is not supported by Cairn yet: name each file with file",
        );
    }
    if arg_str(call.args, "hash_behaviour").is_some_and(|h| h != "replace") {
        return ModuleResult::failed(
            "include_vars: only hash_behaviour: replace is supported by Cairn",
        );
    }
    // The free form is a file name, or `file=NAME [name=KEY]` words.
    let mut words = Vars::new();
    if let Some(raw) = arg_str(call.args, "_raw_params")
        && raw.contains('=')
    {
        for w in raw.split_whitespace() {
            if let Some((k, v)) = w.split_once('=') {
                words.insert(k.to_string(), v.trim_matches(['"', '\'']).into());
            }
        }
    }
    let arg = |k: &str| arg_str(call.args, k).or_else(|| arg_str(&words, k));
    let Some(file) =
        arg("file").or_else(|| arg_str(call.args, "_raw_params").filter(|_| words.is_empty()))
    else {
        return ModuleResult::failed("include_vars: a file name is required (file: NAME.yml)");
    };
    let Some(path) = call.find_src(&file, "vars") else {
        return ModuleResult::failed(format!(
            "Could not find or access '{file}' on the controller (looked in the role's vars/, \
             the role, the playbook's vars/ and the playbook directory)"
        ));
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => return ModuleResult::failed(format!("could not read {}: {e}", path.display())),
    };
    let vars = match parse_vars(&text) {
        Ok(v) => v,
        Err(e) => return ModuleResult::failed(format!("{}: {e}", path.display())),
    };
    let vars = match arg("name") {
        Some(name) => {
            let mut v = Vars::new();
            v.insert(name, Json::Object(vars));
            v
        }
        None => vars,
    };
    let mut r = ModuleResult::default();
    r.extra
        .insert("ansible_facts".into(), Json::Object(vars.clone()));
    r.extra.insert(
        "ansible_included_var_files".into(),
        Json::Array(vec![path.display().to_string().into()]),
    );
    r.facts = vars;
    r
}

/// A vars file: a mapping (or nothing at all).
fn parse_vars(text: &str) -> Result<Vars, String> {
    let node = crate::yaml::parse(text).map_err(|e| {
        format!(
            "line {} column {}: {}",
            e.span.line, e.span.column, e.message
        )
    })?;
    if node.is_null() {
        return Ok(Vars::new());
    }
    match node.to_json() {
        Json::Object(m) => Ok(m),
        other => Err(format!(
            "a vars file must be a mapping of variable names to values, this one is a {}",
            match other {
                Json::Array(_) => "list",
                Json::String(_) => "string",
                _ => "scalar",
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_files_parse_to_mappings_or_say_why_not() {
        let v = parse_vars("a: 1\nb: [x, y]\nc: \"{{ a }}\"\n").unwrap();
        assert_eq!(v.get("a"), Some(&Json::from(1)));
        assert_eq!(v.get("c"), Some(&Json::from("{{ a }}")));
        assert!(parse_vars("").unwrap().is_empty());
        assert_eq!(
            parse_vars("- a\n- b\n").unwrap_err(),
            "a vars file must be a mapping of variable names to values, this one is a list"
        );
        assert!(parse_vars("a: [\n").unwrap_err().starts_with("line "));
    }
}
