//! `stat`: a path's facts in one exec (`stat -c`, `readlink`, `sha1sum`/`sha256sum`), with
//! Ansible's result shape under `stat` (`exists`, `isdir`, `isreg`, `islnk`, `mode` as a
//! `'0644'` string, `pw_name`, `checksum`...). Never changes anything.

use serde_json::{Value as Json, json};

use super::remote_path::{self, Kind, Probe, Sum};
use super::{Call, ModuleResult, arg_bool, arg_str, path_arg};
use crate::playbook::Vars;
use crate::ssh::SshError;

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let Some(path) = path_arg(call.args) else {
        return Ok(ModuleResult::failed("missing required arguments: path"));
    };
    let (follow, get_checksum) = match (
        arg_bool(call.args, "follow", false),
        arg_bool(call.args, "get_checksum", true),
    ) {
        (Ok(f), Ok(c)) => (f, c),
        (Err(e), _) | (_, Err(e)) => return Ok(ModuleResult::failed(e)),
    };
    let algo = arg_str(call.args, "checksum_algorithm")
        .or_else(|| arg_str(call.args, "checksum_algo"))
        .or_else(|| arg_str(call.args, "checksum"))
        .unwrap_or_else(|| "sha1".into());
    let sum = match (get_checksum, algo.as_str()) {
        (false, _) => Sum::None,
        (true, "sha1") => Sum::Sha1,
        (true, "sha256") => Sum::Sha256,
        (true, other) => {
            return Ok(ModuleResult::failed(format!(
                "value of checksum_algorithm must be one of: sha1, sha256, got: {other} \
                 (Cairn computes checksums with the host's coreutils)"
            )));
        }
    };
    let probe = [Probe {
        path: &path,
        follow,
        sum,
    }];
    // The probe prints `R 0 <real path>` (readlink -f) for a link.
    let script = format!("{}exit 0\n", remote_path::probe_script(&probe));
    let out = remote_path::sh(call, &script).await?;
    let text = out.stdout_str();
    let st = remote_path::parse_probe_output(&text, &probe).remove(0);
    let real = text
        .lines()
        .find_map(|l| l.strip_prefix("R 0 "))
        .map(str::to_string);
    let mut r = ModuleResult::default();
    r.extra.insert("stat".into(), stat_json(&path, &st, real));
    Ok(r)
}

/// Ansible's `stat` dict for one state.
pub fn stat_json(path: &str, st: &remote_path::PathState, real: Option<String>) -> Json {
    if !st.exists {
        return json!({"exists": false});
    }
    let m = st.mode;
    let bit = |b: u32| m & b != 0;
    let mut s: Vars = json!({
        "exists": true,
        "path": path,
        "mode": format!("{m:04o}"),
        "isdir": st.kind == Some(Kind::Dir),
        "isreg": st.kind == Some(Kind::File),
        "islnk": st.kind == Some(Kind::Link),
        "uid": st.uid,
        "gid": st.gid,
        "pw_name": st.owner,
        "gr_name": st.group,
        "size": st.size,
        "mtime": st.mtime,
        "inode": st.inode,
        "dev": st.dev,
        "nlink": st.nlink,
        "readable": st.readable,
        "writeable": st.writeable,
        "executable": st.executable,
        "rusr": bit(0o400), "wusr": bit(0o200), "xusr": bit(0o100),
        "rgrp": bit(0o040), "wgrp": bit(0o020), "xgrp": bit(0o010),
        "roth": bit(0o004), "woth": bit(0o002), "xoth": bit(0o001),
        "isuid": bit(0o4000), "isgid": bit(0o2000),
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    if let Some(c) = &st.checksum {
        s.insert("checksum".into(), c.clone().into());
    }
    if st.kind == Some(Kind::Link) {
        if let Some(t) = &st.link_target {
            s.insert("lnk_target".into(), t.clone().into());
        }
        if let Some(r) = real {
            s.insert("lnk_source".into(), r.into());
        }
    }
    Json::Object(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_dict_shape() {
        let st = remote_path::parse_probes("P 0 a1ff 0 0 4 5 6 7 1 rwx root root\nL 0 ../x\n", 1)
            .remove(0);
        let j = stat_json("/a", &st, Some("/x".into()));
        assert_eq!(j["islnk"], json!(true));
        assert_eq!(j["mode"], json!("0777"));
        assert_eq!(j["lnk_source"], json!("/x"));
        assert_eq!(j["lnk_target"], json!("../x"));
        assert_eq!(
            stat_json("/a", &remote_path::PathState::default(), None),
            json!({"exists": false})
        );
    }
}
