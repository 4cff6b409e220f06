//! Moving files over an established connection: upload and download through exec channels.
//!
//! Uploads stream the data into `cat` on the host, write to a temporary file beside the
//! destination, check its sha256 there and only then rename it into place, so a cut
//! connection, a full disk or a killed installer never leaves a half-written file under the
//! real name. An exec channel (rather than SFTP) works the same with and without sudo.
//! Must not: decide whether a file needs sending (that is the modules' job).

use super::connection::{Connection, ExecRequest, Stdin, Stream};
use super::error::SshError;
use super::quote::shell_quote;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// What to upload and where.
pub struct UploadRequest<'a> {
    /// Absolute path on the host.
    pub dest: &'a str,
    /// File mode of the result (default 0644).
    pub mode: Option<u32>,
    /// Write as this user through sudo.
    pub become_user: Option<&'a str>,
}

/// The outcome of a transfer.
#[derive(Clone, Debug)]
pub struct Transferred {
    pub bytes: u64,
    /// Hex sha256 of the content; for uploads it was also verified on the host.
    pub sha256: String,
    pub duration: Duration,
}

impl Connection {
    /// Upload a local file.
    pub async fn upload_file(
        &self,
        local: &Path,
        req: UploadRequest<'_>,
    ) -> Result<Transferred, SshError> {
        let io = |e: std::io::Error| SshError::Io {
            host: self.host().to_string(),
            context: format!("reading {}", local.display()),
            reason: e.to_string(),
        };
        // Hash first: the host then checks what it received before the rename.
        let (bytes, sha256) = hash_file(local).await.map_err(io)?;
        let file = tokio::fs::File::open(local).await.map_err(io)?;
        let reader = tokio::io::BufReader::with_capacity(256 * 1024, file);
        self.upload_stream(Stdin::Reader(Box::new(reader)), bytes, sha256, req)
            .await
    }

    /// Upload bytes held in memory.
    pub async fn upload_bytes(
        &self,
        data: &[u8],
        req: UploadRequest<'_>,
    ) -> Result<Transferred, SshError> {
        let sha256 = hex::encode(Sha256::digest(data));
        self.upload_stream(Stdin::Bytes(data), data.len() as u64, sha256, req)
            .await
    }

    async fn upload_stream(
        &self,
        stdin: Stdin<'_>,
        bytes: u64,
        sha256: String,
        req: UploadRequest<'_>,
    ) -> Result<Transferred, SshError> {
        let started = Instant::now();
        let dest = req.dest;
        let tmp = format!("{dest}.cairn-tmp-{:08x}", rand::random::<u32>());
        let (qd, qt) = (shell_quote(dest), shell_quote(&tmp));
        let mode = format!("{:o}", req.mode.unwrap_or(0o644));
        let script = format!(
            "umask 077; cat > {qt} || {{ rc=$?; rm -f {qt}; exit $rc; }}; \
             echo '{sha256}  '{qt} | sha256sum -c --status - \
             || {{ rm -f {qt}; echo 'content check failed after upload (sha256 mismatch)' >&2; exit 90; }}; \
             chmod {mode} {qt} && mv -f {qt} {qd} || {{ rc=$?; rm -f {qt}; exit $rc; }}"
        );
        let mut exec = ExecRequest::new(&script).stdin(stdin);
        if let Some(u) = req.become_user {
            exec = exec.become_user(u);
        }
        let out = self.exec(exec).await?;
        if !out.success() {
            return Err(SshError::Io {
                host: self.host().to_string(),
                context: format!("upload to {dest} failed"),
                reason: failure_text(&out.stderr_str(), out.exit_status),
            });
        }
        Ok(Transferred {
            bytes,
            sha256,
            duration: started.elapsed(),
        })
    }

    /// Download a file from the host into `local` (written to a temporary file beside it and
    /// renamed when complete; nothing is left behind on failure).
    pub async fn download(
        &self,
        remote: &str,
        local: &Path,
        become_user: Option<&str>,
    ) -> Result<Transferred, SshError> {
        let tmp = local.with_file_name(format!(
            ".{}.cairn-tmp-{:08x}",
            local
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            rand::random::<u32>()
        ));
        let result = self.download_to(remote, &tmp, local, become_user).await;
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    async fn download_to(
        &self,
        remote: &str,
        tmp: &Path,
        local: &Path,
        become_user: Option<&str>,
    ) -> Result<Transferred, SshError> {
        use std::io::Write;
        let started = Instant::now();
        let io = |context: String, e: std::io::Error| SshError::Io {
            host: self.host().to_string(),
            context,
            reason: e.to_string(),
        };
        let file =
            std::fs::File::create(tmp).map_err(|e| io(format!("creating {}", tmp.display()), e))?;
        let mut file = std::io::BufWriter::with_capacity(256 * 1024, file);
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        let mut write_err = None;
        let command = format!("cat {}", shell_quote(remote));
        let mut req = ExecRequest::new(&command).discard_stdout();
        if let Some(u) = become_user {
            req = req.become_user(u);
        }
        let out = self
            .exec_streaming(req, &mut |stream, data| {
                if stream == Stream::Stdout && write_err.is_none() {
                    hasher.update(data);
                    bytes += data.len() as u64;
                    if let Err(e) = file.write_all(data) {
                        write_err = Some(e);
                    }
                }
            })
            .await?;
        if let Some(e) = write_err {
            return Err(io(format!("writing {}", tmp.display()), e));
        }
        if !out.success() {
            return Err(SshError::Io {
                host: self.host().to_string(),
                context: format!("download of {remote} failed"),
                reason: failure_text(&out.stderr_str(), out.exit_status),
            });
        }
        file.flush()
            .and_then(|_| file.get_ref().sync_all())
            .and_then(|_| std::fs::rename(tmp, local))
            .map_err(|e| io(format!("writing {}", local.display()), e))?;
        Ok(Transferred {
            bytes,
            sha256: hex::encode(hasher.finalize()),
            duration: started.elapsed(),
        })
    }
}

fn failure_text(stderr: &str, status: Option<u32>) -> String {
    let s = stderr.trim();
    match (s.is_empty(), status) {
        (false, _) => s.to_string(),
        (true, Some(c)) => format!("exit status {c}"),
        (true, None) => "killed by a signal".to_string(),
    }
}

async fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf).await?;
        if r == 0 {
            break;
        }
        h.update(&buf[..r]);
        n += r as u64;
    }
    Ok((n, hex::encode(h.finalize())))
}
