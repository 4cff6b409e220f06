//! Helpers shared by the end-to-end tests in `tests/tests/`: the lab's hosts, keys and
//! users as `scripts/lab env` describes them, and a way to run `scripts/lab` and `cairn`.
//!
//! The lab tests are compiled only with `--features lab` (see `scripts/test`); they then
//! *require* a running lab and fail loudly without one, rather than skipping silently.

use cairn_engine::secret::{Secret, SecretSource};
use cairn_engine::ssh::{Connection, Connector, Identity, SshOptions, Target};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The lab's fixed users and secrets (see `scripts/lab`): test fixtures, not real secrets.
pub const OPS_PASSWORD: &str = "ops-lab-pass";
pub const KEY_PASSPHRASE: &str = "lab-passphrase";

/// The running lab, from the environment `scripts/lab env` prints.
#[derive(Clone, Debug)]
pub struct Lab {
    pub dir: PathBuf,
    pub net: String,
    pub hosts: Vec<String>,
    pub known_hosts: PathBuf,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the lab tests need a running lab. Run them with scripts/test, \
             or: scripts/lab up 6 && eval \"$(scripts/lab env)\" && cargo test -p cairn-tests --features lab"
        )
    })
}

impl Lab {
    pub fn from_env() -> Lab {
        Lab {
            dir: PathBuf::from(env("CAIRN_LAB_DIR")),
            net: env("CAIRN_LAB_NET"),
            hosts: env("CAIRN_LAB_HOSTS")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            known_hosts: PathBuf::from(env("CAIRN_LAB_KNOWN_HOSTS")),
        }
    }

    /// Address of `labN`.
    pub fn address(&self, host: &str) -> String {
        let n: u32 = host.trim_start_matches("lab").parse().expect("labN");
        format!("{}.{}", self.net, 10 + n)
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join("keys").join(name)
    }

    /// `host` as `user`, with the lab's main key (id_ed25519) and nothing else.
    pub fn target(&self, host: &str, user: &str) -> Target {
        let mut t = Target::new(host, self.address(host), user);
        t.use_agent = false;
        t.identities = vec![Identity {
            path: self.key("id_ed25519"),
            passphrase: None,
        }];
        t
    }

    /// Options for tests: short timeouts so failures show quickly.
    pub fn options(&self) -> SshOptions {
        SshOptions {
            connect_timeout: Duration::from_secs(5),
            keepalive_interval: Duration::from_secs(2),
            keepalive_max: 2,
            ..SshOptions::default()
        }
    }

    /// A connector trusting exactly the lab's known host keys (a private copy, so a test that
    /// adds keys does not change what other tests trust).
    pub fn connector(&self, scratch: &Path) -> Connector {
        let kh = scratch.join("known_hosts");
        std::fs::copy(&self.known_hosts, &kh).expect("copy lab known_hosts");
        Connector::new(self.options(), &kh).expect("known_hosts")
    }

    pub async fn connect(&self, scratch: &Path, host: &str, user: &str) -> Connection {
        self.connector(scratch)
            .connect(&self.target(host, user))
            .await
            .unwrap_or_else(|e| panic!("connect {user}@{host}: {e}"))
    }

    /// Run `scripts/lab ARGS...` (as the tests run as root) and panic if it fails.
    pub fn script(&self, args: &[&str]) {
        let status = Command::new(repo_root().join("scripts/lab"))
            .args(args)
            .status()
            .expect("run scripts/lab");
        assert!(status.success(), "scripts/lab {args:?} failed: {status}");
    }
}

/// A secret source for a value a test knows (passed by env, as users would).
pub fn env_secret(var: &str, value: &str) -> SecretSource {
    // SAFETY (of intent): each test uses its own variable name, so concurrent tests do not race.
    unsafe { std::env::set_var(var, value) };
    SecretSource::Env(var.to_string())
}

pub fn inline_secret(value: &str) -> SecretSource {
    SecretSource::Inline(Secret::new(value))
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cairn-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// The `cairn` binary: `$CAIRN_BIN` if set (needed when cargo's build dir is not the target
/// dir), else the one built beside this test executable (scripts/test builds it first).
pub fn cairn_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CAIRN_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/<profile>/cairn
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("cairn");
    assert!(
        bin.exists(),
        "{} not found: build it first (cargo build -p cairn)",
        bin.display()
    );
    bin
}
