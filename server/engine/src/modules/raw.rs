//! `raw`: the command line handed to the SSH server as is (no `chdir`, no guards), for hosts
//! where nothing else can be assumed. The task's `environment` is exported first; in check
//! mode it is skipped (as Ansible's raw).

use super::command::{exec, exports, from_output, raw_params};
use super::{Call, ModuleResult};
use crate::ssh::SshError;

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let Some(line) = raw_params(call) else {
        return Ok(ModuleResult::failed("no command given"));
    };
    if call.check {
        let mut r = ModuleResult::default();
        r.extra.insert("skipped".into(), true.into());
        r.msg = Some("raw does not support check mode".into());
        return Ok(r);
    }
    let env = match exports(call) {
        Ok(e) => e,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let out = exec(call, &format!("{env}{line}")).await?;
    let mut result = from_output(&out);
    // Ansible's raw reports no message on success.
    if !result.failed {
        result.msg = None;
    }
    Ok(result)
}
