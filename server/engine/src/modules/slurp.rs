//! `slurp`: a file's content from the host, base64-encoded in `content` (`encoding: base64`,
//! `source`), as Ansible returns it (decode with `b64decode`). Never changes anything.

use base64::Engine as _;

use super::remote_path::sh;
use super::{Call, ModuleResult, arg_str};
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let Some(src) = arg_str(call.args, "src").or_else(|| arg_str(call.args, "path")) else {
        return Ok(ModuleResult::failed("missing required arguments: src"));
    };
    let q = shell_quote(&src);
    // Distinguish the failures Ansible names before reading.
    let script = format!(
        "if [ ! -e {q} ]; then echo 'CAIRN-MISSING' >&2; exit 2; fi\n\
         if [ -d {q} ]; then echo 'CAIRN-DIR' >&2; exit 2; fi\n\
         exec cat -- {q}"
    );
    let out = sh(call, &script).await?;
    let err = out.stderr_str();
    if !out.success() {
        let msg = if err.contains("CAIRN-MISSING") {
            format!("file not found: {src}")
        } else if err.contains("CAIRN-DIR") {
            format!("source is a directory and must be a file: {src}")
        } else {
            format!("unable to slurp file: {src}: {}", err.trim())
        };
        return Ok(ModuleResult::failed(msg));
    }
    let mut r = ModuleResult::default();
    r.extra.insert(
        "content".into(),
        base64::engine::general_purpose::STANDARD
            .encode(&out.stdout)
            .into(),
    );
    r.extra.insert("encoding".into(), "base64".into());
    r.extra.insert("source".into(), src.into());
    Ok(r)
}
