//! The controller itself as a host, for `delegate_to: localhost` (and an inventory host with
//! `ansible_connection: local`): a command runs here with `/bin/sh -c`, with the same
//! request and result shapes as over SSH, so every module works unchanged.
//!
//! Owns: spawning the shell, feeding stdin, streaming stdout/stderr, exit status or signal,
//! privilege escalation with `sudo -n` (no password prompt: the controller's sudo must allow
//! it, or Cairn must run as the user already). Must not: time commands out (the connection's
//! `exec_streaming` does, for both transports) or decide what a failure means.

use super::connection::{ExecOutput, ExecRequest, Stdin, Stream};
use super::error::SshError;
use std::process::Stdio;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Is `name` the controller, as `delegate_to` may spell it (Ansible's implicit localhost,
/// when the inventory has no host of that name)?
pub fn is_localhost(name: &str) -> bool {
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

fn shell(command: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("/bin/sh");
    c.arg("-c").arg(command);
    c
}

/// Run `req` on this machine, handing output to `sink` as it comes.
pub(crate) async fn exec(
    host: &str,
    req: ExecRequest<'_>,
    sink: &mut (dyn FnMut(Stream, &[u8]) + Send),
) -> Result<ExecOutput, SshError> {
    let started = Instant::now();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = match req.become_user {
        // Already that user: no sudo (which may not even be installed on the installer).
        None => shell(req.command),
        Some("root") if root => shell(req.command),
        Some(user) => {
            let mut c = tokio::process::Command::new("sudo");
            c.args(["-n", "-u", user, "--", "/bin/sh", "-c", req.command]);
            c
        }
    };
    let has_stdin = !matches!(req.stdin, Stdin::None);
    cmd.stdin(if has_stdin {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    // A command abandoned (its timeout, the run stopped) must not outlive the run.
    .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| SshError::Channel {
        host: host.to_string(),
        reason: format!("cannot run a command on the controller: {e}"),
    })?;
    let mut stdin_pipe = child.stdin.take();
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");

    let feed = async {
        if let Some(pipe) = stdin_pipe.as_mut() {
            // A command that exits without reading all of it closes the pipe: its exit status
            // tells the story, not this write.
            let _ = match req.stdin {
                Stdin::None => Ok(()),
                Stdin::Bytes(b) => pipe.write_all(b).await,
                Stdin::Reader(mut r) => tokio::io::copy(&mut r, pipe).await.map(|_| ()),
            };
        }
        drop(stdin_pipe.take());
    };
    let keep_stdout = req.keep_stdout;
    let read = async {
        let mut out = ExecOutput::default();
        let (mut a, mut b) = (vec![0u8; 64 * 1024], vec![0u8; 16 * 1024]);
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            tokio::select! {
                n = stdout.read(&mut a), if out_open => match n {
                    Ok(0) | Err(_) => out_open = false,
                    Ok(n) => {
                        sink(Stream::Stdout, &a[..n]);
                        if keep_stdout {
                            out.stdout.extend_from_slice(&a[..n]);
                        }
                    }
                },
                n = stderr.read(&mut b), if err_open => match n {
                    Ok(0) | Err(_) => err_open = false,
                    Ok(n) => {
                        sink(Stream::Stderr, &b[..n]);
                        out.stderr.extend_from_slice(&b[..n]);
                    }
                },
            }
        }
        out
    };
    // The command's end decides, as over SSH: stdin still being fed then is abandoned (a
    // stdin that never ends, as a task's session shell has until it is closed, must not
    // keep a finished command waiting).
    let ended = async {
        let out = read.await;
        (out, child.wait().await)
    };
    tokio::pin!(feed, ended);
    let mut fed = false;
    let (mut out, status) = loop {
        tokio::select! {
            r = &mut ended => break r,
            () = &mut feed, if !fed => fed = true,
        }
    };
    let status = status.map_err(|e| SshError::Channel {
        host: host.to_string(),
        reason: format!("waiting for a command on the controller: {e}"),
    })?;
    out.exit_status = status.code().and_then(|c| u32::try_from(c).ok());
    if out.exit_status.is_none() {
        use std::os::unix::process::ExitStatusExt;
        out.exit_signal = status.signal().map(|s| format!("signal {s}"));
    }
    out.duration = started.elapsed();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::{Connection, ExecRequest, SshError, SshOptions, Stdin};
    use std::time::{Duration, Instant};

    fn here() -> Connection {
        Connection::local("localhost", &SshOptions::default())
    }

    #[tokio::test]
    async fn runs_with_stdin_output_and_exit_status() {
        let c = here();
        assert!(c.is_local() && !c.is_closed());
        let out = c
            .exec(
                ExecRequest::new("tr a-z A-Z; echo oops >&2; exit 3")
                    .stdin(Stdin::Bytes(b"hello\n")),
            )
            .await
            .unwrap();
        assert_eq!(
            (
                out.stdout_str().as_str(),
                out.stderr_str().as_str(),
                out.exit_status
            ),
            ("HELLO\n", "oops\n", Some(3))
        );
        let killed = c.run("kill -9 $$").await.unwrap();
        assert_eq!(
            (killed.exit_status, killed.exit_signal.as_deref()),
            (None, Some("signal 9"))
        );
        // Large output on both streams at once does not deadlock.
        let big = c
            .run("head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2")
            .await
            .unwrap();
        assert_eq!((big.stdout.len(), big.stderr.len()), (3_000_000, 3_000_000));
    }

    /// A command that ends while its stdin is still open (a task's session shell before it is
    /// closed) ends the exec: stdin is abandoned, as over SSH.
    #[tokio::test]
    async fn a_finished_command_does_not_wait_for_its_stdin() {
        let c = here();
        let (_writer, reader) = tokio::io::duplex(64);
        let out = tokio::time::timeout(
            Duration::from_secs(10),
            c.exec(ExecRequest::new("echo done; exit 4").stdin(Stdin::Reader(Box::new(reader)))),
        )
        .await
        .expect("the exec ended without its stdin closing")
        .unwrap();
        assert_eq!(
            (out.stdout_str().as_str(), out.exit_status),
            ("done\n", Some(4))
        );
    }

    /// A command over its time is stopped (the process too, not only the wait).
    #[tokio::test]
    async fn a_timeout_kills_the_command() {
        let c = here();
        let marker = std::env::temp_dir().join(format!("cairn-local-{}", std::process::id()));
        let t0 = Instant::now();
        let r = c
            .exec(
                ExecRequest::new(&format!("sleep 2; touch {}", marker.display()))
                    .timeout(Duration::from_millis(300)),
            )
            .await;
        assert!(matches!(r, Err(SshError::Timeout { .. })), "{r:?}");
        assert!(t0.elapsed() < Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!marker.exists(), "the timed-out command went on");
    }
}
