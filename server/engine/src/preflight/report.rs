//! A pre-flight result: one [`Check`] per host and check id, with its status, the value seen,
//! the threshold it was held to and the remedy. Renderers (terminal, JSON, store, console) read
//! these; nothing here prints.

/// How a check came out. `Ignored` is set only by the caller (`--ignore-preflight`), so an
/// ignored failure is never shown as passed. `Pending` waits for the operator (a host key not
/// yet accepted): it is not a pass, cannot be ignored, and stops an install like a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// Not applicable here, with the reason (`container: the kernel is the host machine's`).
    Skipped(String),
    Ignored,
    /// Waiting for the operator's decision (`ssh:hostkey`: an unknown key, shown with its
    /// fingerprint, until it is accepted). The host was not checked further.
    Pending,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skipped(_) => "skipped",
            Status::Ignored => "ignored",
            Status::Pending => "pending",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The host (inventory name), or `installer` for checks of the machine running Cairn.
    pub host: String,
    /// Stable id (`disk:/var/lib/etcd`, `port:2379`, `memory`), used by `--ignore-preflight`.
    pub id: String,
    pub status: Status,
    /// What was seen, in words a person reads (`1.8 GiB free of 20 GiB (91 % used) on /`).
    pub value: String,
    /// What it was held to (`fail < 5 GiB free or > 80 % used; warn < 10 GiB`).
    pub threshold: Option<String>,
    /// What to do about a warn or fail.
    pub remedy: Option<String>,
}

impl Check {
    pub fn new(
        host: &str,
        id: impl Into<String>,
        status: Status,
        value: impl Into<String>,
    ) -> Check {
        Check {
            host: host.to_string(),
            id: id.into(),
            status,
            value: value.into(),
            threshold: None,
            remedy: None,
        }
    }

    pub fn threshold(mut self, t: impl Into<String>) -> Check {
        self.threshold = Some(t.into());
        self
    }

    /// The remedy is kept only where it helps (not on a pass).
    pub fn remedy(mut self, r: impl Into<String>) -> Check {
        if !matches!(self.status, Status::Pass) {
            self.remedy = Some(r.into());
        }
        self
    }
}

/// Counts for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub skipped: usize,
    pub ignored: usize,
    pub pending: usize,
}

pub fn summary(checks: &[Check]) -> Summary {
    let mut s = Summary::default();
    for c in checks {
        match c.status {
            Status::Pass => s.pass += 1,
            Status::Warn => s.warn += 1,
            Status::Fail => s.fail += 1,
            Status::Skipped(_) => s.skipped += 1,
            Status::Ignored => s.ignored += 1,
            Status::Pending => s.pending += 1,
        }
    }
    s
}

/// Checks about reaching the host (`ssh`, `ssh:hostkey`): when one of them is not a pass, the
/// host was not checked at all (exit 4, "unreachable", rather than 2).
pub fn is_connection(id: &str) -> bool {
    id == "ssh" || id.starts_with("ssh:")
}
