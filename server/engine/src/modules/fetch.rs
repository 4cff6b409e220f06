//! `fetch`: copy a file from the host to the controller, into `dest/HOST/PATH` (or, with
//! `flat: true`, `dest` itself, or `dest/BASENAME` when `dest` ends in `/`), as Ansible does.
//! A relative `dest` is taken from the playbook's directory. Idempotent by sha1: one exec
//! probes the remote file; it is downloaded (atomically, see `ssh::transfer`) only when the
//! local copy differs, then checked (`validate_checksum`).

use std::path::{Path, PathBuf};

use super::remote_path::{self, Probe, Sum};
use super::{Call, ModuleResult, arg_bool, arg_str};
use crate::ssh::SshError;

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let args = call.args;
    let (Some(src), Some(dest)) = (arg_str(args, "src"), arg_str(args, "dest")) else {
        return Ok(ModuleResult::failed(
            "missing required arguments: src, dest",
        ));
    };
    let flags = (|| {
        Ok::<_, String>((
            arg_bool(args, "flat", false)?,
            arg_bool(args, "fail_on_missing", true)?,
            arg_bool(args, "validate_checksum", true)?,
        ))
    })();
    let (flat, fail_on_missing, validate) = match flags {
        Ok(f) => f,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let local = local_dest(
        call.search.last().map(PathBuf::as_path),
        call.host,
        &src,
        &dest,
        flat,
    );
    let st = remote_path::probe(
        call,
        &[Probe {
            path: &src,
            follow: true,
            sum: Sum::Sha1,
        }],
    )
    .await?
    .remove(0);
    let mut r = ModuleResult::default();
    r.extra.insert("file".into(), src.clone().into());
    if !st.exists {
        let msg = "the remote file does not exist, not transferring, ignored";
        if fail_on_missing {
            return Ok(ModuleResult::failed(format!("{msg}: {src}")));
        }
        r.msg = Some(msg.into());
        return Ok(r);
    }
    if st.is_dir() {
        return Ok(ModuleResult::failed(format!(
            "remote file is a directory, fetch cannot work on directories: {src}"
        )));
    }
    let Some(remote_sum) = st.checksum.clone() else {
        return Ok(ModuleResult::failed(format!(
            "unable to calculate the checksum of the remote file (not readable?): {src}"
        )));
    };
    r.extra
        .insert("dest".into(), local.display().to_string().into());
    r.extra
        .insert("remote_checksum".into(), remote_sum.clone().into());
    r.extra.insert("checksum".into(), remote_sum.clone().into());
    let local_sum = remote_path::hash_local(&local).ok().map(|(s, _, _)| s);
    if local_sum.as_deref() == Some(remote_sum.as_str()) {
        return Ok(r);
    }
    r.changed = true;
    if call.check {
        return Ok(r);
    }
    if let Some(parent) = local.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        return Ok(ModuleResult::failed(format!(
            "could not create {}: {e}",
            parent.display()
        )));
    }
    if let Err(e) = call.conn.download(&src, &local, call.become_user).await {
        return match e {
            SshError::Io { .. } => Ok(ModuleResult::failed(e.to_string())),
            other => Err(other),
        };
    }
    if validate {
        let got = remote_path::hash_local(&local).ok().map(|(s, _, _)| s);
        if got.as_deref() != Some(remote_sum.as_str()) {
            return Ok(ModuleResult::failed(format!(
                "checksum mismatch: {src} changed while it was fetched (remote {remote_sum}, local {})",
                got.unwrap_or_default()
            )));
        }
    }
    Ok(r)
}

/// Where the file goes on the controller.
pub fn local_dest(base: Option<&Path>, host: &str, src: &str, dest: &str, flat: bool) -> PathBuf {
    let dest_path = match base {
        Some(b) if !Path::new(dest).is_absolute() => b.join(dest),
        _ => PathBuf::from(dest),
    };
    if flat {
        if dest.ends_with('/') {
            dest_path.join(super::copy::basename(src))
        } else {
            dest_path
        }
    } else {
        dest_path.join(host).join(src.trim_start_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let b = Path::new("/pb");
        let cases = [
            ("/etc/hosts", "out", false, "/pb/out/lab1/etc/hosts"),
            ("/etc/hosts", "/abs", false, "/abs/lab1/etc/hosts"),
            ("/etc/hosts", "out/", true, "/pb/out/hosts"),
            ("/etc/hosts", "out/h.txt", true, "/pb/out/h.txt"),
        ];
        for (src, dest, flat, want) in cases {
            assert_eq!(
                local_dest(Some(b), "lab1", src, dest, flat),
                PathBuf::from(want)
            );
        }
    }
}
