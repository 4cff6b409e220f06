//! `raw`: the command line handed to the SSH server as is (no `chdir`, no guards), for hosts
//! where nothing else can be assumed.

use super::command::{exec, from_output, raw_params};
use super::{Call, ModuleResult};
use crate::ssh::SshError;

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let Some(line) = raw_params(call) else {
        return Ok(ModuleResult::failed("no command given"));
    };
    let out = exec(call, &line).await?;
    let mut result = from_output(&out);
    // Ansible's raw reports no message on success.
    if !result.failed {
        result.msg = None;
    }
    Ok(result)
}
