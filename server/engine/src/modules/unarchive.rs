//! `unarchive`: unpack a tar archive into an existing directory on the host with the host's
//! GNU tar: `.tar`, `.tar.gz`/`.tgz` (tar detects gzip itself) and `.tar.zst`/`.tzst`, which
//! the controller decompresses with the zstd crate (hosts have no zstd) before sending.
//!
//! Idempotency, as Ansible's own tar handler: the archive is compared with what is on disk by
//! `tar --compare` (`-d`: content, size, mode, mtime, owner of each member); only when
//! something differs is it extracted. A controller archive is uploaded to a temporary file
//! for each run (Ansible does the same) and compared, extracted and removed in the same
//! exec. `creates` skips everything when a path exists. Check mode compares only.
//! Not supported (errors, never ignored): zip archives, `.zst` with `remote_src`.

use std::io::Write as _;
use std::path::PathBuf;

use serde_json::Value as Json;

use super::local_hash;
use super::remote_path::{self, Probe, Sum};
use super::{Call, ModuleResult, arg_bool, arg_str};
use crate::ssh::quote::shell_quote;
use crate::ssh::{SshError, Stdin};

/// What kind of archive a name says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Tar,
    Gzip,
    Zstd,
}

pub fn format_of(name: &str) -> Result<Format, String> {
    let n = name.to_ascii_lowercase();
    if n.ends_with(".tar.zst") || n.ends_with(".tzst") || n.ends_with(".tar.zstd") {
        Ok(Format::Zstd)
    } else if n.ends_with(".tar.gz") || n.ends_with(".tgz") {
        Ok(Format::Gzip)
    } else if n.ends_with(".tar") {
        Ok(Format::Tar)
    } else {
        Err(format!(
            "Failed to find handler for \"{name}\": Cairn unpacks .tar, .tar.gz/.tgz and .tar.zst archives"
        ))
    }
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let args = call.args;
    let (Some(src), Some(dest)) = (arg_str(args, "src"), arg_str(args, "dest")) else {
        return Ok(ModuleResult::failed(
            "missing required arguments: src, dest",
        ));
    };
    let flags = (|| {
        Ok::<_, String>((
            arg_bool(args, "remote_src", false)? || !arg_bool(args, "copy", true)?,
            arg_bool(args, "list_files", false)?,
        ))
    })();
    let (remote_src, list_files) = match flags {
        Ok(f) => f,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let format = match format_of(&src) {
        Ok(f) => f,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let extra_opts = match args.get("extra_opts") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        Some(Json::String(s)) => vec![s.clone()],
        Some(_) => return Ok(ModuleResult::failed("extra_opts must be a list of strings")),
    };
    if remote_src && format == Format::Zstd {
        return Ok(ModuleResult::failed(
            "a .tar.zst archive on the host (remote_src) cannot be unpacked: hosts have no zstd; give the controller's copy instead",
        ));
    }
    let local = if remote_src {
        None
    } else {
        match call.find_src(&src, "files") {
            Some(p) => Some(p),
            None => {
                return Ok(ModuleResult::failed(super::copy::not_found(
                    call, &src, "files",
                )));
            }
        }
    };
    // One probe: dest (must be a directory), creates, and the remote archive.
    let creates = arg_str(args, "creates");
    let c = creates
        .clone()
        .unwrap_or_else(|| "/nonexistent-cairn".into());
    let rsrc = if remote_src {
        src.clone()
    } else {
        "/nonexistent-cairn".into()
    };
    let states = remote_path::probe(
        call,
        &[
            Probe {
                path: &dest,
                follow: true,
                sum: Sum::None,
            },
            Probe {
                path: &c,
                follow: true,
                sum: Sum::None,
            },
            Probe {
                path: &rsrc,
                follow: true,
                sum: Sum::None,
            },
        ],
    )
    .await?;
    let mut r = ModuleResult::default();
    r.extra.insert("dest".into(), dest.clone().into());
    r.extra.insert("src".into(), src.clone().into());
    if creates.is_some() && states[1].exists {
        r.msg = Some(format!("skipped, since {c} exists"));
        return Ok(r);
    }
    if !states[0].is_dir() {
        return Ok(ModuleResult::failed(format!(
            "dest '{dest}' must be an existing dir"
        )));
    }
    if remote_src && !states[2].exists {
        return Ok(ModuleResult::failed(format!(
            "Source '{src}' does not exist"
        )));
    }
    // What goes up: the archive as it is, or the zstd one decompressed to a plain tar.
    let upload: Option<(PathBuf, Option<tempfile::TempPath>)> = match (&local, format) {
        (Some(p), Format::Zstd) => match decompress(p) {
            Ok(t) => Some((t.to_path_buf(), Some(t))),
            Err(e) => {
                return Ok(ModuleResult::failed(format!(
                    "could not decompress {}: {e}",
                    p.display()
                )));
            }
        },
        (Some(p), _) => Some((p.clone(), None)),
        (None, _) => None,
    };
    let sha256 = match &upload {
        Some((p, _)) => match local_hash::digests(p) {
            Ok((_, s, _)) => Some(s),
            Err(e) => {
                return Ok(ModuleResult::failed(format!(
                    "could not read {}: {e}",
                    p.display()
                )));
            }
        },
        None => None,
    };
    let script = host_script(
        if remote_src { Some(src.as_str()) } else { None },
        sha256.as_deref(),
        &dest,
        &extra_opts,
        call.check,
        list_files,
    );
    let out = match &upload {
        Some((p, _)) => {
            let file = match tokio::fs::File::open(p).await {
                Ok(f) => f,
                Err(e) => {
                    return Ok(ModuleResult::failed(format!(
                        "could not read {}: {e}",
                        p.display()
                    )));
                }
            };
            let reader = tokio::io::BufReader::with_capacity(256 * 1024, file);
            remote_path::sh_stdin(call, &script, Stdin::Reader(Box::new(reader))).await?
        }
        None => remote_path::sh(call, &script).await?,
    };
    let stdout = out.stdout_str();
    if !out.success() {
        let mut f = ModuleResult::failed(format!(
            "failed to unpack {src} to {dest}: {}",
            out.stderr_str().trim()
        ));
        f.rc = out.exit_status.map(i64::from);
        return Ok(f);
    }
    r.changed = stdout.lines().any(|l| l == "CAIRN-DIFFERS");
    if list_files {
        let files: Vec<Json> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("CAIRN-FILE "))
            .map(|f| Json::String(f.to_string()))
            .collect();
        r.extra.insert("files".into(), Json::Array(files));
    }
    r.extra.insert("handler".into(), "TarArchive".into());
    Ok(r)
}

/// The host side: receive (or use) the archive, compare, extract when it differs.
fn host_script(
    remote: Option<&str>,
    sha256: Option<&str>,
    dest: &str,
    extra_opts: &[String],
    check: bool,
    list_files: bool,
) -> String {
    let qd = shell_quote(dest);
    let opts: Vec<String> = extra_opts.iter().map(|o| shell_quote(o)).collect();
    let opts = opts.join(" ");
    let mut s = String::from("umask 022\n");
    match (remote, sha256) {
        (Some(src), _) => s.push_str(&format!("a={}\n", shell_quote(src))),
        (None, Some(sum)) => s.push_str(&format!(
            "a=$(mktemp) || exit 1\ntrap 'rm -f \"$a\"' EXIT\n\
             cat > \"$a\" || exit 1\n\
             echo '{sum}  '\"$a\" | sha256sum -c --status - || {{ echo 'archive check failed after upload (sha256 mismatch)' >&2; exit 90; }}\n"
        )),
        (None, None) => unreachable!("a controller archive has a checksum"),
    }
    if list_files {
        s.push_str("tar -t -f \"$a\" | sed 's/^/CAIRN-FILE /' || exit 1\n");
    }
    // `tar -d` exits 1 on a difference. With --strip-components a member stripped to
    // nothing (the top directory) is reported as ": Cannot stat": not a difference.
    s.push_str(&format!(
        "o=$(tar -d -f \"$a\" -C {qd} {opts} 2>&1); rc=$?\n\
         if [ $rc -eq 0 ]; then exit 0; fi\n\
         if [ $rc -eq 1 ] && [ -z \"$(printf '%s\\n' \"$o\" | grep -v -e '^tar: : Warning: Cannot stat' -e '^tar: Exiting with failure status' -e '^$')\" ]; then exit 0; fi\n\
         echo CAIRN-DIFFERS\n"
    ));
    if !check {
        s.push_str(&format!("tar -x -f \"$a\" -C {qd} {opts} || exit $?\n"));
    }
    s
}

/// Decompress a `.tar.zst` into a temporary plain tar on the controller.
fn decompress(path: &std::path::Path) -> std::io::Result<tempfile::TempPath> {
    let input = std::fs::File::open(path)?;
    let mut tmp = tempfile::NamedTempFile::new()?;
    let mut dec = zstd::stream::read::Decoder::new(input)?;
    std::io::copy(&mut dec, &mut tmp)?;
    tmp.flush()?;
    Ok(tmp.into_temp_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_of("a.tar"), Ok(Format::Tar));
        assert_eq!(format_of("a.TGZ"), Ok(Format::Gzip));
        assert_eq!(format_of("a.tar.gz"), Ok(Format::Gzip));
        assert_eq!(format_of("a.tar.zst"), Ok(Format::Zstd));
        assert_eq!(
            format_of("a.zip"),
            Err("Failed to find handler for \"a.zip\": Cairn unpacks .tar, .tar.gz/.tgz and .tar.zst archives".into())
        );
    }

    #[test]
    fn compare_then_extract_under_local_sh() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), "x").unwrap();
        let archive = d.path().join("a.tar.gz");
        let ok = std::process::Command::new("tar")
            .args([
                "-czf",
                archive.to_str().unwrap(),
                "-C",
                src.to_str().unwrap(),
                "sub",
            ])
            .status()
            .unwrap();
        assert!(ok.success());
        let out_dir = d.path().join("out");
        std::fs::create_dir(&out_dir).unwrap();
        let run = |check| {
            let s = host_script(
                Some(archive.to_str().unwrap()),
                None,
                out_dir.to_str().unwrap(),
                &[],
                check,
                false,
            );
            let o = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&s)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).contains("CAIRN-DIFFERS")
        };
        assert!(run(true));
        assert!(!out_dir.join("sub/f").exists(), "check mode extracted");
        assert!(run(false));
        assert_eq!(std::fs::read_to_string(out_dir.join("sub/f")).unwrap(), "x");
        assert!(!run(false), "second run must find nothing to do");
        // --strip-components: the stripped top directory is not a difference.
        let strip_dir = d.path().join("strip");
        std::fs::create_dir(&strip_dir).unwrap();
        let strip = |check| {
            let opts = ["--strip-components=1".to_string()];
            let s = host_script(
                Some(archive.to_str().unwrap()),
                None,
                strip_dir.to_str().unwrap(),
                &opts,
                check,
                false,
            );
            let o = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&s)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).contains("CAIRN-DIFFERS")
        };
        assert!(strip(false));
        assert_eq!(std::fs::read_to_string(strip_dir.join("f")).unwrap(), "x");
        assert!(!strip(false), "a stripped archive is compared too");
    }
}
