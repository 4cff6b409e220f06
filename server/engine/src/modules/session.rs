//! A task's conversation with one `/bin/sh` on the host: several scripts over one exec.
//!
//! A file task probes, decides on the controller, then writes. Done as two execs, that is two
//! SSH sessions on the host, each a process forked by sshd, the login shell, `/bin/sh` (and
//! under become `sudo` and one more shell): about 3 ms of the host's CPU here before the
//! script does anything (docs/benchmarks.md, "Playbooks"). A [`Session`] starts the shell once,
//! with the first script as its argument followed by a loop that reads further scripts from
//! standard input and runs each with `eval`. Each script sent is ended by a line holding a
//! random token (`TOKEN` alone: the script runs with `/dev/null` as stdin; `TOKEN-IN`: raw
//! data follows to the end of stdin, for `cat > tmp` as a plain exec's upload, so it is the
//! last script). After each script the shell prints `\nTOKEN STATUS\n` on stdout and
//! `\nTOKEN\n` on stderr, which is where the controller cuts that script's output. A script
//! that calls `exit` ends the shell: its status is then the exec's. Closing stdin ends the
//! loop.
//!
//! The scripts and their outputs are the same as with one exec each; only the transport
//! differs. The exec's timeout covers the whole conversation; a lost connection fails the
//! script being run, as it would have failed the exec.
//! Must not: decide anything about a module: it carries scripts and their outputs only.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use tokio::io::{AsyncWriteExt as _, DuplexStream};
use tokio::sync::mpsc;

use super::Call;
use crate::ssh::quote::shell_quote;
use crate::ssh::{ExecOutput, ExecRequest, SshError, Stdin, Stream};

type ExecFuture<'c> = Pin<Box<dyn Future<Output = Result<ExecOutput, SshError>> + Send + 'c>>;

/// The scripts of one task on one host. Until [`Session::first`] opens the conversation,
/// every script is a plain exec of its own, as before sessions existed. The module that
/// makes one calls [`Session::close`] on every path (its `run` wraps the work), so the shell
/// ends with the task instead of waiting on its stdin until the channel is dropped.
pub struct Session<'c> {
    call: &'c Call<'c>,
    open: Option<Open<'c>>,
}

/// A running conversation.
struct Open<'c> {
    token: String,
    exec: ExecFuture<'c>,
    /// The shell's stdin; `None` once closed (after a script with data).
    input: Option<DuplexStream>,
    chunks: mpsc::UnboundedReceiver<(Stream, Vec<u8>)>,
    chunks_closed: bool,
    out: Vec<u8>,
    err: Vec<u8>,
    /// How much of `out`/`err` earlier scripts' outputs took.
    out_pos: usize,
    err_pos: usize,
    started: Instant,
}

/// How much of the shell's stdin may wait in the pipe to the channel before writes wait.
const INPUT_BUFFER: usize = 256 * 1024;

/// The shell that runs `first`, then the scripts read from stdin (see the module's docs).
pub fn shell_script(token: &str, first: &str) -> String {
    format!(
        "cairn_mark() {{ printf '\\n%s %s\\n' {token} \"$1\"; printf '\\n%s\\n' {token} >&2; }}\n\
         {{\n{first}\n}} </dev/null\n\
         cairn_mark $?\n\
         while :; do\n\
         cairn_s= cairn_e=\n\
         while IFS= read -r cairn_l; do\n\
         case $cairn_l in {token}) cairn_e=0; break;; {token}-IN) cairn_e=1; break;; esac\n\
         cairn_s=\"$cairn_s$cairn_l\n\"\n\
         done\n\
         case $cairn_e in 0) eval \"$cairn_s\" </dev/null;; 1) eval \"$cairn_s\";; *) exit 0;; esac\n\
         cairn_mark $?\n\
         done\n"
    )
}

impl<'c> Session<'c> {
    pub fn new(call: &'c Call<'c>) -> Self {
        Session { call, open: None }
    }

    /// Run `script`, keeping the shell for scripts that may follow (opens the conversation,
    /// or continues it).
    pub async fn first(&mut self, script: &str) -> Result<ExecOutput, SshError> {
        self.close_if_spent().await;
        if self.open.is_none() {
            self.start(script);
            return self.wait(None).await;
        }
        self.step(script, Stdin::None).await
    }

    /// Run `script`: in the conversation when one is open, else as a plain exec.
    pub async fn sh(&mut self, script: &str) -> Result<ExecOutput, SshError> {
        self.sh_stdin(script, Stdin::None).await
    }

    /// Run `script` with `stdin` as its standard input. With data, it is the conversation's
    /// last script: stdin closes after the data.
    pub async fn sh_stdin(
        &mut self,
        script: &str,
        stdin: Stdin<'_>,
    ) -> Result<ExecOutput, SshError> {
        self.close_if_spent().await;
        if self.open.is_some() {
            self.step(script, stdin).await
        } else {
            super::remote_path::sh_stdin(self.call, script, stdin).await
        }
    }

    /// End the conversation: close the shell's stdin and wait for it to exit. Its output has
    /// all been taken by the scripts; a failure here changes nothing they reported.
    pub async fn close(&mut self) {
        if let Some(mut open) = self.open.take() {
            open.input = None;
            if let Err(e) = open.exec.await {
                tracing::debug!(host = %self.call.host, "closing a task's shell: {e}");
            }
        }
    }

    /// Whether scripts go into an open conversation.
    pub fn is_open(&self) -> bool {
        self.open.as_ref().is_some_and(|o| o.input.is_some())
    }

    /// A conversation whose stdin was closed (data was sent) takes no more scripts: let its
    /// shell end, so the next script is a plain exec.
    async fn close_if_spent(&mut self) {
        if self.open.is_some() && !self.is_open() {
            self.close().await;
        }
    }

    fn start(&mut self, first: &str) {
        let token = format!("CAIRN-STEP-{:016x}", rand::random::<u64>());
        let command = format!("/bin/sh -c {}", shell_quote(&shell_script(&token, first)));
        let (input, shell_stdin) = tokio::io::duplex(INPUT_BUFFER);
        let (tx, chunks) = mpsc::unbounded_channel();
        let call = self.call;
        let exec: ExecFuture<'c> = Box::pin(async move {
            let mut sink = move |s: Stream, d: &[u8]| {
                let _ = tx.send((s, d.to_vec()));
            };
            let mut req = ExecRequest::new(&command).stdin(Stdin::Reader(Box::new(shell_stdin)));
            if let Some(u) = call.become_user {
                req = req.become_user(u);
            }
            call.conn.exec_streaming(req, &mut sink).await
        });
        self.open = Some(Open {
            token,
            exec,
            input: Some(input),
            chunks,
            chunks_closed: false,
            out: Vec::new(),
            err: Vec::new(),
            out_pos: 0,
            err_pos: 0,
            started: Instant::now(),
        });
    }

    /// Send `script` (and its data) into the open conversation and wait for its output.
    async fn step(&mut self, script: &str, stdin: Stdin<'_>) -> Result<ExecOutput, SshError> {
        let open = self.open.as_ref().expect("step on an open session");
        let last = !matches!(stdin, Stdin::None);
        let frame = format!(
            "{script}\n{}{}\n",
            open.token,
            if last { "-IN" } else { "" }
        );
        self.wait(Some((frame, stdin))).await
    }

    /// Drive the exec until the current script's end marks have come (or the shell ended),
    /// sending `send` meanwhile.
    async fn wait(&mut self, send: Option<(String, Stdin<'_>)>) -> Result<ExecOutput, SshError> {
        let step_started = Instant::now();
        let open = self.open.as_mut().expect("wait on an open session");
        let tok = open.token.clone();
        let (pos_o, pos_e, finished) = {
            let Open {
                token,
                exec,
                input,
                chunks,
                chunks_closed,
                out,
                err,
                out_pos,
                err_pos,
                started,
            } = open;
            let sending = async {
                let Some((frame, stdin)) = send else {
                    return Ok(());
                };
                let Some(w) = input.as_mut() else {
                    return Ok(());
                };
                w.write_all(frame.as_bytes()).await?;
                match stdin {
                    Stdin::None => return Ok(()),
                    Stdin::Bytes(b) => w.write_all(b).await?,
                    Stdin::Reader(mut r) => {
                        tokio::io::copy(&mut r, w).await?;
                    }
                }
                w.shutdown().await?;
                *input = None;
                Ok::<(), std::io::Error>(())
            };
            tokio::pin!(sending);
            let mut sent = false;
            let finished = loop {
                if let Some((o, e, rc)) = cut(token, out, err, out_pos, err_pos) {
                    return Ok(ExecOutput {
                        exit_status: Some(rc),
                        exit_signal: None,
                        stdout: o,
                        stderr: e,
                        duration: step_started.elapsed(),
                    });
                }
                tokio::select! {
                    r = &mut sending, if !sent => {
                        sent = true;
                        if let Err(e) = r {
                            // The shell stopped reading (it exited): its end tells why.
                            tracing::debug!("sending to a task's shell: {e}");
                        }
                    }
                    c = chunks.recv(), if !*chunks_closed => match c {
                        Some((Stream::Stdout, d)) => out.extend_from_slice(&d),
                        Some((Stream::Stderr, d)) => err.extend_from_slice(&d),
                        None => *chunks_closed = true,
                    },
                    r = &mut *exec => break r,
                }
            };
            tracing::trace!(took = ?started.elapsed(), "a task's shell ended");
            (*out_pos, *err_pos, finished)
        };
        // The shell has ended: this script's output is the rest of the exec's.
        self.open = None;
        let full = finished?;
        let mut stdout = full.stdout.get(pos_o..).unwrap_or_default().to_vec();
        let mut stderr = full.stderr.get(pos_e..).unwrap_or_default().to_vec();
        let mut status = full.exit_status;
        if let Some((at, rc)) = find_out_mark(&tok, &stdout) {
            stdout.truncate(at);
            status = Some(rc);
        }
        if let Some((at, _)) = find_err_mark(&tok, &stderr) {
            stderr.truncate(at);
        }
        Ok(ExecOutput {
            exit_status: status,
            exit_signal: full.exit_signal,
            stdout,
            stderr,
            duration: step_started.elapsed(),
        })
    }
}

/// The current script's stdout, stderr and status when both its marks are in.
fn cut(
    token: &str,
    out: &[u8],
    err: &[u8],
    out_pos: &mut usize,
    err_pos: &mut usize,
) -> Option<(Vec<u8>, Vec<u8>, u32)> {
    let (o_at, rc, o_len) = find_out_mark_len(token, &out[*out_pos..])?;
    let (e_at, e_len) = find_err_mark(token, &err[*err_pos..])?;
    let o = out[*out_pos..*out_pos + o_at].to_vec();
    let e = err[*err_pos..*err_pos + e_at].to_vec();
    *out_pos += o_at + o_len;
    *err_pos += e_at + e_len;
    Some((o, e, rc))
}

/// `\nTOKEN STATUS\n` in `buf`: where it starts and the status.
fn find_out_mark(token: &str, buf: &[u8]) -> Option<(usize, u32)> {
    find_out_mark_len(token, buf).map(|(at, rc, _)| (at, rc))
}

fn find_out_mark_len(token: &str, buf: &[u8]) -> Option<(usize, u32, usize)> {
    let needle = format!("\n{token} ");
    let at = find(buf, needle.as_bytes())?;
    let rest = &buf[at + needle.len()..];
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let rc = std::str::from_utf8(&rest[..nl]).ok()?.trim().parse().ok()?;
    Some((at, rc, needle.len() + nl + 1))
}

/// `\nTOKEN\n` in `buf`: where it starts and its length.
fn find_err_mark(token: &str, buf: &[u8]) -> Option<(usize, usize)> {
    let needle = format!("\n{token}\n");
    find(buf, needle.as_bytes()).map(|at| (at, needle.len()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::template::{Context, Templar};
    use crate::ssh::{Connection, SshOptions};

    fn local() -> Connection {
        Connection::local("localhost", &SshOptions::default())
    }

    /// Builds a [`Call`] on the controller's own `/bin/sh` and runs `f` with it.
    macro_rules! with_call {
        ($call:ident, $body:expr) => {{
            let conn = local();
            let args = crate::playbook::Vars::new();
            let templar = Templar::new();
            let vars = Context::new(Default::default());
            let $call = Call {
                args: &args,
                conn: &conn,
                become_user: None,
                templar: &templar,
                vars: &vars,
                host: "localhost",
                check: false,
                diff: false,
                search: &[],
                environment: &[],
            };
            $body
        }};
    }

    /// Scripts after the first run in the same shell (same `$$`), each with its own stdout,
    /// stderr and status, output without a final newline kept exactly; a script without data
    /// cannot read the scripts that follow; data (with NULs, no final newline) goes to the
    /// last script and ends the shell.
    #[tokio::test]
    async fn scripts_share_one_shell_and_keep_their_own_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("data");
        with_call!(call, {
            let mut s = Session::new(&call);
            let a = s.first("echo $$").await.unwrap();
            assert_eq!(a.exit_status, Some(0));
            let pid = a.stdout_str();
            let b = s
                .sh("echo $$; printf 'no newline'; echo oops >&2; false")
                .await
                .unwrap();
            assert_eq!(b.stdout_str(), format!("{pid}no newline"));
            assert_eq!(
                (b.stderr_str().as_str(), b.exit_status),
                ("oops\n", Some(1))
            );
            let c = s.sh("cat; echo read-nothing").await.unwrap();
            assert_eq!(c.stdout_str(), "read-nothing\n");
            let data = b"bin\0ary\nlast line";
            let q = shell_quote(f.to_str().unwrap());
            let d = s
                .sh_stdin(&format!("cat > {q}; echo $$"), Stdin::Bytes(data))
                .await
                .unwrap();
            assert_eq!((d.stdout_str(), d.exit_status), (pid.clone(), Some(0)));
            assert!(!s.is_open(), "data ends the conversation");
            assert_eq!(std::fs::read(&f).unwrap(), data);
            // Closed: the next script is a plain exec, in another shell.
            let e = s.sh("echo $$").await.unwrap();
            assert_ne!(e.stdout_str(), pid);
            s.close().await;
        });
    }

    /// A script that exits ends the shell: its status is the exec's, its output is its own;
    /// what follows runs in a new exec.
    #[tokio::test]
    async fn exit_ends_the_shell_with_its_status() {
        with_call!(call, {
            let mut s = Session::new(&call);
            let a = s.first("echo first").await.unwrap();
            assert_eq!(a.stdout_str(), "first\n");
            let b = s.sh("echo out; echo err >&2; exit 7").await.unwrap();
            assert_eq!(
                (
                    b.stdout_str().as_str(),
                    b.stderr_str().as_str(),
                    b.exit_status
                ),
                ("out\n", "err\n", Some(7))
            );
            assert!(!s.is_open());
            let c = s.sh("echo again").await.unwrap();
            assert_eq!(
                (c.stdout_str().as_str(), c.exit_status),
                ("again\n", Some(0))
            );
            // A first script that exits at once is a plain exec's equal.
            let mut t = Session::new(&call);
            let d = t.first("echo only; exit 3").await.unwrap();
            assert_eq!(
                (d.stdout_str().as_str(), d.exit_status),
                ("only\n", Some(3))
            );
            assert!(!t.is_open());
            // An idle conversation closes when asked.
            let mut u = Session::new(&call);
            u.first("true").await.unwrap();
            u.close().await;
            assert!(!u.is_open());
        });
    }

    #[test]
    fn marks_are_found_only_whole() {
        let t = "CAIRN-STEP-1";
        assert_eq!(find_out_mark(t, b"x\nCAIRN-STEP-1 0\n"), Some((1, 0)));
        assert_eq!(
            find_out_mark(t, b"x\nCAIRN-STEP-1 12"),
            None,
            "status not ended"
        );
        assert_eq!(find_err_mark(t, b"e\nCAIRN-STEP-1\n"), Some((1, 14)));
        let (mut op, mut ep) = (0, 0);
        let out = b"a\nCAIRN-STEP-1 2\nb";
        let err = b"\nCAIRN-STEP-1\n";
        assert_eq!(
            cut(t, out, err, &mut op, &mut ep),
            Some((b"a".to_vec(), Vec::new(), 2))
        );
        assert_eq!((op, ep), (17, 14));
    }
}

/// The file modules whose scripts share a session, run on the controller's own shell: the
/// same results as with an exec per script.
#[cfg(test)]
mod module_tests {
    use crate::modules::{self, Call, ModuleResult};
    use crate::run::template::{Context, Templar};
    use crate::ssh::{Connection, SshOptions};
    use serde_json::{Value, json};

    async fn run(module: &str, args: Value, check: bool) -> ModuleResult {
        let conn = Connection::local("localhost", &SshOptions::default());
        let args = args.as_object().unwrap().clone();
        let templar = Templar::new();
        let vars = Context::new(Default::default());
        let call = Call {
            args: &args,
            conn: &conn,
            become_user: None,
            templar: &templar,
            vars: &vars,
            host: "localhost",
            check,
            diff: true,
            search: &[],
            environment: &[],
        };
        modules::run(module, &call).await.expect("module ran")
    }

    fn mode(p: &std::path::Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    /// A small copy: created (changed, content and mode exact), then the same again
    /// (unchanged), then other content (changed, backed up), a mode-only change, check mode
    /// changing nothing; content with quotes and no final newline goes inside the script,
    /// content with a NUL through stdin.
    #[tokio::test]
    async fn small_copy_changed_then_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f.conf");
        let d = dest.to_str().unwrap();
        let text = "it's \"quoted\" $HOME `x` \\n\nno final newline";
        let a = run(
            "copy",
            json!({"content": text, "dest": d, "mode": "0640"}),
            false,
        )
        .await;
        assert!(a.changed && !a.failed, "{:?}", a.msg);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), text);
        assert_eq!(mode(&dest), 0o640);
        assert_eq!(a.extra["mode"], json!("0640"));
        assert_eq!(a.diff.len(), 1, "--diff shows the new file");
        let b = run(
            "copy",
            json!({"content": text, "dest": d, "mode": "0640"}),
            false,
        )
        .await;
        assert!(!b.changed && !b.failed, "{:?}", b.msg);
        let c = run(
            "copy",
            json!({"content": "new\n", "dest": d, "backup": true}),
            true,
        )
        .await;
        assert!(c.changed);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), text, "check mode");
        let c = run(
            "copy",
            json!({"content": "new\n", "dest": d, "backup": true}),
            false,
        )
        .await;
        assert!(c.changed && !c.failed, "{:?}", c.msg);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new\n");
        assert_eq!(mode(&dest), 0o640, "the replaced file's mode is kept");
        let backup = c.extra["backup_file"].as_str().unwrap();
        assert_eq!(std::fs::read_to_string(backup).unwrap(), text);
        let e = run(
            "copy",
            json!({"content": "new\n", "dest": d, "mode": "0600"}),
            false,
        )
        .await;
        assert!(e.changed && !e.failed);
        assert_eq!(mode(&dest), 0o600);
        let bin = run("copy", json!({"content": "a\u{0}b", "dest": d}), false).await;
        assert!(bin.changed && !bin.failed, "{:?}", bin.msg);
        assert_eq!(std::fs::read(&dest).unwrap(), b"a\0b");
        // A missing directory is the module's error, from the same shell.
        let f = run(
            "copy",
            json!({"content": "x", "dest": dir.path().join("no/f").to_str().unwrap()}),
            false,
        )
        .await;
        assert!(f.failed);
        assert!(f.msg.unwrap().starts_with("Destination directory "));
    }

    /// lineinfile reads and writes back in one shell; file creates and reports.
    #[tokio::test]
    async fn lineinfile_and_file_through_a_session() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/lines");
        let p = path.to_str().unwrap();
        let a = run(
            "lineinfile",
            json!({"path": p, "line": "a=1", "create": true}),
            false,
        )
        .await;
        assert!(a.changed && !a.failed, "{:?}", a.msg);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a=1\n");
        let b = run(
            "lineinfile",
            json!({"path": p, "regexp": "^a=", "line": "a=2"}),
            false,
        )
        .await;
        assert!(b.changed);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a=2\n");
        let c = run(
            "lineinfile",
            json!({"path": p, "regexp": "^a=", "line": "a=2"}),
            false,
        )
        .await;
        assert!(!c.changed && !c.failed);
        let sub = dir.path().join("d1/d2");
        let s = sub.to_str().unwrap();
        let d = run(
            "file",
            json!({"path": s, "state": "directory", "mode": "0750"}),
            false,
        )
        .await;
        assert!(d.changed && !d.failed, "{:?}", d.msg);
        assert_eq!(
            (mode(&sub), d.extra["mode"].clone()),
            (0o750, json!("0750"))
        );
        let e = run(
            "file",
            json!({"path": s, "state": "directory", "mode": "0750"}),
            false,
        )
        .await;
        assert!(!e.changed);
        // A mode-only change reports the new mode (no stat after the chmod) and the rest as
        // it was.
        let f = run("file", json!({"path": s, "mode": "0700"}), false).await;
        assert!(f.changed && !f.failed, "{:?}", f.msg);
        assert_eq!(
            (mode(&sub), f.extra["mode"].clone()),
            (0o700, json!("0700"))
        );
        assert_eq!(f.extra["uid"], e.extra["uid"]);
        assert_eq!(f.extra["size"], e.extra["size"]);
    }
}
