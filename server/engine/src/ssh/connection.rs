//! One live SSH connection to one host, and the commands run over it.
//!
//! Owns: channels (one per command, at most `max_channels` at once: the rest wait), streamed
//! stdout/stderr, exit status, command timeouts and privilege escalation with sudo. Must not:
//! open connections (see `connector`) or decide what a failure means for a run.

use super::closed::Closed;
use super::connector::Verifier;
use super::error::{Phase, SshError};
use super::options::SshOptions;
use super::quote::shell_quote;
use super::target::Target;
use bytes_ext::find;
use russh::ChannelMsg;
use russh::client::Handle;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncRead;
use tokio::sync::{Semaphore, oneshot};

/// Which stream a chunk of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Where a command's standard input comes from.
pub enum Stdin<'a> {
    None,
    Bytes(&'a [u8]),
    Reader(Box<dyn AsyncRead + Send + Unpin + 'a>),
}

/// What to run and how.
pub struct ExecRequest<'a> {
    /// Shell command line, run by the user's login shell (or `/bin/sh` under become).
    pub command: &'a str,
    /// Run as this user through sudo (Ansible's `become_user`; usually `root`).
    pub become_user: Option<&'a str>,
    pub stdin: Stdin<'a>,
    /// Overrides the connection's default command timeout.
    pub timeout: Option<Duration>,
    /// Keep stdout in the result (false: only the sink sees it, e.g. a large download).
    pub keep_stdout: bool,
}

impl<'a> ExecRequest<'a> {
    pub fn new(command: &'a str) -> Self {
        ExecRequest {
            command,
            become_user: None,
            stdin: Stdin::None,
            timeout: None,
            keep_stdout: true,
        }
    }
    pub fn become_user(mut self, user: &'a str) -> Self {
        self.become_user = Some(user);
        self
    }
    pub fn stdin(mut self, stdin: Stdin<'a>) -> Self {
        self.stdin = stdin;
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
    pub fn discard_stdout(mut self) -> Self {
        self.keep_stdout = false;
        self
    }
}

/// A finished command. A non-zero exit status is a result, not an error.
#[derive(Clone, Debug, Default)]
pub struct ExecOutput {
    /// None when the command was killed by a signal (see `exit_signal`) or the server sent none.
    pub exit_status: Option<u32>,
    pub exit_signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.exit_status == Some(0)
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A persistent connection. Cheap to share (`&self` everywhere): commands may run
/// concurrently on it, each on its own channel.
pub struct Connection {
    target: Target,
    link: Link,
    /// Why the session ended, once it has (set by the russh handler).
    closed: Closed,
    channels: Arc<Semaphore>,
    command_timeout: Option<Duration>,
    connect_time: Duration,
}

/// How commands reach the host.
enum Link {
    Ssh(Handle<Verifier>),
    /// The controller itself (see [`super::local`]).
    Local,
}

impl Connection {
    pub(crate) fn new(
        target: Target,
        handle: Handle<Verifier>,
        closed: Closed,
        options: &SshOptions,
        connect_time: Duration,
    ) -> Self {
        Connection {
            target,
            link: Link::Ssh(handle),
            closed,
            channels: Arc::new(Semaphore::new(options.max_channels.max(1))),
            command_timeout: options.command_timeout,
            connect_time,
        }
    }

    /// The controller itself as the host `name` (`delegate_to: localhost`): commands run
    /// here with `/bin/sh`, as the user running Cairn (`become` through `sudo -n`).
    pub fn local(name: &str, options: &SshOptions) -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        Connection {
            target: Target::new(name, "127.0.0.1", user),
            link: Link::Local,
            closed: Closed::default(),
            channels: Arc::new(Semaphore::new(options.max_channels.max(1))),
            command_timeout: options.command_timeout,
            connect_time: Duration::ZERO,
        }
    }

    /// Whether this is the controller itself rather than an SSH connection.
    pub fn is_local(&self) -> bool {
        matches!(self.link, Link::Local)
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn host(&self) -> &str {
        &self.target.name
    }

    /// How long connect + handshake + authentication took.
    pub fn connect_time(&self) -> Duration {
        self.connect_time
    }

    pub fn is_closed(&self) -> bool {
        match &self.link {
            Link::Ssh(h) => h.is_closed(),
            Link::Local => false,
        }
    }

    /// Run a command and collect its output.
    pub async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, SshError> {
        self.exec_streaming(req, &mut |_, _| {}).await
    }

    /// Shorthand: run `command` with no stdin, no become.
    pub async fn run(&self, command: &str) -> Result<ExecOutput, SshError> {
        self.exec(ExecRequest::new(command)).await
    }

    /// Run a command, handing each chunk of output to `sink` as it arrives (for live
    /// progress), and also collecting it into the result.
    pub async fn exec_streaming(
        &self,
        req: ExecRequest<'_>,
        sink: &mut (dyn FnMut(Stream, &[u8]) + Send),
    ) -> Result<ExecOutput, SshError> {
        let limit = req.timeout.or(self.command_timeout);
        let work = self.exec_inner(req, sink);
        match limit {
            None => work.await,
            Some(t) => match tokio::time::timeout(t, work).await {
                Ok(r) => r,
                // Dropping the future drops the channel: russh closes it.
                Err(_) => Err(SshError::Timeout {
                    host: self.host().to_string(),
                    phase: Phase::Command,
                    after: t,
                }),
            },
        }
    }

    async fn exec_inner(
        &self,
        req: ExecRequest<'_>,
        sink: &mut (dyn FnMut(Stream, &[u8]) + Send),
    ) -> Result<ExecOutput, SshError> {
        let handle = match &self.link {
            Link::Ssh(h) => h,
            Link::Local => {
                let _permit = self
                    .channels
                    .acquire()
                    .await
                    .expect("channel semaphore is never closed");
                return super::local::exec(self.host(), req, sink).await;
            }
        };
        let started = Instant::now();
        let host = self.host().to_string();
        let chan_err = |e: russh::Error| SshError::Channel {
            host: host.clone(),
            reason: e.to_string(),
        };
        let _permit = self
            .channels
            .acquire()
            .await
            .expect("channel semaphore is never closed");
        let channel = match handle.channel_open_session().await {
            Ok(c) => c,
            Err(e) => return Err(self.channel_error(handle, &host, e).await),
        };
        let (mut reader, writer) = channel.split();

        // Under become, the command runs only once sudo has accepted us; we know that when
        // the marker line appears on stdout. Until then stdin must not be sent (sudo would
        // read it as the password) and output is sudo's, not the command's.
        let escalate = match req.become_user {
            Some(user) => Some(Become::new(user, &self.target, &host)?),
            None => None,
        };
        let command = match &escalate {
            Some(b) => b.wrap(req.command),
            None => req.command.to_string(),
        };
        if let Err(e) = writer.exec(true, command).await {
            return Err(self.channel_error(handle, &host, e).await);
        }

        // stdin goes on its own task-like future so a large upload and the output flow at the
        // same time (otherwise a chatty command could fill its window and deadlock us).
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let stdin = req.stdin;
        let keep_stdout = req.keep_stdout;
        let send_stdin = async {
            if escalate.is_some() && go_rx.await.is_err() {
                return Ok(());
            }
            match stdin {
                Stdin::None => {}
                Stdin::Bytes(b) => writer.data(b).await?,
                Stdin::Reader(r) => writer.data(r).await?,
            }
            writer.eof().await
        };

        let mut go_tx = Some(go_tx);
        if escalate.is_none() {
            let _ = go_tx.take().map(|tx| tx.send(()));
        }
        let mut gate = escalate.as_ref().map(|b| b.gate());
        let receive = async {
            let received = async {
                let mut out = ExecOutput::default();
                while let Some(msg) = reader.wait().await {
                    match msg {
                        ChannelMsg::Data { data } => match gate.as_mut() {
                            Some(g) => {
                                if let Some(rest) = g.stdout(&data) {
                                    gate = None;
                                    let _ = go_tx.take().map(|tx| tx.send(()));
                                    if !rest.is_empty() {
                                        sink(Stream::Stdout, &rest);
                                        if keep_stdout {
                                            out.stdout.extend_from_slice(&rest);
                                        }
                                    }
                                }
                            }
                            None => {
                                sink(Stream::Stdout, &data);
                                if keep_stdout {
                                    out.stdout.extend_from_slice(&data);
                                }
                            }
                        },
                        ChannelMsg::ExtendedData { data, ext: 1 } => match gate.as_mut() {
                            Some(g) => match g.stderr(&data) {
                                GateAction::Wait => {}
                                GateAction::SendPassword(pw) => {
                                    // Written straight to the channel: never logged or kept.
                                    writer
                                        .data(format!("{}\n", pw.expose()).as_bytes())
                                        .await
                                        .map_err(chan_err)?;
                                }
                                GateAction::Fail(reason) => {
                                    return Err(SshError::Become {
                                        host: host.clone(),
                                        reason,
                                    });
                                }
                            },
                            None => {
                                sink(Stream::Stderr, &data);
                                out.stderr.extend_from_slice(&data);
                            }
                        },
                        ChannelMsg::ExitStatus { exit_status } => {
                            out.exit_status = Some(exit_status)
                        }
                        ChannelMsg::ExitSignal { signal_name, .. } => {
                            out.exit_signal = Some(format!("{signal_name:?}"))
                        }
                        ChannelMsg::Close => break,
                        _ => {}
                    }
                }
                if let Some(g) = gate.take() {
                    // The command ended before sudo let it run.
                    return Err(SshError::Become {
                        host: host.clone(),
                        reason: g.failure_reason(),
                    });
                }
                Ok(out)
            }
            .await;
            // Whatever happened, release the stdin sender: it may still wait for sudo.
            drop(go_tx.take());
            received
        };
        // The command's end (or the connection's) decides; stdin is abandoned then. Waiting
        // for it instead would hang forever when a dead peer never opens the window again.
        tokio::pin!(send_stdin, receive);
        let mut stdin_done = false;
        let received = loop {
            tokio::select! {
                r = &mut receive => break r,
                sent = &mut send_stdin, if !stdin_done => {
                    stdin_done = true;
                    // A command that exits without reading all its stdin closes the channel
                    // under us: its exit status tells the story, not a transport error.
                    if let Err(e) = sent {
                        tracing::debug!(host = %host, "stdin not fully sent: {e}");
                    }
                }
            }
        };
        let mut out = match received {
            // The connection died while sudo's marker was awaited: the host is lost, sudo
            // did not fail (reporting it as a failed become would count a lost host as a
            // failed one, and `--resume` would treat it so).
            Err(SshError::Become { .. }) if handle.is_closed() => {
                return Err(SshError::Disconnected {
                    host: host.clone(),
                    reason: self
                        .why_closed("the connection closed while the command ran".into())
                        .await,
                });
            }
            r => r?,
        };
        if out.exit_status.is_none() && out.exit_signal.is_none() && handle.is_closed() {
            return Err(SshError::Disconnected {
                host: host.clone(),
                reason: self
                    .why_closed("the connection closed while the command ran".into())
                    .await,
            });
        }
        out.duration = started.elapsed();
        Ok(out)
    }

    /// An error opening or using a channel: the host lost when the connection has ended
    /// (closed, or russh's queue to its session gone: `SendError`, seen when a host crashes
    /// between two commands), else a channel failure on a live connection.
    async fn channel_error(
        &self,
        handle: &Handle<Verifier>,
        host: &str,
        e: russh::Error,
    ) -> SshError {
        if handle.is_closed() || matches!(e, russh::Error::SendError) {
            SshError::Disconnected {
                host: host.to_string(),
                reason: self.why_closed(e.to_string()).await,
            }
        } else {
            SshError::Channel {
                host: host.to_string(),
                reason: e.to_string(),
            }
        }
    }

    /// Why the session ended (the handler's words), else `fallback`. The handler records the
    /// reason just after russh closes its queues, so a command that saw the end first waits
    /// a moment for it.
    async fn why_closed(&self, fallback: String) -> String {
        for _ in 0..20 {
            if let Some(r) = self.closed.get() {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        fallback
    }

    /// Close the connection politely.
    pub async fn close(&self) {
        if let Link::Ssh(h) = &self.link {
            let _ = h
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
    }
}

/// sudo wrapping and the state machine that watches for sudo's prompt and our marker.
struct Become {
    user: String,
    password: Option<crate::secret::Secret>,
    prompt: String,
    marker: String,
}

impl Become {
    fn new(user: &str, target: &Target, host: &str) -> Result<Become, SshError> {
        let password = match &target.become_password {
            Some(s) => Some(s.resolve().map_err(|e| SshError::Secret {
                host: host.to_string(),
                source: e,
            })?),
            None => None,
        };
        let id: u64 = rand::random();
        Ok(Become {
            user: user.to_string(),
            password,
            prompt: format!("[cairn-sudo-{id:016x}] password: "),
            marker: format!("CAIRN-BECOME-{id:016x}"),
        })
    }

    fn wrap(&self, command: &str) -> String {
        let inner = format!("echo {}; {}", self.marker, command);
        // -n: never prompt when we have no password (fail at once instead of hanging);
        // -S -p: read the password from stdin after our own recognisable prompt.
        let auth = if self.password.is_some() {
            format!("-S -p {}", shell_quote(&self.prompt))
        } else {
            "-n".to_string()
        };
        format!(
            "sudo -H {auth} -u {} -- /bin/sh -c {}",
            shell_quote(&self.user),
            shell_quote(&inner)
        )
    }

    fn gate(&self) -> Gate {
        Gate {
            marker: format!("{}\n", self.marker).into_bytes(),
            prompt: self.prompt.clone().into_bytes(),
            password: self.password.clone(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            prompts_seen: 0,
        }
    }
}

enum GateAction {
    Wait,
    SendPassword(crate::secret::Secret),
    Fail(String),
}

struct Gate {
    marker: Vec<u8>,
    prompt: Vec<u8>,
    password: Option<crate::secret::Secret>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    prompts_seen: usize,
}

impl Gate {
    /// Feed stdout; returns what follows the marker once it has been seen.
    fn stdout(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        self.stdout.extend_from_slice(data);
        find(&self.stdout, &self.marker).map(|i| self.stdout[i + self.marker.len()..].to_vec())
    }

    fn stderr(&mut self, data: &[u8]) -> GateAction {
        self.stderr.extend_from_slice(data);
        let prompts = count(&self.stderr, &self.prompt);
        if prompts > self.prompts_seen {
            self.prompts_seen = prompts;
            return match (&self.password, prompts) {
                (Some(pw), 1) => GateAction::SendPassword(pw.clone()),
                (Some(_), _) => GateAction::Fail("incorrect sudo password".into()),
                (None, _) => GateAction::Fail("sudo asks for a password and none was given".into()),
            };
        }
        GateAction::Wait
    }

    fn failure_reason(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr)
            .replace(std::str::from_utf8(&self.prompt).unwrap_or_default(), "");
        let text = text.trim();
        if text.contains("a password is required") {
            "sudo needs a password: set ansible_become_password (inventory) or \
             become_password_env / become_password_file (cluster.yaml)"
                .into()
        } else if text.contains("incorrect password") || text.contains("Sorry, try again") {
            "incorrect sudo password".into()
        } else if text.is_empty() {
            "sudo ended before running the command".into()
        } else {
            format!("sudo said: {text}")
        }
    }
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = hay;
    while let Some(i) = find(rest, needle) {
        n += 1;
        rest = &rest[i + needle.len()..];
    }
    n
}

mod bytes_ext {
    /// Position of `needle` in `hay`.
    pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        if needle.is_empty() || hay.len() < needle.len() {
            return None;
        }
        hay.windows(needle.len()).position(|w| w == needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(password: Option<&str>) -> Gate {
        Gate {
            marker: b"MARK\n".to_vec(),
            prompt: b"[p] password: ".to_vec(),
            password: password.map(crate::secret::Secret::new),
            stdout: Vec::new(),
            stderr: Vec::new(),
            prompts_seen: 0,
        }
    }

    #[test]
    fn marker_split_across_chunks() {
        let mut g = gate(None);
        assert_eq!(g.stdout(b"MA"), None);
        assert_eq!(g.stdout(b"RK\nhello"), Some(b"hello".to_vec()));
    }

    #[test]
    fn password_sent_once_then_wrong_password_fails() {
        let mut g = gate(Some("pw"));
        assert!(matches!(g.stderr(b"[p] pass"), GateAction::Wait));
        assert!(matches!(g.stderr(b"word: "), GateAction::SendPassword(p) if p.expose() == "pw"));
        assert!(matches!(g.stderr(b"Sorry, try again.\n"), GateAction::Wait));
        assert!(
            matches!(g.stderr(b"[p] password: "), GateAction::Fail(r) if r == "incorrect sudo password")
        );
    }

    #[test]
    fn failure_reasons() {
        for (stderr, want) in [
            ("sudo: a password is required\n", "sudo needs a password"),
            (
                "sudo: 3 incorrect password attempts\n",
                "incorrect sudo password",
            ),
            ("", "sudo ended before running the command"),
            (
                "sudo: unknown user nobody2\n",
                "sudo said: sudo: unknown user nobody2",
            ),
        ] {
            let mut g = gate(None);
            g.stderr.extend_from_slice(stderr.as_bytes());
            assert!(
                g.failure_reason().starts_with(want),
                "{stderr:?} -> {}",
                g.failure_reason()
            );
        }
    }

    #[test]
    fn wrap_quotes_everything() {
        let t = Target::new("h", "h", "u");
        let b = Become::new("root", &t, "h").unwrap();
        let w = b.wrap("echo 'hi'");
        assert!(
            w.starts_with("sudo -H -n -u root -- /bin/sh -c 'echo CAIRN-BECOME-"),
            "{w}"
        );
        assert!(w.ends_with(r"; echo '\''hi'\'''"), "{w}");
    }
}
