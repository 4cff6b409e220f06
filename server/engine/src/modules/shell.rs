//! `shell`: a command line run by a shell on the host (`/bin/sh`, or `executable`), with
//! `chdir` and `creates`/`removes` as for `command`.

use super::command::{guarded, raw_params};
use super::{Call, ModuleResult, arg_str};
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let Some(line) = raw_params(call) else {
        return Ok(ModuleResult::failed("no command given"));
    };
    // Run through an explicit shell rather than the login shell sshd picks, as Ansible runs
    // `/bin/sh -c`, so the same script behaves the same whatever the user's shell is.
    let shell = arg_str(call.args, "executable").unwrap_or_else(|| "/bin/sh".to_string());
    let script = format!("{} -c {}", shell_quote(&shell), shell_quote(&line));
    let mut result = guarded(call, &script).await?;
    result.extra.insert("cmd".into(), line.into());
    Ok(result)
}
