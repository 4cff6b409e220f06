//! `assert`: every condition in `that` must hold, else the host fails with `fail_msg` (or
//! `msg`). Conditions are evaluated like `when`.

use serde_json::Value as Json;

use super::{Call, ModuleResult, arg_str};

pub fn run(call: &Call<'_>) -> ModuleResult {
    let that: Vec<String> = match call.args.get("that") {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Bool(b)) => vec![b.to_string()],
        Some(Json::Array(items)) => items
            .iter()
            .map(|v| match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => return ModuleResult::failed("assert needs `that`: a condition or a list of them"),
    };
    for cond in &that {
        match call.templar.condition(cond, call.vars) {
            Ok(true) => {}
            Ok(false) => {
                let mut r = ModuleResult::failed(
                    arg_str(call.args, "fail_msg")
                        .or_else(|| arg_str(call.args, "msg"))
                        .unwrap_or_else(|| "Assertion failed".into()),
                );
                r.extra.insert("assertion".into(), cond.clone().into());
                r.extra.insert("evaluated_to".into(), false.into());
                return r;
            }
            Err(e) => {
                return ModuleResult::failed(format!("the conditional check '{cond}' failed: {e}"));
            }
        }
    }
    ModuleResult {
        msg: Some(
            arg_str(call.args, "success_msg").unwrap_or_else(|| "All assertions passed".into()),
        ),
        ..ModuleResult::default()
    }
}
