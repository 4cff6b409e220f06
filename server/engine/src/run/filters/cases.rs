//! Cairn's templating against Ansible's own output: `cases.json` holds expressions and
//! templates with what ansible-core 2.19 (and ansible.utils for `ipaddr`) gives for them,
//! produced by `scripts/template-cases`. A case Ansible refuses must be refused here too.

use serde_json::Value as Json;

use crate::run::template::{Context, Templar};

/// Cases whose result differs on purpose, with why (kept short and reviewed).
const KNOWN_DIFFERENT: &[(&str, &str)] = &[
    // Ansible 2.19 only knows `ipaddr` under its collection name; Cairn takes both.
    ("'10.0.0.1' | ipaddr", "short name accepted"),
];

#[test]
fn ansible_table() {
    let table: Json = serde_json::from_str(include_str!("cases.json")).expect("cases.json parses");
    let vars = table["vars"].as_object().cloned().unwrap_or_default();
    let ctx = Context::new(vars);
    let t = Templar::new();
    let mut failures = Vec::new();
    let cases = table["cases"].as_array().cloned().unwrap_or_default();
    assert!(cases.len() >= 150, "the table has {} cases", cases.len());
    for case in &cases {
        let (src, shown) = match (case.get("expr"), case.get("template")) {
            (Some(Json::String(e)), _) => (format!("{{{{ {e} }}}}"), e.clone()),
            (_, Some(Json::String(s))) => (s.clone(), s.clone()),
            _ => panic!("case without expr or template: {case}"),
        };
        if KNOWN_DIFFERENT.iter().any(|(e, _)| *e == shown) {
            continue;
        }
        let got = t.template(&Json::String(src), &ctx);
        match (case.get("want"), &got) {
            (Some(want), Ok(got)) if want == got => {}
            (None, Err(_)) => {}
            (Some(want), _) => failures.push(format!("{shown}\n    want {want}\n    got  {got:?}")),
            (None, Ok(got)) => failures.push(format!(
                "{shown}\n    want an error ({})\n    got  {got}",
                case["error"]
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Ansible:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
