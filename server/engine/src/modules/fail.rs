//! `fail`: fail the host on purpose, with `msg`.

use super::{Call, ModuleResult, arg_str};

pub fn run(call: &Call<'_>) -> ModuleResult {
    ModuleResult::failed(
        arg_str(call.args, "msg").unwrap_or_else(|| "Failed as requested from task".into()),
    )
}
