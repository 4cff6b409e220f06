//! `template`: render a controller Jinja2 file with the host's variables, then write it as
//! `copy` does (same checksum idempotency, backup, validate, mode/owner/group, results).
//!
//! Rendering uses the run's templar (minijinja with Ansible's filters) with the template
//! module's Jinja settings emulated: `trim_blocks` (the newline after a block tag is
//! dropped) and `keep_trailing_newline`; `newline_sequence` converts line ends. Adds
//! Ansible's `template_host`, `template_path`, `template_fullpath`, `template_destpath`,
//! `ansible_managed`.
//! Must not: write anything itself (see `copy`).

use serde_json::Value as Json;

use super::copy::{self, Data, Options};
use super::remote_path::Attrs;
use super::{Call, ModuleResult, arg_str};
use crate::run::template::Context;
use crate::ssh::SshError;

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let args = call.args;
    let (Some(src), Some(dest)) = (arg_str(args, "src"), arg_str(args, "dest")) else {
        return Ok(ModuleResult::failed(
            "missing required arguments: src, dest",
        ));
    };
    let attrs = match Attrs::from_args(args) {
        Ok(a) => a,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let opts = match Options::from_args(call) {
        Ok(o) => o,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let newline = match arg_str(args, "newline_sequence").as_deref() {
        None | Some("\n") | Some("\\n") => "\n",
        Some("\r\n") | Some("\\r\\n") => "\r\n",
        Some("\r") | Some("\\r") => "\r",
        Some(other) => {
            return Ok(ModuleResult::failed(format!(
                "value of newline_sequence must be one of: \\n, \\r, \\r\\n, got: {other:?}"
            )));
        }
    };
    let Some(local) = call.find_src(&src, "templates") else {
        return Ok(ModuleResult::failed(copy::not_found(
            call,
            &src,
            "templates",
        )));
    };
    let text = match std::fs::read_to_string(&local) {
        Ok(t) => t,
        Err(e) => {
            return Ok(ModuleResult::failed(format!(
                "could not read template {}: {e}",
                local.display()
            )));
        }
    };
    let mut vars = call.vars.json.clone();
    vars.insert("template_host".into(), call.host.into());
    vars.insert("template_path".into(), src.clone().into());
    vars.insert(
        "template_fullpath".into(),
        local.display().to_string().into(),
    );
    vars.insert("template_destpath".into(), dest.clone().into());
    // ansible-core's default `DEFAULT_MANAGED_STR` (roles write `{{ ansible_managed | comment }}`);
    // a variable of that name set by the play wins, as Ansible's config does not.
    vars.entry("ansible_managed")
        .or_insert_with(|| "Ansible managed".into());
    let ctx = call.vars.derive(vars);
    let rendered = match render(call, &text, &ctx, newline) {
        Ok(r) => r,
        Err(e) => {
            return Ok(ModuleResult::failed(format!(
                "AnsibleError: template error while templating {}: {e}",
                local.display()
            )));
        }
    };
    let opts = Options {
        remote_src: false,
        ..opts
    };
    copy::one(
        call,
        &dest,
        Some(&src),
        Data::Bytes(rendered.into_bytes()),
        &attrs,
        &opts,
    )
    .await
}

fn render(call: &Call<'_>, text: &str, ctx: &Context, newline: &str) -> Result<String, String> {
    let source = trim_blocks(text);
    let out = match call.templar.template(&Json::String(source), ctx)? {
        Json::String(s) => s,
        other => other.to_string(),
    };
    Ok(finish(text, out, newline))
}

/// Jinja's `trim_blocks` (Ansible's template default): the first newline after a block tag
/// or a comment is removed.
pub fn trim_blocks(text: &str) -> String {
    text.replace("%}\r\n", "%}")
        .replace("%}\n", "%}")
        .replace("#}\r\n", "#}")
        .replace("#}\n", "#}")
}

/// `keep_trailing_newline` (minijinja drops one, as Jinja does by default) and
/// `newline_sequence`.
pub fn finish(source: &str, mut out: String, newline: &str) -> String {
    if source.ends_with('\n') && !out.ends_with('\n') {
        out.push('\n');
    }
    if newline != "\n" {
        out = out.replace("\r\n", "\n").replace('\n', newline);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_settings_as_ansible() {
        assert_eq!(
            trim_blocks("{% if x %}\nyes\n{% endif %}\nend\n"),
            "{% if x %}yes\n{% endif %}end\n"
        );
        assert_eq!(trim_blocks("{# c #}\na"), "{# c #}a");
        assert_eq!(finish("a\n", "a".into(), "\n"), "a\n");
        assert_eq!(finish("a", "a".into(), "\n"), "a");
        assert_eq!(finish("a\nb\n", "a\nb\n".into(), "\r\n"), "a\r\nb\r\n");
    }

    #[test]
    fn renders_with_the_run_templar() {
        let templar = crate::run::template::Templar::new();
        let ctx = Context::new(
            serde_json::json!({"port": 80, "names": ["a", "b"]})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let src = "listen {{ port }}\n{% for n in names %}\nhost {{ n }}\n{% endfor %}\n";
        let out = match templar
            .template(&Json::String(trim_blocks(src)), &ctx)
            .unwrap()
        {
            Json::String(s) => s,
            other => other.to_string(),
        };
        assert_eq!(finish(src, out, "\n"), "listen 80\nhost a\nhost b\n");
    }
}
