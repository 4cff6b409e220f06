//! What `ping`, `exec` and `play` share: the flags that choose and reach hosts, loading the
//! inventory, and a per-host outcome with Ansible's distinction between failed and unreachable.

use super::{EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE};
use cairn_engine::inventory::{self, Inventory, Loaded};
use cairn_engine::ssh::{Connector, HostKeyPolicy, SshError, SshOptions, Target};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the hosts are described: `-i` or `--config`, one of them.
#[derive(clap::Args, Debug, Clone)]
pub struct InventoryArgs {
    /// Ansible inventory (INI or YAML) or a Cairn cluster.yaml.
    #[arg(
        short = 'i',
        long,
        value_name = "FILE",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    pub inventory: Option<PathBuf>,

    /// Cairn cluster.yaml (same as -i; the format is detected).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl InventoryArgs {
    pub fn path(&self) -> &Path {
        self.inventory
            .as_deref()
            .or(self.config.as_deref())
            .expect("clap requires one")
    }

    /// The flag naming this inventory, as the user would type it again (`--config cluster.yaml`).
    pub fn as_flag(&self) -> String {
        use cairn_engine::ssh::quote::shell_quote;
        match (&self.inventory, &self.config) {
            (Some(p), _) => format!("-i {}", shell_quote(&p.display().to_string())),
            (None, Some(p)) => format!("--config {}", shell_quote(&p.display().to_string())),
            (None, None) => String::new(),
        }
    }

    /// Load and validate; errors and warnings are printed here (rendered with their source
    /// line). An error gives EXIT_USAGE.
    pub fn load(&self) -> Result<Loaded, u8> {
        load_inventory(self.path())
    }
}

/// Load and validate an inventory, printing its warnings, or its error (then EXIT_USAGE).
pub fn load_inventory(path: &Path) -> Result<Loaded, u8> {
    match inventory::load(path) {
        Ok(l) => {
            eprint!("{}", l.render_warnings());
            Ok(l)
        }
        Err(e) => {
            eprint!("{}", e.render());
            Err(EXIT_USAGE)
        }
    }
}

/// Privilege escalation for the command a subcommand runs on hosts.
#[derive(clap::Args, Debug, Clone)]
pub struct BecomeArgs {
    /// Run through sudo as --become-user.
    #[arg(short, long)]
    pub r#become: bool,

    /// User to become with --become.
    #[arg(long, default_value = "root")]
    pub become_user: String,
}

impl BecomeArgs {
    /// The user to become on `host`: `--become` wins; otherwise the inventory's
    /// `ansible_become` / `ansible_become_user` (cluster.yaml's `become:`), as Ansible's ad-hoc
    /// commands do.
    pub fn for_host(&self, inventory: &Inventory, host: &str) -> Option<String> {
        if self.r#become {
            return Some(self.become_user.clone());
        }
        let vars = inventory.host_vars(host);
        let on = match vars.get("ansible_become") {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => {
                matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1")
            }
            _ => false,
        };
        on.then(|| {
            vars.get("ansible_become_user")
                .and_then(|v| v.as_str())
                .unwrap_or("root")
                .to_string()
        })
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct HostArgs {
    #[command(flatten)]
    pub source: InventoryArgs,

    /// Only hosts matching this pattern (Ansible syntax: groups, globs, a:b, a:&b, a:!b, ~regex).
    #[arg(short, long, value_name = "PATTERN", default_value = "all")]
    pub limit: String,

    #[command(flatten)]
    pub reach: ReachArgs,
}

/// How to reach hosts: what `ping`, `exec` and `play` share beyond choosing them.
#[derive(clap::Args, Debug, Clone)]
pub struct ReachArgs {
    /// Hosts worked on at once.
    #[arg(short, long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub forks: u32,

    /// Log in as this user instead of the inventory's.
    #[arg(short, long)]
    pub user: Option<String>,

    /// Use this private key instead of the inventory's.
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<PathBuf>,

    /// Seconds allowed for each of TCP connect, SSH handshake and authentication.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub connect_timeout: f64,

    /// Trust unknown host keys on first use and record them (a changed key is still refused).
    #[arg(long)]
    pub accept_new_host_keys: bool,

    /// known_hosts file to trust (default: STATE_DIR/known_hosts).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,

    /// Cairn's state directory [env: CAIRN_STATE_DIR] (default /var/lib/cairn as root,
    /// ~/.local/state/cairn otherwise).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Secrets typed into the console, per host (never a flag: `cairn serve` sets them when it
    /// runs pre-flight or an install in-process).
    #[arg(skip)]
    pub secrets: SecretOverrides,
}

/// Per-host secrets that win over the inventory's (the console's, held in memory only).
#[derive(Clone, Default)]
pub struct SecretOverrides(pub std::sync::Arc<std::collections::HashMap<String, HostSecrets>>);

/// One host's secrets from the console.
#[derive(Clone, Default)]
pub struct HostSecrets {
    pub password: Option<cairn_engine::secret::SecretSource>,
    /// A private key's text pasted into the console: replaces the inventory's keys.
    pub private_key: Option<cairn_engine::secret::Secret>,
    pub passphrase: Option<cairn_engine::secret::SecretSource>,
    pub become_password: Option<cairn_engine::secret::SecretSource>,
}

impl std::fmt::Debug for SecretOverrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretOverrides({} hosts, <redacted>)", self.0.len())
    }
}

/// The hosts a command will touch, and how to reach them.
pub struct Selected {
    pub inventory: Inventory,
    pub hosts: Vec<String>,
    pub connector: Connector,
    /// cluster.yaml's install sections (pre-flight thresholds, ...); `None` for Ansible
    /// inventories.
    pub settings: Option<cairn_engine::inventory::InstallSettings>,
}

impl HostArgs {
    /// Load the inventory, select hosts, prepare the connector. Errors are the user's: they
    /// are printed here and give EXIT_USAGE.
    pub fn select(&self, command_timeout: Option<Duration>) -> Result<Selected, u8> {
        let path = self.source.path();
        let loaded = self.source.load()?;
        let hosts = match loaded.inventory.select(&self.limit) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("error: --limit {:?}: {e}", self.limit);
                return Err(EXIT_USAGE);
            }
        };
        if hosts.is_empty() {
            eprintln!(
                "error: no host matches {:?} in {}",
                self.limit,
                path.display()
            );
            return Err(EXIT_USAGE);
        }
        let connector = self.reach.connector(command_timeout)?;
        Ok(Selected {
            inventory: loaded.inventory,
            hosts,
            connector,
            settings: loaded.settings,
        })
    }

    /// The inventory's target for `host`, with command-line overrides applied.
    pub fn target(&self, inventory: &Inventory, host: &str) -> Result<Target, String> {
        self.reach.target(inventory, host)
    }
}

impl ReachArgs {
    /// The flags choosing the trust store, as given (`--state-dir D`, `--known-hosts F`), for a
    /// command shown to the user that must use the same one.
    pub fn trust_flags(&self) -> String {
        use cairn_engine::ssh::quote::shell_quote;
        let mut out = String::new();
        for (flag, v) in [
            ("--state-dir", &self.state_dir),
            ("--known-hosts", &self.known_hosts),
        ] {
            if let Some(p) = v {
                out.push_str(&format!(
                    " {flag} {}",
                    shell_quote(&p.display().to_string())
                ));
            }
        }
        out
    }

    /// The connector the flags describe (timeouts, host key policy, known_hosts). Errors are
    /// the user's: printed here, EXIT_USAGE.
    pub fn connector(&self, command_timeout: Option<Duration>) -> Result<Connector, u8> {
        if !(self.connect_timeout > 0.0 && self.connect_timeout.is_finite()) {
            eprintln!("error: --connect-timeout must be a positive number of seconds");
            return Err(EXIT_USAGE);
        }
        let state = crate::state_dir::resolve(self.state_dir.clone());
        let known_hosts = self
            .known_hosts
            .clone()
            .unwrap_or_else(|| state.join("known_hosts"));
        let options = SshOptions {
            connect_timeout: Duration::from_secs_f64(self.connect_timeout),
            command_timeout,
            host_keys: if self.accept_new_host_keys {
                HostKeyPolicy::AcceptNew
            } else {
                HostKeyPolicy::Strict
            },
            ..SshOptions::default()
        };
        Connector::new(options, &known_hosts).map_err(|e| {
            eprintln!("error: cannot read {}: {e}", known_hosts.display());
            EXIT_USAGE
        })
    }

    /// The inventory's target for `host`, with command-line overrides applied.
    pub fn target(&self, inventory: &Inventory, host: &str) -> Result<Target, String> {
        let mut t = inventory.target(host).map_err(|e| e.to_string())?;
        if let Some(u) = &self.user {
            t.user = u.clone();
        }
        if let Some(k) = &self.private_key {
            t.identities = vec![cairn_engine::ssh::Identity::file(
                k.clone(),
                t.identities.first().and_then(|i| i.passphrase.clone()),
            )];
        }
        if let Some(s) = self.secrets.0.get(host) {
            if let Some(k) = &s.private_key {
                t.identities = vec![cairn_engine::ssh::Identity::text(k.clone(), None)];
                t.use_agent = false;
            }
            if s.password.is_some() {
                t.password = s.password.clone();
            }
            if s.passphrase.is_some() {
                for i in &mut t.identities {
                    i.passphrase = s.passphrase.clone();
                }
            }
            if s.become_password.is_some() {
                t.become_password = s.become_password.clone();
            }
        }
        Ok(t)
    }
}

/// How one host ended, Ansible's way.
pub enum Outcome {
    Ok,
    Failed(String),
    Unreachable(String),
}

impl Outcome {
    /// Ansible's tag for the host's line.
    pub fn tag(&self) -> &'static str {
        match self {
            Outcome::Ok => "SUCCESS",
            Outcome::Failed(_) => "FAILED!",
            Outcome::Unreachable(_) => "UNREACHABLE!",
        }
    }

    pub fn from_error(e: &SshError) -> Outcome {
        if e.is_unreachable() {
            Outcome::Unreachable(e.to_string())
        } else {
            Outcome::Failed(e.to_string())
        }
    }
}

/// Tally outcomes into the summary line and the exit code.
pub fn summary<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> (String, u8) {
    let (mut ok, mut failed, mut unreachable) = (0, 0, 0);
    for o in outcomes {
        match o {
            Outcome::Ok => ok += 1,
            Outcome::Failed(_) => failed += 1,
            Outcome::Unreachable(_) => unreachable += 1,
        }
    }
    let code = if failed > 0 {
        EXIT_FAILED
    } else if unreachable > 0 {
        EXIT_UNREACHABLE
    } else {
        EXIT_OK
    };
    (
        format!("{ok} ok, {failed} failed, {unreachable} unreachable"),
        code,
    )
}

/// Run `work` on every host, at most `forks` at once. Each host's text is printed as soon as it
/// finishes (with many hosts the slow ones must not hide the answers of the rest), then the
/// summary line; returns the exit code.
pub async fn run_each<F, Fut>(hosts: Vec<String>, forks: usize, work: F) -> u8
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = (Outcome, String)>,
{
    use std::io::Write;
    let outcomes = cairn_engine::ssh::fanout::bounded(hosts, forks, |host| {
        let done = work(host);
        async move {
            let (outcome, text) = done.await;
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            outcome
        }
    })
    .await;
    let (line, code) = summary(outcomes.iter());
    println!("{line}");
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_engine::secret::{Secret, SecretSource};
    use cairn_engine::ssh::{Identity, KeySource};
    use clap::Parser;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        reach: ReachArgs,
    }

    /// The console's pasted key replaces the inventory's key file (and the agent) for its host
    /// only, with the console's passphrase; the inventory says nothing of it.
    #[test]
    fn a_console_key_replaces_the_inventorys_for_its_host_only() {
        let inv = cairn_engine::inventory::load_str(
            "hosts.ini",
            "a ansible_host=10.0.0.1 ansible_ssh_private_key_file=/k/id\n\
             b ansible_host=10.0.0.2 ansible_ssh_private_key_file=/k/id\n",
        )
        .unwrap()
        .inventory;
        let mut reach = Args::parse_from(["cairn"]).reach;
        let key = Secret::new("-----BEGIN OPENSSH PRIVATE KEY-----\n...");
        let pass = SecretSource::Inline(Secret::new("pp"));
        reach.secrets = SecretOverrides(std::sync::Arc::new(
            [(
                "a".to_string(),
                HostSecrets {
                    private_key: Some(key.clone()),
                    passphrase: Some(pass.clone()),
                    ..Default::default()
                },
            )]
            .into(),
        ));
        let a = reach.target(&inv, "a").unwrap();
        assert_eq!(a.identities, [Identity::text(key, Some(pass))]);
        assert!(!a.use_agent);
        let b = reach.target(&inv, "b").unwrap();
        assert_eq!(b.identities[0].key, KeySource::File("/k/id".into()));
        assert!(!format!("{a:?} {reach:?}").contains("BEGIN OPENSSH"));
    }
}
