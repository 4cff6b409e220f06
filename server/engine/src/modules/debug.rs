//! `debug`: show a message (`msg`) or a variable (`var`, an expression evaluated on the host's
//! variables). Never changes anything.

use serde_json::Value as Json;

use super::{Call, ModuleResult};
use crate::run::template::to_json;

pub fn run(call: &Call<'_>) -> ModuleResult {
    let mut result = ModuleResult::default();
    match (call.args.get("var"), call.args.get("msg")) {
        (Some(_), Some(_)) => {
            return ModuleResult::failed("parameters are mutually exclusive: msg and var");
        }
        (Some(Json::String(expr)), None) => {
            // Ansible shows an undefined variable as a value rather than failing.
            let value = match call.templar.eval(expr, call.vars) {
                Ok(v) => to_json(&v),
                Err(e) if e.ends_with("is undefined") || e.contains("has no attribute") => {
                    Json::String("VARIABLE IS NOT DEFINED!".into())
                }
                Err(e) => return ModuleResult::failed(e),
            };
            result.data.insert(expr.clone(), value);
        }
        (Some(_), None) => return ModuleResult::failed("var must be a variable name"),
        (None, msg) => {
            let msg = msg.cloned().unwrap_or_else(|| "Hello world!".into());
            if let Json::String(s) = &msg {
                result.msg = Some(s.clone());
            }
            result.data.insert("msg".into(), msg);
        }
    }
    result
}
