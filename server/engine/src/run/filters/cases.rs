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

/// Cairn's own messages for what Ansible refuses too: each names the filter, test or lookup
/// and what it got.
#[test]
fn errors_name_the_filter_and_the_input() {
    let mut vars = crate::playbook::Vars::new();
    vars.insert("n".into(), 3.into());
    vars.insert("r".into(), serde_json::json!({"stdout": "x"}));
    vars.insert("playbook_dir".into(), "/nonexistent-pb".into());
    let ctx = Context::new(vars);
    let t = Templar::new();
    let cases: &[(&str, &str)] = &[
        (
            "{{ [1] | combine({}) }}",
            "error in \"[1] | combine({})\": combine: expected a mapping, got a number (1)",
        ),
        (
            "{{ n | dict2items }}",
            "error in \"n | dict2items\": dict2items: expected a mapping, got a number (3)",
        ),
        (
            "{{ [1] | items2dict }}",
            "error in \"[1] | items2dict\": items2dict: expected a mapping, got a number (1)",
        ),
        (
            "{{ [{'a': 1}] | items2dict }}",
            "error in \"[{'a': 1}] | items2dict\": items2dict: each item needs the keys 'key' and 'value', got a mapping ({'a': 1})",
        ),
        (
            "{{ n | union([1]) }}",
            "error in \"n | union([1])\": union: expected a list, got a number (3)",
        ),
        (
            "{{ n | flatten }}",
            "error in \"n | flatten\": flatten: expected a list, got a number (3)",
        ),
        (
            "{{ {} | combine({}, list_merge='x') }}",
            "error in \"{} | combine({}, list_merge='x')\": combine: list_merge must be one of replace, keep, append, prepend, append_rp, prepend_rp; got 'x'",
        ),
        (
            "{{ n | basename }}",
            "error in \"n | basename\": basename: expected a string, got a number (3)",
        ),
        (
            "{{ 'x' | from_json }}",
            "error in \"'x' | from_json\": from_json: invalid JSON: expected value at line 1 column 1",
        ),
        (
            "{{ 'a: [' | from_yaml }}",
            "error in \"'a: [' | from_yaml\": from_yaml: invalid YAML: while parsing a node, did not find expected node content (line 2)",
        ),
        (
            "{{ '%%%' | b64decode }}",
            "error in \"'%%%' | b64decode\": b64decode: invalid base64: Invalid symbol 37, offset 0.",
        ),
        (
            "{{ 'x' | regex_replace('(') }}",
            "error in \"'x' | regex_replace('(')\": regex_replace: invalid regular expression \"(\": error: unclosed group",
        ),
        (
            "{{ 'x' | regex_search('(?<=a)b') }}",
            "error in \"'x' | regex_search('(?<=a)b')\": regex_search: invalid regular expression \"(?<=a)b\": error: look-around, including look-ahead and look-behind, is not supported",
        ),
        (
            "{{ 'x' | hash('crc') }}",
            "error in \"'x' | hash('crc')\": hash: unsupported hash type 'crc' (md5, sha1, sha224, sha256, sha384, sha512)",
        ),
        (
            "{{ 'x' | password_hash('md5') }}",
            "error in \"'x' | password_hash('md5')\": password_hash: unsupported hash type 'md5' (sha512, sha256)",
        ),
        (
            "{{ 'x' | password_hash('sha512', 'bad salt') }}",
            "error in \"'x' | password_hash('sha512', 'bad salt')\": password_hash: the salt must be 1 to 16 characters from ./0-9A-Za-z",
        ),
        (
            "{{ 'x' | ansible.utils.ipmath(1) }}",
            "error in \"'x' | ansible.utils.ipmath(1)\": ipmath: you must pass a valid IP address; x is invalid",
        ),
        (
            "{{ '10.0.0.1' | ipaddr('bogus') }}",
            "error in \"'10.0.0.1' | ipaddr('bogus')\": ipaddr: unknown or unsupported query 'bogus'",
        ),
        (
            "{{ '1.0' is version('2', 'bigger') }}",
            "error in \"'1.0' is version('2', 'bigger')\": test 'version': invalid operator type (bigger)",
        ),
        (
            "{{ 'v1.2' is version('1.10', '<') }}",
            "error in \"'v1.2' is version('1.10', '<')\": test 'version': version comparison failed: '<' not supported between a number and a word (use version_type='semver' or a strict version)",
        ),
        (
            "{{ '1.0.x' is version('1.0', strict=true) }}",
            "error in \"'1.0.x' is version('1.0', strict=true)\": test 'version': version comparison failed: invalid version number '1.0.x'",
        ),
        (
            "{{ n is failed }}",
            "error in \"n is failed\": test 'failed': expected a registered result (a mapping), got a number (3)",
        ),
        (
            "{{ n is subset([1]) }}",
            "error in \"n is subset([1])\": test 'subset': expected a list, got a number (3)",
        ),
        (
            "{{ nope | mandatory }}",
            "Mandatory variable 'nope' not defined.",
        ),
        (
            "{{ r.rc | mandatory }}",
            "Mandatory variable 'r.rc' not defined.",
        ),
        (
            "{{ nope | mandatory('set nope in group_vars') }}",
            "error in \"nope | mandatory('set nope in group_vars')\": set nope in group_vars",
        ),
        (
            "{{ lookup('file', 'missing.txt') }}",
            "error in \"lookup('file', 'missing.txt')\": lookup('file'): could not find 'missing.txt' in /nonexistent-pb/files, /nonexistent-pb",
        ),
        (
            "{{ lookup('template', '/nonexistent/x.j2') }}",
            "error in \"lookup('template', '/nonexistent/x.j2')\": lookup('template'): could not find '/nonexistent/x.j2'",
        ),
        (
            "{{ lookup('pipe', 'exit 3') }}",
            "error in \"lookup('pipe', 'exit 3')\": lookup('pipe'): 'exit 3' exited with 3",
        ),
        (
            "{{ lookup('nope', 'x') }}",
            "error in \"lookup('nope', 'x')\": lookup('nope'): unknown or unsupported lookup (supported: file, template, env, pipe, first_found, fileglob, items, list, vars, dict)",
        ),
        (
            "{{ lookup('first_found', ['a', 'b']) }}",
            "error in \"lookup('first_found', ['a', 'b'])\": lookup('first_found'): no file was found among: a, b",
        ),
        (
            "{{ lookup('vars', 'nope') }}",
            "error in \"lookup('vars', 'nope')\": lookup('vars'): no variable found with this name: nope",
        ),
        ("{{ nope.x | upper }}", "'nope' is undefined"),
        ("x {{ nope }}", "'nope' is undefined"),
    ];
    let mut failures = Vec::new();
    for (src, want) in cases {
        match t.template(&Json::String(src.to_string()), &ctx) {
            Err(got) if got == *want => {}
            other => failures.push(format!("{src}\n    want Err({want:?})\n    got  {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
