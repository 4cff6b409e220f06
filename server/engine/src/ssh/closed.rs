//! Why an established connection ended, in words that name the likely fault.
//!
//! russh tells its handler why a session ended (a keepalive or inactivity limit, a socket
//! error, the server's disconnect); a command running at that moment only sees its channel
//! end. [`Closed`] keeps that reason so the command's `SshError::Disconnected` can say
//! "no answer for 40 s" (a cut cable, a frozen or dead host) rather than just "closed", which
//! an operator would read as "someone stopped sshd". Must not: decide what a run does with
//! a lost host (the engine's `run` does).

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The reason a connection ended, written by the russh handler, read by commands.
#[derive(Clone, Default)]
pub(crate) struct Closed(Arc<Mutex<Option<String>>>);

impl Closed {
    /// Record the first reason (later ones are consequences of it).
    pub(crate) fn set(&self, reason: String) {
        let mut slot = self.0.lock().expect("closed lock");
        if slot.is_none() {
            *slot = Some(reason);
        }
    }

    pub(crate) fn get(&self) -> Option<String> {
        self.0.lock().expect("closed lock").clone()
    }
}

/// `e` ended the session, after `dead_after` of allowed silence: what the operator should
/// read.
pub(crate) fn describe(e: &russh::Error, dead_after: Duration) -> String {
    use std::io::ErrorKind;
    let secs = dead_after.as_secs();
    match e {
        russh::Error::KeepaliveTimeout | russh::Error::InactivityTimeout => format!(
            "no answer from the host for {secs} s (keepalives unanswered): network cut, host down or hung"
        ),
        russh::Error::IO(io) if io.kind() == ErrorKind::TimedOut => {
            format!("no acknowledgement from the host for {secs} s (TCP): network cut or host down")
        }
        russh::Error::HUP | russh::Error::Disconnect => gone(),
        russh::Error::IO(io)
            if matches!(
                io.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ) =>
        {
            gone()
        }
        other => format!("the connection failed: {other}"),
    }
}

/// The server ended the session with an SSH disconnect message.
pub(crate) fn describe_disconnect(message: &str) -> String {
    if message.is_empty() {
        gone()
    } else {
        format!("the host ended the session: {message}")
    }
}

fn gone() -> String {
    "the host closed the connection (sshd stopped or killed, or the host rebooted)".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_end_names_its_likely_fault() {
        let d = Duration::from_secs(40);
        assert_eq!(
            describe(&russh::Error::KeepaliveTimeout, d),
            "no answer from the host for 40 s (keepalives unanswered): network cut, host down or hung"
        );
        assert_eq!(
            describe(&russh::Error::InactivityTimeout, d),
            describe(&russh::Error::KeepaliveTimeout, d)
        );
        assert_eq!(
            describe(
                &russh::Error::IO(std::io::Error::from(std::io::ErrorKind::TimedOut)),
                d
            ),
            "no acknowledgement from the host for 40 s (TCP): network cut or host down"
        );
        let closed =
            "the host closed the connection (sshd stopped or killed, or the host rebooted)";
        assert_eq!(describe(&russh::Error::HUP, d), closed);
        assert_eq!(
            describe(
                &russh::Error::IO(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
                d
            ),
            closed
        );
        assert_eq!(describe_disconnect(""), closed);
        assert_eq!(
            describe_disconnect("bye"),
            "the host ended the session: bye"
        );
        let c = Closed::default();
        c.set("first".into());
        c.set("second".into());
        assert_eq!(c.get().as_deref(), Some("first"));
    }
}
