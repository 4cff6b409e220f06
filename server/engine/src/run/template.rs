//! Ansible's templating, on minijinja: conditions (`when`, `changed_when`, `failed_when`,
//! `assert`'s `that`), expressions (`debug`'s `var`) and `{{ }}` in task arguments.
//!
//! Owns the environment (strict undefined; Ansible's filters, tests and lookups from
//! `filters`, `tests_jinja` and `lookups`; Python's string and dict methods; values printed
//! as Python prints them), Ansible's truthiness of a condition's result, native types for a
//! lone `{{ expr }}`, and error messages that name the undefined variable. Must not: know
//! about hosts, connections or events.

use std::collections::{HashMap, HashSet};

use minijinja::value::{Serde, ValueKind};
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use serde_json::Value as Json;

use crate::playbook::Vars;

/// The variables one host sees for one task, as JSON (to explain errors) and as a minijinja
/// value (built once, evaluated against many times).
pub struct Context {
    /// The host's own variables (without the [`Shared`] ones).
    pub json: Vars,
    /// The variables every host sees alike for this task.
    shared: Shared,
    value: Value,
    /// Variables whose own template could not be rendered (a loop, an undefined reference),
    /// with why. They are left out of `json` (so `is defined` and `default` see them as
    /// undefined, as Ansible's lazy templating does) and using one reports why.
    broken: HashMap<String, String>,
}

impl Context {
    pub fn new(json: Vars) -> Context {
        Context::with_broken(json, Shared::default(), HashMap::new())
    }

    /// A host's variables beside the run-wide ones (which win over a host variable of the
    /// same name, as Ansible's magic variables do).
    pub fn with_shared(json: Vars, shared: &Shared) -> Context {
        Context::with_broken(json, shared.clone(), HashMap::new())
    }

    /// The same host's context with its own variables replaced (a loop item, a registered
    /// result, a template's own variables added): the shared ones are kept as they are.
    pub fn derive(&self, json: Vars) -> Context {
        Context::with_broken(json, self.shared.clone(), HashMap::new())
    }

    pub(crate) fn with_broken(
        json: Vars,
        shared: Shared,
        broken: HashMap<String, String>,
    ) -> Context {
        let omit = super::filters::collections::map_of([("omit", Value::from_object(Omit))]);
        let value =
            minijinja::value::merge_maps([Value::from(Serde(&json)), shared.value.clone(), omit]);
        Context {
            json,
            shared,
            value,
            broken,
        }
    }
}

/// Variables that every host sees alike for one task: `hostvars`, `groups`,
/// `ansible_play_hosts`... Each is as large as the inventory, so they are converted for the
/// template engine once per task and shared (reference-counted) by every host's [`Context`]:
/// copying them into each host's variables made a task's cost grow with hosts² (at 200 hosts
/// the controller spent more time building contexts than talking to hosts).
#[derive(Clone)]
pub struct Shared {
    json: std::sync::Arc<Vars>,
    value: Value,
}

impl Default for Shared {
    fn default() -> Self {
        Shared::new(Vars::new())
    }
}

impl Shared {
    pub fn new(json: Vars) -> Shared {
        let value = Value::from(Serde(&json));
        Shared {
            json: std::sync::Arc::new(json),
            value,
        }
    }

    pub fn json(&self) -> &Vars {
        &self.json
    }
}

/// What `omit` prints as: a module argument whose value is exactly this is left out, as in
/// Ansible (`mode: "{{ m | default(omit) }}"`).
pub const OMIT: &str = "__omit_place_holder__cairn__";

/// The `omit` variable: not a string (`omit is string` is false, as in Ansible 2.19), it
/// renders as [`OMIT`].
#[derive(Debug)]
struct Omit;

impl minijinja::value::Object for Omit {
    fn repr(self: &std::sync::Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn render(self: &std::sync::Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(OMIT)
    }
}

pub struct Templar {
    env: Environment<'static>,
    /// The same environment where an undefined value's attributes are undefined too. Only
    /// used again after a strict failure of a template that guards against undefined
    /// values (`default`, `is defined`, ...): Ansible lets `missing.sub | default('x')`
    /// through, while minijinja's strict mode fails on the attribute before the filter.
    chainable: Environment<'static>,
}

impl Default for Templar {
    fn default() -> Self {
        Self::new()
    }
}

/// Words that make an undefined value harmless in a template (see `Templar::chainable`).
const GUARDS: &[&str] = &["default", "d(", "defined", "undefined", "mandatory"];

/// The work one render or evaluation may do (minijinja's fuel: about one unit per instruction
/// and per 64 bytes of data made). A template that loops or grows without end
/// (`{% for a in range(99999) %}{% for b in range(99999) %}`) must fail the task, not hang the
/// run or fill the controller's memory (64 bytes a unit: about 1.3 GB at most). Real templates
/// stay far below: an /etc/hosts of 5,000 hosts renders (pinned by a test).
pub const FUEL: u64 = 20_000_000;

fn environment(undefined: UndefinedBehavior) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(undefined);
    env.set_fuel(Some(FUEL));
    // Ansible's templar: a block tag's own newline is dropped, trailing newlines are kept.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    super::filters::register(&mut env);
    super::tests_jinja::register(&mut env);
    super::lookups::register(&mut env);
    // `'a,b'.split(',')`, `d.items()`, `s.startswith('x')`: roles call Python methods.
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    // `{{ x }}` inside a longer string prints as Python's str(): True, [1, 'a'], and none
    // as an empty string (Ansible's finalize). Printing an undefined value is an error in
    // both environments.
    env.set_formatter(|out, _state, value| {
        if value.is_undefined() {
            return Err(minijinja::Error::from(ErrorKind::UndefinedError));
        }
        if value.is_none() {
            return Ok(());
        }
        let text = super::filters::text::py_str(value);
        out.write_str(&text).map_err(minijinja::Error::from)
    });
    env
}

impl Templar {
    pub fn new() -> Templar {
        Templar {
            // A typo in a variable name must fail the task, not render as "" (Ansible's
            // default is strict too); `is defined` and `| default(..)` still work.
            env: environment(UndefinedBehavior::Strict),
            chainable: environment(UndefinedBehavior::Chainable),
        }
    }

    /// Which error of a strict attempt and its chainable retry to report: `mandatory`'s
    /// own (it words the message), else the strict one.
    fn worse<'e>(
        strict: &'e minijinja::Error,
        again: &'e minijinja::Error,
    ) -> &'e minijinja::Error {
        if again.detail() == Some(super::filters::text::MANDATORY) {
            again
        } else {
            strict
        }
    }

    /// Whether a strict failure may be retried in the chainable environment.
    fn retry(e: &minijinja::Error, source: &str) -> bool {
        e.kind() == ErrorKind::UndefinedError
            && e.detail() != Some(super::filters::text::MANDATORY)
            && GUARDS.iter().any(|g| source.contains(g))
    }

    /// The variables a value's templates refer to (top-level names), for resolving
    /// variables in dependency order. A template that does not compile refers to nothing
    /// (rendering it reports the syntax error).
    pub fn referenced(&self, value: &Json) -> HashSet<String> {
        let mut out = HashSet::new();
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Json::String(s) if s.contains("{{") || s.contains("{%") => {
                    if let Ok(t) = self.env.template_from_str(s) {
                        out.extend(t.undeclared_variables(false));
                    }
                }
                Json::Array(a) => stack.extend(a.iter()),
                Json::Object(m) => stack.extend(m.values()),
                _ => {}
            }
        }
        out
    }

    /// Evaluate an expression (no `{{ }}`) to a value.
    pub fn eval(&self, expr: &str, ctx: &Context) -> Result<Value, String> {
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| format!("syntax error in {expr:?}: {}", detail(&e)))?;
        let why =
            |e: &minijinja::Error| explain(e, || compiled.undeclared_variables(true), ctx, expr);
        let value = match compiled.eval(ctx.value.clone()) {
            Ok(v) => v,
            Err(e) if Self::retry(&e, expr) => self
                .chainable
                .compile_expression(expr)
                .and_then(|c| c.eval(ctx.value.clone()))
                .map_err(|again| why(Self::worse(&e, &again)))?,
            Err(e) => return Err(why(&e)),
        };
        // Strict mode refuses to print or iterate an undefined value but an expression may
        // still evaluate to one (`when: nope`): for Ansible that is an error too.
        if value.is_undefined() {
            return Err(why(&minijinja::Error::from(ErrorKind::UndefinedError)));
        }
        Ok(value)
    }

    /// Evaluate a condition as Ansible does. A whole `{{ expr }}` is accepted (Ansible warns
    /// about it but evaluates the inside).
    pub fn condition(&self, cond: &str, ctx: &Context) -> Result<bool, String> {
        let expr = lone_expression(&self.env, cond).unwrap_or(cond);
        Ok(truthy(&self.eval(expr, ctx)?))
    }

    /// Template every string inside `value`. A string that is one `{{ expr }}` and nothing
    /// else keeps the expression's type (a list stays a list), as in Ansible.
    pub fn template(&self, value: &Json, ctx: &Context) -> Result<Json, String> {
        Ok(match value {
            Json::String(s) => self.template_str(s, ctx)?,
            Json::Array(items) => Json::Array(
                items
                    .iter()
                    .map(|v| self.template(v, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(map) => {
                let mut out = Vars::new();
                for (k, v) in map {
                    match self.template(v, ctx)? {
                        Json::String(s) if s == OMIT => {}
                        v => {
                            out.insert(k.clone(), v);
                        }
                    }
                }
                Json::Object(out)
            }
            other => other.clone(),
        })
    }

    fn template_str(&self, s: &str, ctx: &Context) -> Result<Json, String> {
        if !(s.contains("{{") || s.contains("{%")) {
            return Ok(Json::String(s.to_string()));
        }
        // Only a string that IS one expression keeps its type: text around it, even a
        // newline (`content: "{{ x }}\n"`), makes it a string with that text, as in Ansible.
        let exact = s.starts_with("{{") && s.ends_with("}}");
        if let Some(expr) = lone_expression(&self.env, s).filter(|_| exact) {
            let v = self.eval(expr, ctx)?;
            return Ok(to_json(&v));
        }
        let tmpl = self
            .env
            .template_from_str(s)
            .map_err(|e| format!("syntax error in {s:?}: {}", detail(&e)))?;
        match tmpl.render(ctx.value.clone()) {
            Ok(out) => Ok(Json::String(out)),
            Err(e) => {
                let again =
                    Self::retry(&e, s).then(|| self.chainable.render_str(s, ctx.value.clone()));
                match again {
                    Some(Ok(out)) => Ok(Json::String(out)),
                    Some(Err(again)) => Err(explain(
                        Self::worse(&e, &again),
                        || tmpl.undeclared_variables(true),
                        ctx,
                        s,
                    )),
                    None => Err(explain(&e, || tmpl.undeclared_variables(true), ctx, s)),
                }
            }
        }
    }
}

/// The expression inside `{{ ... }}` when the string is exactly one of them. A `}}` inside
/// (`{{ d | combine({'a': {'b': 1}}) }}`) is fine when the inside still parses as one
/// expression; `{{ a }}-{{ b }}` does not.
fn lone_expression<'a>(env: &Environment<'_>, s: &'a str) -> Option<&'a str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let nested = ["{{", "}}", "{%", "{#"].iter().any(|m| inner.contains(m));
    if nested && env.compile_expression(inner).is_err() {
        return None;
    }
    Some(inner.trim())
}

/// Ansible's `bool` filter: true for `true`, `1`, and the strings yes/on/1/true (any case).
pub fn ansible_bool(v: &Value) -> bool {
    match v.kind() {
        ValueKind::Bool => v.is_true(),
        ValueKind::Number => {
            i64::try_from(v.clone()).is_ok_and(|n| n == 1)
                || f64::try_from(v.clone()).is_ok_and(|f| f == 1.0)
        }
        ValueKind::String => matches!(
            v.as_str().unwrap_or("").to_ascii_lowercase().as_str(),
            "yes" | "on" | "1" | "true"
        ),
        _ => false,
    }
}

/// Whether a condition's result holds. Booleans, numbers, lists and mappings follow Python's
/// truthiness (as Ansible's `{% if %}` does). A string that spells a YAML 1.1 boolean
/// (`"false"`, `"no"`, `"off"`, `"0"` and their true counterparts, any case) counts as that
/// boolean, as a bare variable holding such a string did in Ansible; any other non-empty
/// string is true.
pub fn truthy(v: &Value) -> bool {
    if let (ValueKind::String, Some(s)) = (v.kind(), v.as_str()) {
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" | "y" => return true,
            "false" | "no" | "off" | "0" | "n" | "" => return false,
            _ => return true,
        }
    }
    v.is_true()
}

/// A minijinja value as JSON (what registers, facts and module arguments hold).
pub fn to_json(v: &Value) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

fn detail(e: &minijinja::Error) -> String {
    e.detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string())
}

/// A message for a failed evaluation. For an undefined value, name it the way Ansible does
/// (`'name' is undefined`, `'x' has no attribute 'y'`): minijinja reports only "undefined
/// value", so the variables the template refers to are looked up in the context.
fn explain(
    e: &minijinja::Error,
    referenced: impl FnOnce() -> HashSet<String>,
    ctx: &Context,
    source: &str,
) -> String {
    if e.kind() == ErrorKind::UndefinedError {
        let mandatory = e.detail() == Some(super::filters::text::MANDATORY);
        let mut paths: Vec<String> = referenced().into_iter().collect();
        paths.sort();
        for path in &paths {
            let first = path.split('.').next().unwrap_or("");
            if let Some(why) = ctx.broken.get(first) {
                return why.clone();
            }
            let vars = if ctx.shared.json.contains_key(first) {
                &ctx.shared.json
            } else {
                &ctx.json
            };
            if let Some(msg) = missing(vars, path) {
                if mandatory {
                    return format!("Mandatory variable '{path}' not defined.");
                }
                return msg;
            }
        }
    }
    if e.kind() == ErrorKind::OutOfFuel {
        return format!(
            "error in {source:?}: the template does too much work (more than {FUEL} units of \
             fuel: instructions, 64-byte blocks of data, hash rounds): a loop, a size or a \
             `rounds=` that runs away?"
        );
    }
    format!("error in {source:?}: {}", detail(e))
}

/// Why `a.b.c` does not resolve in `ctx`, if it does not.
fn missing(ctx: &Vars, path: &str) -> Option<String> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let mut cur = match ctx.get(first) {
        Some(v) => v,
        None => return Some(format!("'{first}' is undefined")),
    };
    let mut seen = first.to_string();
    for part in parts {
        let next = match cur {
            Json::Object(m) => m.get(part),
            Json::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return Some(format!("'{seen}' has no attribute '{part}'")),
        }
        seen = format!("{seen}.{part}");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Json) -> Context {
        match v {
            Json::Object(m) => Context::new(m),
            _ => unreachable!(),
        }
    }

    /// A runaway template is an error naming it, not a hang (found by the `template` fuzz
    /// target: nested loops over `range(99999)` ran for hours); a large real one still renders.
    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let t = Templar::new();
        let c = ctx(json!({}));
        let hang = "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}";
        let t0 = std::time::Instant::now();
        let e = t.template(&json!(hang), &c).unwrap_err();
        assert_eq!(
            e,
            format!(
                "error in {hang:?}: the template does too much work (more than 20000000 units \
                 of fuel: instructions, 64-byte blocks of data, hash rounds): a loop, a size \
                 or a `rounds=` that runs away?"
            )
        );
        assert!(t0.elapsed() < std::time::Duration::from_secs(60));
        // Expressions (`when:`, a lone `{{ }}`) have the same budget.
        let grow = "range(99999) | map('string') | join(',') * 99999";
        assert!(t.condition(grow, &c).unwrap_err().contains("too much work"));
        // A password hashed with rounds that would take hours (found by the fuzz target), or
        // a very long password at the default rounds.
        let slow = "{{ 'x' | password_hash('sha512', 'salt', rounds=999999999) }}";
        assert!(
            t.template(&json!(slow), &c)
                .unwrap_err()
                .contains("too much work")
        );
        let long = format!(
            "{{{{ '{}' | password_hash('sha512', 'salt') }}}}",
            "p".repeat(1000)
        );
        assert!(
            t.template(&json!(long), &c)
                .unwrap_err()
                .contains("too much work")
        );
        // Passlib's default rounds of a usual password hash as before.
        let usual = "{{ 'secret' | password_hash('sha512', 'somesalt') }}";
        assert!(
            t.template(&json!(usual), &c)
                .unwrap()
                .as_str()
                .unwrap()
                .starts_with("$6$rounds=656000$somesalt$")
        );
        // An /etc/hosts for 5,000 hosts is far from the limit.
        let hosts: Vec<Json> = (0..5000)
            .map(|i| json!({"name": format!("node{i}"), "ip": format!("10.0.{}.{}", i / 250, i % 250)}))
            .collect();
        let c = ctx(json!({ "hosts": hosts }));
        let out = t
            .template(
                &json!("{% for h in hosts %}{{ h.ip }} {{ h.name }}.cluster.local {{ h.name }}\n{% endfor %}"),
                &c,
            )
            .unwrap();
        assert_eq!(out.as_str().unwrap().lines().count(), 5000);
    }

    #[test]
    fn when_truthiness_table() {
        let t = Templar::new();
        let c = ctx(json!({
            "yes_s": "yes", "no_s": "no", "t": true, "f": false, "zero": 0, "one": 1,
            "empty": "", "word": "hello", "list": [], "items": [1], "false_s": "False",
            "n": null, "on_s": "on",
        }));
        for (cond, want) in [
            ("t", true),
            ("f", false),
            ("yes_s | bool", true),
            ("no_s | bool", false),
            ("on_s | bool", true),
            ("word | bool", false),
            ("one | bool", true),
            ("zero | bool", false),
            ("n | bool", false),
            ("no_s", false),
            ("false_s", false),
            ("yes_s", true),
            ("word", true),
            ("empty", false),
            ("zero", false),
            ("list", false),
            ("items", true),
            ("n", false),
            ("missing is defined", false),
            ("missing is not defined", true),
            ("missing | default(true)", true),
            ("t and not f", true),
            ("'{{ t }}'", true),
            ("{{ f }}", false),
            ("one == 1 and word == 'hello'", true),
            ("word in ['hello', 'x']", true),
        ] {
            assert_eq!(t.condition(cond, &c), Ok(want), "{cond}");
        }
    }

    #[test]
    fn undefined_names_the_variable() {
        let t = Templar::new();
        let c = ctx(json!({"r": {"stdout": "x"}}));
        assert_eq!(t.condition("nope", &c), Err("'nope' is undefined".into()));
        assert_eq!(
            t.condition("r.rc == 0", &c),
            Err("'r' has no attribute 'rc'".into())
        );
        assert_eq!(
            t.template(&json!("a {{ nope }} b"), &c),
            Err("'nope' is undefined".into())
        );
    }

    #[test]
    fn arguments_keep_native_types() {
        let t = Templar::new();
        let c = ctx(json!({"l": [1, 2], "s": "x", "n": 3}));
        assert_eq!(t.template(&json!("{{ l }}"), &c), Ok(json!([1, 2])));
        // Text around the expression is kept, so the result is a string (Ansible's concat).
        assert_eq!(t.template(&json!(" {{ n }} "), &c), Ok(json!(" 3 ")));
        assert_eq!(t.template(&json!("{{ s }}\n"), &c), Ok(json!("x\n")));
        assert_eq!(
            t.template(&json!({"a": ["{{ s }}-{{ n }}", 4]}), &c),
            Ok(json!({"a": ["x-3", 4]}))
        );
        assert_eq!(t.template(&json!("plain"), &c), Ok(json!("plain")));
        // A `}}` inside the expression does not make it two.
        assert_eq!(
            t.template(&json!("{{ {'a': {'b': n}} }}"), &c),
            Ok(json!({"a": {"b": 3}}))
        );
        assert_eq!(
            t.template(
                &json!("{{ l | ansible.builtin.map('string') | ansible.builtin.join(',') }}"),
                &c
            ),
            Ok(json!("1,2"))
        );
    }

    #[test]
    fn omitted_arguments_are_left_out() {
        let t = Templar::new();
        let c = ctx(json!({"m": "0644", "user_omit": "{{ nothing }}"}));
        assert_eq!(
            t.template(
                &json!({"mode": "{{ m | default(omit) }}", "owner": "{{ o | default(omit) }}", "path": "/x"}),
                &c
            ),
            Ok(json!({"mode": "0644", "path": "/x"}))
        );
        assert_eq!(t.condition("omit is string", &c), Ok(false));
        assert_eq!(t.condition("omit is defined", &c), Ok(true));
    }

    #[test]
    fn guards_see_through_undefined_parents_but_nothing_else_does() {
        let t = Templar::new();
        let c = ctx(json!({"r": {"stdout": "x"}}));
        assert_eq!(
            t.template(&json!("{{ nope.a.b | default('d') }}"), &c),
            Ok(json!("d"))
        );
        assert_eq!(t.condition("nope.a is defined", &c), Ok(false));
        assert_eq!(t.condition("nope.a is undefined", &c), Ok(true));
        assert_eq!(
            t.template(&json!("{{ nope.a | default('d') }} {{ nope.b }}"), &c),
            Err("'nope' is undefined".into())
        );
        assert_eq!(
            t.template(&json!("{{ nope.a | mandatory }}"), &c),
            Err("Mandatory variable 'nope.a' not defined.".into())
        );
        assert_eq!(
            t.condition("r.rc == 0", &c),
            Err("'r' has no attribute 'rc'".into())
        );
    }
}
