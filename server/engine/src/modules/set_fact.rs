//! `set_fact`: set variables on the host for the rest of the run (above play and inventory
//! variables, as Ansible ranks them). Runs nothing on the host.

use super::{Call, ModuleResult};
use crate::playbook::Vars;

pub fn run(call: &Call<'_>) -> ModuleResult {
    let mut facts = Vars::new();
    for (k, v) in call.args {
        // `cacheable` asks for a fact cache Cairn does not have; it changes nothing for this run.
        if k == "cacheable" {
            continue;
        }
        if k.is_empty()
            || k.starts_with(|c: char| c.is_ascii_digit())
            || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return ModuleResult::failed(format!(
                "the variable name '{k}' is not valid: use letters, digits and underscores"
            ));
        }
        facts.insert(k.clone(), v.clone());
    }
    if facts.is_empty() {
        return ModuleResult::failed("no key/value pairs provided");
    }
    let mut result = ModuleResult::default();
    result
        .extra
        .insert("ansible_facts".into(), facts.clone().into());
    result.facts = facts;
    result
}
