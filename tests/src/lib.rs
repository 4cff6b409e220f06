//! Helpers shared by the end-to-end tests in `tests/tests/`: the lab's hosts, keys and
//! users as `scripts/lab env` describes them, and a way to run `scripts/lab` and `cairn`.
//!
//! The lab tests are compiled only with `--features lab` (see `scripts/test`); they then
//! *require* a running lab and fail loudly without one, rather than skipping silently.

pub mod fuzz;
pub mod http;
pub mod installed;
pub mod load;
pub mod oci;
pub mod tls;

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

    /// A command on `host` as root over the system's `ssh` (the lab's key and known_hosts,
    /// host key checked; usable from `Drop`, where no runtime may be left). The raw output.
    pub fn ssh(&self, host: &str, cmd: &str) -> std::process::Output {
        Command::new("ssh")
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .arg("-i")
            .arg(self.key("id_ed25519"))
            .arg(format!("root@{}", self.address(host)))
            .arg(cmd)
            .output()
            .expect("run ssh")
    }

    /// [`Lab::ssh`]'s stdout, whatever the exit status (for commands whose output is the check).
    pub fn ssh_stdout(&self, host: &str, cmd: &str) -> String {
        String::from_utf8_lossy(&self.ssh(host, cmd).stdout).into_owned()
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join("keys").join(name)
    }

    /// `host` as `user`, with the lab's main key (id_ed25519) and nothing else.
    pub fn target(&self, host: &str, user: &str) -> Target {
        let mut t = Target::new(host, self.address(host), user);
        t.use_agent = false;
        t.identities = vec![Identity::file(self.key("id_ed25519"), None)];
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

/// A small bundle built by `cairn bundle build` in `dir`: `NAME-0.0.1.cairn` with one file,
/// `hello.txt` holding `hello`, and, when `site` is given, the playbook set `dir/pb/` whose
/// `site.yml` it is. For the tests that need a server with a bundle and a few tasks to run.
pub fn small_bundle(dir: &Path, name: &str, hello: &str, site: Option<&str>) -> PathBuf {
    std::fs::write(dir.join("hello.txt"), hello).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(hello.as_bytes()))
    };
    let mut spec = format!(
        "apiVersion: cairn/v1\nkind: Bundle\nname: {name}\nversion: 0.0.1\n\
         platforms: [linux/amd64]\nfiles:\n  - path: hello.txt\n    sha256: {sha}\n"
    );
    if let Some(site) = site {
        let pb = dir.join("pb");
        std::fs::create_dir_all(&pb).unwrap();
        std::fs::write(pb.join("site.yml"), site).unwrap();
        spec.push_str("playbooks: pb\n");
    }
    std::fs::write(dir.join("b.yaml"), spec).unwrap();
    let o = Command::new(cairn_bin())
        .args(["bundle", "build", "b.yaml", "--out", "."])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir.join(format!("{name}-0.0.1.cairn"))
}

/// `npm ci` in `dir` (tests/browser: playwright-core for the browser tests) once. The tests of
/// one binary run in parallel threads, and a test that saw a half-extracted `node_modules` would
/// fail to import playwright-core, so the others wait for the first. npm writes
/// `node_modules/.package-lock.json` last: without it (an interrupted install) everything is
/// installed again.
pub fn npm_ci(dir: &Path) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if dir.join("node_modules/.package-lock.json").is_file()
        && dir
            .join("node_modules/playwright-core/package.json")
            .is_file()
    {
        return;
    }
    let o = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .expect("npm (node's package manager) is needed for the browser test");
    assert!(
        o.status.success(),
        "npm ci: {}",
        String::from_utf8_lossy(&o.stderr)
    );
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

/// The controller's address on the lab bridge (where tests serve bundles to lab hosts).
pub const BRIDGE: &str = "10.213.0.1";

/// A TCP port free on `ip` right now (bound, read, released).
pub fn free_tcp_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("bind on {ip}: {e} (is the lab up?)"))
        .port()
}

/// A UDP port free on `ip` right now.
pub fn free_udp_port(ip: &str) -> u16 {
    std::net::UdpSocket::bind((ip, 0))
        .and_then(|s| s.local_addr())
        .unwrap_or_else(|e| panic!("bind on {ip}: {e} (is the lab up?)"))
        .port()
}

/// A `cairn serve` process for a test: started, waited for until it listens, its stderr (the
/// access log and warnings) collected by a thread so a chatty server never blocks on a full
/// pipe, and stopped with SIGTERM when dropped so a failing test leaves nothing behind.
pub struct Served {
    child: std::process::Child,
    log: Option<std::thread::JoinHandle<String>>,
}

impl Served {
    /// `cairn serve --bundle BUNDLE --listen LISTEN EXTRA...`.
    pub fn start(bundle: &Path, listen: std::net::SocketAddr, extra: &[&str]) -> Served {
        let mut cmd = Command::new(cairn_bin());
        cmd.args(["serve", "--bundle"])
            .arg(bundle)
            .args(["--listen", &listen.to_string()])
            .args(extra);
        Served::spawn(cmd, listen)
    }

    /// Any prepared `cairn serve` command (its stderr is taken over), waited for on `listen`.
    pub fn spawn(cmd: Command, listen: std::net::SocketAddr) -> Served {
        Served::spawn_with_stdout(cmd, listen, std::process::Stdio::null())
    }

    /// [`Served::spawn`] with its stdout sent to `stdout` (a file, when a test reads what an
    /// install started from the API printed).
    pub fn spawn_with_stdout(
        mut cmd: Command,
        listen: std::net::SocketAddr,
        stdout: std::process::Stdio,
    ) -> Served {
        use std::io::Read;
        let mut child = cmd
            .stdout(stdout)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start cairn serve");
        let log = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = e.read_to_string(&mut s);
                s
            })
        });
        let mut served = Served { child, log };
        let t0 = std::time::Instant::now();
        while std::net::TcpStream::connect(listen).is_err() {
            if let Ok(Some(status)) = served.child.try_wait() {
                let log = served.log.take().and_then(|h| h.join().ok());
                panic!(
                    "cairn serve exited ({status}) before listening on {listen}: {}",
                    log.unwrap_or_default()
                );
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "cairn serve did not listen on {listen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        served
    }

    /// SIGTERM, then the exit status and everything it wrote on stderr.
    pub fn stop(mut self) -> (Option<i32>, String) {
        self.terminate();
        let status = self.child.wait().ok().and_then(|s| s.code());
        let log = self
            .log
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (status, log)
    }

    fn terminate(&self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling our own child process by its id.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
            let _ = self.child.wait();
        }
        // A failing test shows what the server said (whether it crashed, refused, or answered).
        if std::thread::panicking()
            && let Some(log) = self.log.take().and_then(|h| h.join().ok())
        {
            eprintln!("--- cairn serve's log ---\n{log}--- end of cairn serve's log ---");
        }
    }
}
