//! The SSH transport (russh): one persistent connection per host, many channels on it.
//!
//! `Connector` opens connections (host key verification is mandatory, see `known_hosts`),
//! `Connection` runs commands and moves files (over SSH, or on the controller itself for
//! `delegate_to: localhost`: `local`), `fanout` runs work on many hosts with a bound.
//! Must not: know about playbooks, HTTP or storage.

// SshError is large (it carries fingerprints, paths and reasons for the operator) but is
// returned only on the cold path, once per host at most: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod closed;
mod connection;
mod connector;
pub mod error;
pub mod fanout;
pub mod key;
pub mod known_hosts;
pub mod local;
pub mod options;
pub mod quote;
pub mod target;
mod transfer;

pub use connection::{Connection, ExecOutput, ExecRequest, Stdin, Stream};
pub use connector::Connector;
pub use error::{Phase, SshError};
pub use key::{KeyError, KeySource};
pub use options::{HostKeyPolicy, SshOptions};
pub use target::{Identity, Target};
pub use transfer::{Transferred, UploadRequest};
