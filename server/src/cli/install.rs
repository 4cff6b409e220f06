//! `cairn install --config cluster.yaml [--playbooks DIR] [--ignore-preflight ID,...]
//! [--resume] [--json] [-e VARS]`: the whole install, in this order (each step stops the
//! install when it fails, before the next one touches anything):
//!
//! 1. read cluster.yaml; take the cluster's lock (one install per cluster at a time);
//! 2. verify the bundle, check `versions:` against it, find the playbooks (`site.yml`);
//! 3. serve the bundle (HTTP) and time (SNTP) on `installer.address`, in this process;
//! 4. connect to every host (host keys verified as everywhere) and run pre-flight; any failed
//!    check not ignored stops the install (exit 2) before any task runs;
//! 5. make sure the PKI is there (`crate::pki`: etcd's and the registries' certificates, and
//!    `pki::kube` when the cluster has kube hosts) and the CI passwords (`install::secrets`);
//! 6. run `site.yml` through the engine with the `cairn_*` variables, recorded in the store as
//!    an `install` run, shown like `cairn play` (or `--json`); meanwhile push the bundle's
//!    images into the `registry` hosts once they answer over TLS (`install::push`);
//! 7. print the summary (URLs, where credentials, CA and kubeconfig are, next steps), and say
//!    where the Kubernetes binaries came from or that the kube steps were only checked
//!    (`install::kube_binaries`);
//! 8. stop serving.
//!
//! Owns the flags, that order and the messages. Must not: hold check, engine, PKI or serving
//! logic (each has its module).

use super::hosts::{BecomeArgs, ReachArgs};
use super::json_lines::JsonLines;
use super::play::Recorded;
use super::render::Terminal;
use super::tee::Tee;
use super::{EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::install::{
    kube_binaries, lock, playbooks, push as image_push, resume, secrets, summary, versions,
};
use crate::pki;
use crate::serve::{self, ntp, open, routes::Served};
use cairn_engine::event::EventSink;
use cairn_engine::inventory::{Diagnostic, InstallSettings, Inventory, Vars};
use cairn_engine::playbook::{self, TagFilter};
use cairn_engine::preflight::{self, Policy, policy::ROLES};
use cairn_engine::run::{self, BecomeDefault};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Exit status: 0 installed (every host OK); 1 bad input (config, bundle \
version, playbooks, flags, another install running), nothing run; 2 pre-flight failed (nothing \
run) or a host failed, or the bundle could not be verified or served; 4 a host was unreachable \
(and none failed)."
)]
pub struct Args {
    /// The cluster's cluster.yaml (with `installer:` and `bundle:`; `cairn init` writes an
    /// example).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// Run DIR/site.yml instead of the playbooks shipped in the bundle.
    #[arg(long, value_name = "DIR")]
    pub playbooks: Option<PathBuf>,

    /// Pre-flight check ids to report as `ignored` instead of stopping the install
    /// (comma-separated or repeated; added to cluster.yaml's preflight.ignore).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub ignore_preflight: Vec<String>,

    /// Continue the last install of this cluster: only the hosts that did not finish run,
    /// from their first unfinished task (see docs/install.md); nothing to do when every host
    /// finished.
    #[arg(long)]
    pub resume: bool,

    /// Run the playbooks only on hosts matching PATTERN (as `ansible-playbook --limit`:
    /// names, groups, `a:b`, `a:&b`, `a:!b`, globs). The PKI and the image push still cover
    /// the whole cluster; pre-flight checks only these hosts.
    #[arg(short = 'l', long, value_name = "PATTERN")]
    pub limit: Option<String>,

    /// Print the run's events as JSON lines on stdout (as `cairn play --json`); pre-flight and
    /// PKI lines go to stderr.
    #[arg(long)]
    pub json: bool,

    /// Show what changed in files (or, for steps only checked, what would), as `cairn play
    /// --diff`. Files holding keys are never shown.
    #[arg(long)]
    pub diff: bool,

    /// Extra variables for the playbooks (as `cairn play -e`); they win over the `cairn_*`
    /// variables install sets.
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,

    /// Require the bundle to be signed by this public key (KEY.pub from `cairn bundle keygen`).
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,

    #[command(flatten)]
    pub reach: ReachArgs,

    #[command(flatten)]
    pub escalate: BecomeArgs,
}

/// What the in-process server serves, and where (for the installer's pre-flight checks).
struct ServedAt {
    contents: crate::installer_checks::Contents,
    installer: cairn_engine::inventory::install_settings::Installer,
    /// The public key the apt repository is signed with (binary keyring), for the hosts.
    apt_keyring: Option<PathBuf>,
}

/// Progress lines: stdout for people, stderr under `--json` (stdout is the event stream).
fn say(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        outln!("{line}");
    }
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    // 1. The config and the lock.
    let loaded = match super::hosts::load_inventory(&args.config) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let file = args.config.display().to_string();
    let Some(settings) = loaded.settings.clone() else {
        eprintln!(
            "error: {file} is an Ansible inventory; cairn install needs a cluster.yaml (apiVersion: cairn/v1, kind: Cluster): `cairn init` writes an example"
        );
        return Ok(EXIT_USAGE);
    };
    let Some(installer) = settings.installer.clone() else {
        eprintln!(
            "error: {file} has no installer: section; add `installer: {{address: <this machine's IP, as the hosts reach it>}}` (docs/cluster-yaml.md)"
        );
        return Ok(EXIT_USAGE);
    };
    let Some((bundle_path, _)) = settings.bundle.clone() else {
        eprintln!(
            "error: {file} has no bundle: entry; add `bundle: <path to NAME-VERSION.cairn>` (relative to {file})"
        );
        return Ok(EXIT_USAGE);
    };
    let extra = match run::extra_vars::parse_all(&args.extra_vars) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let state_dir = crate::state_dir::resolve(args.reach.state_dir.clone());
    // Private before anything is written in it (the lock file is the first thing).
    match crate::state_dir::ensure_private(&state_dir) {
        Ok(None) => {}
        Ok(Some(notice)) => eprintln!("{notice}"),
        Err(e) => {
            eprintln!(
                "error: cannot create the state dir {}: {e}",
                state_dir.display()
            );
            return Ok(EXIT_USAGE);
        }
    }
    let _lock = match lock::acquire(&state_dir, &settings.name) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let connector = match args.reach.connector(None) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let inventory = &loaded.inventory;
    let all_hosts = match inventory.select("all") {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };

    // --resume: which hosts run again, and what they finished (decided before anything is
    // started).
    let mut resumed: Option<(i64, cairn_engine::run::Resume)> = None;
    let hosts = if args.resume {
        let store = crate::store::Store::open_in(&state_dir);
        let plan = store.and_then(|s| resume::plan(&s, &settings.name, &all_hosts));
        match plan {
            Ok(resume::Plan::Rerun { run, hosts, done }) => {
                say(
                    args.json,
                    &format!(
                        "resuming install run {run} of cluster \"{}\": running again on {} ({} tasks already done there are left out)",
                        settings.name,
                        hosts.join(", "),
                        done.len()
                    ),
                );
                resumed = Some((run, done));
                hosts
            }
            Ok(resume::Plan::Done { run }) => {
                say(
                    args.json,
                    &format!(
                        "nothing to resume: install run {run} of cluster \"{}\" finished on every host",
                        settings.name
                    ),
                );
                return Ok(EXIT_OK);
            }
            Ok(resume::Plan::Nothing) => {
                eprintln!(
                    "error: nothing to resume: no install of cluster \"{}\" has reached its playbook; run without --resume",
                    settings.name
                );
                return Ok(EXIT_USAGE);
            }
            Err(e) => {
                eprintln!("error: --resume needs the state store: {e}");
                return Ok(EXIT_USAGE);
            }
        }
    } else {
        all_hosts.clone()
    };
    // --limit: only the hosts that also match the pattern.
    let hosts = match &args.limit {
        None => hosts,
        Some(pattern) => match inventory.select(pattern) {
            Ok(matched) => {
                let kept: Vec<String> = hosts.into_iter().filter(|h| matched.contains(h)).collect();
                if kept.is_empty() {
                    eprintln!(
                        "error: --limit {pattern:?} leaves no host of cluster \"{}\" to run{}: its hosts are {}",
                        settings.name,
                        if args.resume {
                            " (among those to resume)"
                        } else {
                            ""
                        },
                        all_hosts.join(", ")
                    );
                    return Ok(EXIT_USAGE);
                }
                kept
            }
            Err(e) => {
                eprintln!("error: --limit: {e}");
                return Ok(EXIT_USAGE);
            }
        },
    };

    // 2. The bundle: verified, versions checked; the playbooks found and loaded.
    let shown = bundle_path.display().to_string();
    let bundle_file = match std::fs::File::open(&bundle_path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: bundle {shown} (from {file}): {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let t0 = Instant::now();
    let key = args.key.clone();
    let opened =
        tokio::task::spawn_blocking(move || open::open(bundle_file, key.as_deref())).await?;
    let opened = match opened {
        Ok(o) => o,
        Err(e @ open::OpenError::Key(_)) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
        Err(open::OpenError::Bundle(msg)) => {
            eprintln!("error: {shown}: {msg}");
            return Ok(EXIT_FAILED);
        }
        Err(open::OpenError::Io(e)) => {
            eprintln!("error: {shown}: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let bundle_name = format!(
        "{}-{}",
        opened.index.manifest.name, opened.index.manifest.version
    );
    if let Some(code) = check_versions(&file, &loaded, &settings, &opened, &bundle_name) {
        return Ok(code);
    }
    let kube = kube_binaries::detect(
        opened
            .index
            .under("files")
            .map(|(p, l)| (p, l.sha256.as_str())),
        &package_names(&opened),
    );
    let site = match playbooks::resolve(
        args.playbooks.as_deref(),
        &opened.index,
        &state_dir,
        &settings.name,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let book = match playbook::load(&site, &playbook::Options::default()) {
        Ok(l) => {
            eprint!("{}", l.render_warnings());
            l
        }
        Err(e) => {
            eprint!("{}", e.render());
            return Ok(EXIT_USAGE);
        }
    };
    say(
        args.json,
        &format!(
            "bundle {bundle_name} verified in {:.1} s; playbook {}",
            t0.elapsed().as_secs_f64(),
            site.display()
        ),
    );

    // 3. Serve the bundle and time while the install runs.
    let has_debs = opened.deb.count > 0;
    let contents = crate::installer_checks::Contents::of(&opened.index.manifest);
    let mut deb = opened.deb;
    let apt_keyring = if has_debs {
        let dir = state_dir.join("serve");
        let signed =
            tokio::task::spawn_blocking(move || sign_apt(&mut deb, &dir).map(|k| (deb, k))).await?;
        match signed {
            Ok((signed_deb, keyring)) => {
                deb = signed_deb;
                Some(keyring)
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(EXIT_FAILED);
            }
        }
    } else {
        None
    };
    let served = Arc::new(Served {
        index: opened.index,
        deb,
        registry: opened.registry,
    });
    let server = match Server::start(
        served.clone(),
        installer.address,
        installer.port,
        installer.ntp_port,
    )
    .await
    {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("error: {msg}");
            return Ok(EXIT_FAILED);
        }
    };
    let repo_url = format!("http://{}", server.http);
    say(
        args.json,
        &format!(
            "serving {bundle_name} on {repo_url} and time (SNTP) on udp://{}",
            server.ntp
        ),
    );

    let code = install(
        &args,
        &settings,
        inventory,
        &connector,
        &hosts,
        resumed.as_ref(),
        &book.playbook,
        &state_dir,
        &repo_url,
        has_debs,
        &kube,
        extra,
        &ServedAt {
            apt_keyring,
            contents,
            installer: cairn_engine::inventory::install_settings::Installer {
                address: server.http.ip(),
                port: server.http.port(),
                ntp_port: server.ntp.port(),
            },
        },
        served,
    )
    .await;

    // 8. Stop serving (requests in flight finish first).
    server.stop().await;
    Ok(code)
}

/// The names of the bundle's packages (Debian and RPM).
/// Signs the apt repository with the state dir's key (`serve/apt-signing-key.asc`, the one
/// `cairn serve` uses too: created at the first use, 0600) and writes its public keyring beside
/// it (`serve/apt-keyring.gpg`), which the repo role puts on the hosts for `signed-by=`: hosts
/// then verify every index, and through them every package, instead of trusting the network.
fn sign_apt(deb: &mut crate::serve::deb_repo::DebRepo, dir: &Path) -> Result<PathBuf, String> {
    use crate::serve::apt_sign::AptKey;
    let (key, _) = AptKey::load_or_create(&dir.join("apt-signing-key.asc"))
        .map_err(|e| format!("{e} (the apt repository is signed with this key)"))?;
    deb.sign(&key)
        .map_err(|e| format!("signing the apt repository: {e}"))?;
    let keyring = dir.join("apt-keyring.gpg");
    let bytes = deb
        .signed
        .as_ref()
        .map(|s| s.keyring.clone())
        .unwrap_or_default();
    // Public, but like everything in the state dir only Cairn's own user reads it (0600);
    // written to a temporary file and renamed, as the PKI's files are.
    crate::pki::files::write_private(&keyring, &bytes).map_err(|e| e.to_string())?;
    Ok(std::path::absolute(&keyring).unwrap_or(keyring))
}

fn package_names(opened: &open::Opened) -> Vec<String> {
    let text = String::from_utf8_lossy(&opened.deb.packages);
    versions::from_deb_index(&text)
        .into_iter()
        .chain(
            opened
                .index
                .under("rpms")
                .filter_map(|(p, _)| versions::from_rpm_path(p)),
        )
        .map(|p| p.name)
        .collect()
}

/// `versions:` against the bundle's packages; `Some(exit code)` when they do not match.
fn check_versions(
    file: &str,
    loaded: &cairn_engine::inventory::Loaded,
    settings: &InstallSettings,
    opened: &open::Opened,
    bundle_name: &str,
) -> Option<u8> {
    let text = String::from_utf8_lossy(&opened.deb.packages);
    let mut packages = versions::from_deb_index(&text);
    packages.extend(
        opened
            .index
            .under("rpms")
            .filter_map(|(p, _)| versions::from_rpm_path(p)),
    );
    let mismatches = versions::check(&settings.versions, &packages, bundle_name);
    if mismatches.is_empty() {
        return None;
    }
    for m in mismatches {
        let d = Diagnostic::error(file, Some(m.pinned.span), m.message).help(m.help);
        eprint!("{}", loaded.sources.render(&d));
    }
    Some(EXIT_USAGE)
}

/// Steps 4 to 6, while the bundle is served; returns the exit code.
#[allow(clippy::too_many_arguments)]
async fn install(
    args: &Args,
    settings: &InstallSettings,
    inventory: &Inventory,
    connector: &cairn_engine::ssh::Connector,
    hosts: &[String],
    resumed: Option<&(i64, cairn_engine::run::Resume)>,
    book: &playbook::Playbook,
    state_dir: &Path,
    repo_url: &str,
    has_debs: bool,
    kube: &kube_binaries::Source,
    extra: Vars,
    at: &ServedAt,
    served: Arc<Served>,
) -> u8 {
    // 4. Pre-flight: the installer's server as the hosts will reach it, then every check of
    // every host that will run.
    let mut checks = crate::installer_checks::served(&at.installer, Some(&at.contents))
        .await
        .checks;
    let target = |h: &str| args.reach.target(inventory, h);
    let become_user = |h: &str| args.escalate.for_host(inventory, h);
    let roles = |h: &str| -> Vec<String> {
        inventory
            .groups_of(h)
            .into_iter()
            .filter(|g| ROLES.contains(&g.as_str()))
            .collect()
    };
    // The hosts must fetch from the installer: the apt index when the bundle has packages.
    let probe_url = if has_debs {
        format!("{repo_url}/repo/deb/Release")
    } else {
        format!("{repo_url}/healthz")
    };
    let opts = preflight::Options {
        forks: args.reach.forks as usize,
        repo_url: Some(probe_url),
        target: &target,
        become_user: &become_user,
        roles: &roles,
        ntp: Some((at.installer.address.to_string(), at.installer.ntp_port)),
        arches: at.contents.arches.clone(),
        fix: false,
        fix_only: Vec::new(),
        source: format!(
            "--config {}{}",
            cairn_engine::ssh::quote::shell_quote(&args.config.display().to_string()),
            args.reach.trust_flags()
        ),
    };
    let started = Instant::now();
    let policy = Policy::from_settings(&settings.preflight);
    checks.extend(preflight::run(hosts, connector, &policy, &opts).await);
    let ignore: BTreeSet<&str> = settings
        .preflight
        .ignore
        .iter()
        .chain(&args.ignore_preflight)
        .map(String::as_str)
        .collect();
    super::preflight::apply_ignore(&mut checks, &ignore);
    let wire: Vec<_> = checks.iter().map(super::preflight::to_wire).collect();
    super::preflight::record_in(args.reach.state_dir.clone(), hosts, &wire, &[]);
    let sum = preflight::summary(&checks);
    let line = super::preflight::summary_line(
        hosts.len(),
        checks.len(),
        started.elapsed().as_secs_f64(),
        &sum,
    );
    let colour = !args.json && super::preflight::colour();
    let shown: Vec<String> = std::iter::once("installer".to_string())
        .chain(hosts.iter().cloned())
        .collect();
    let table = super::preflight::table(&shown, &checks, &roles, false, colour);
    // A host key pending acceptance stops the install like a failure (and cannot be ignored).
    let code = super::preflight::exit_code(&checks);
    if code != EXIT_OK {
        eprint!("{table}");
        eprintln!("{line}");
        eprintln!(
            "error: pre-flight failed: the install stops before changing anything; fix what the table shows (or list a check in --ignore-preflight / preflight.ignore), then run cairn install again"
        );
        return code;
    }
    if sum.warn + sum.ignored > 0 {
        if args.json {
            eprint!("{table}");
        } else {
            super::out(&table);
        }
    }
    say(args.json, &line);

    // 5. The PKI.
    let pki_dir = pki::cluster_dir(state_dir, &settings.name);
    let group_members = |group: &str| -> Vec<pki::Member> {
        inventory
            .group_hosts(group)
            .into_iter()
            .map(|h| pki::Member {
                address: address_of(inventory, &h),
                name: h,
            })
            .collect()
    };
    let members = group_members("etcd");
    let registries = group_members("registry");
    let validity = pki::Validity {
        leaf_days: settings.pki.validity_days,
        ca_days: settings.pki.ca_validity_days,
    };
    let dir = pki_dir.clone();
    let name = settings.name.clone();
    let reg = registries.clone();
    let job = move || {
        let mut out = pki::ensure(&dir, &name, &members, validity)?;
        out.extend(pki::ensure_registry(&dir, &name, &reg, validity)?);
        Ok(out)
    };
    let shown = pki_dir.display().to_string();
    if let Some(code) = pki_step(args, &pki_dir, shown, job).await {
        return code;
    }
    if let Some(code) = kube_pki(args, settings, inventory, &pki_dir, validity).await {
        return code;
    }

    // The CI server's passwords: generated once, kept 0600, never printed.
    let secrets_dir = secrets::cluster_dir(state_dir, &settings.name);
    if !inventory.group_hosts("ci").is_empty() {
        for name in secrets::CI_PASSWORDS {
            match secrets::ensure_password(&secrets_dir, name) {
                Ok(true) => say(
                    args.json,
                    &format!("secrets: {}/{name}: created", secrets_dir.display()),
                ),
                Ok(false) => {}
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            }
        }
    }

    // 6. The playbook, and the image push beside it.
    let images: Vec<(String, String)> = served
        .registry
        .repos
        .iter()
        .flat_map(|(repo, r)| r.tags.keys().map(move |t| (repo.clone(), t.clone())))
        .collect();
    let push_targets: Vec<image_push::Target> = if images.is_empty() {
        Vec::new()
    } else {
        registries
            .iter()
            .filter(|m| hosts.contains(&m.name))
            .map(|m| image_push::Target {
                host: m.name.clone(),
                registry: format!("{}:{}", m.address, registry_port(inventory, &m.name)),
            })
            .collect()
    };
    let mut extra_vars = install_vars(settings, repo_url, &pki_dir);
    if let Some(k) = &at.apt_keyring {
        extra_vars.insert(
            "cairn_repo_apt_keyring".into(),
            json!(k.display().to_string()),
        );
    }
    extra_vars.insert(
        "cairn_ci_secrets_dir".into(),
        json!(
            std::path::absolute(&secrets_dir)
                .unwrap_or_else(|_| secrets_dir.clone())
                .display()
                .to_string()
        ),
    );
    extra_vars.insert(
        "cairn_registry_push".into(),
        json!(!push_targets.is_empty()),
    );
    extra_vars.insert(
        "cairn_bundle_images".into(),
        json!(
            images
                .iter()
                .map(|(r, t)| json!({"repo": r, "tag": t}))
                .collect::<Vec<_>>()
        ),
    );
    extra_vars.extend(kube.vars());
    extra_vars.extend(extra);
    let pusher = if push_targets.is_empty() {
        None
    } else {
        let ca_path = pki_dir.join("ca.crt");
        let tls = std::fs::read(&ca_path)
            .map_err(|e| format!("{}: {e}", ca_path.display()))
            .and_then(|pem| {
                crate::push::tls_config(&pem, &ca_path.display().to_string())
                    .map_err(|e| e.to_string())
            });
        match tls {
            Ok(tls) => {
                let json_mode = args.json;
                Some(image_push::Pusher::start(
                    served.clone(),
                    push_targets,
                    tls,
                    move |t, report, took| {
                        say(
                            json_mode,
                            &format!(
                                "registry: pushed the bundle's images to {} ({}) in {:.1} s: {report}",
                                t.registry,
                                t.host,
                                took.as_secs_f64()
                            ),
                        )
                    },
                ))
            }
            Err(e) => {
                eprintln!("error: the cluster CA for the image push: {e}");
                return EXIT_USAGE;
            }
        }
    };
    let limit = (args.resume || args.limit.is_some()).then(|| hosts.join(","));
    let options = run::Options {
        limit: limit.as_deref(),
        forks: args.reach.forks as usize,
        become_default: BecomeDefault {
            enabled: args.escalate.r#become,
            user: args.escalate.become_user.clone(),
        },
        target: &target,
        check: false,
        diff: args.diff,
        extra_vars,
        tags: TagFilter::new(&[], &[]),
        start_at_task: None,
        force_handlers: false,
        roles_path: Vec::new(),
        resume: resumed.map(|(_, done)| done),
    };
    let recorded = Recorded::begin_as(&args.reach, resume::KIND, &settings.name);
    let run_id = recorded.as_ref().map_or(0, |r| r.journal.run_id());
    if let (Some(r), Some((previous, _))) = (&recorded, resumed)
        && let Err(e) = r.store.set_resumes(run_id, *previous)
    {
        eprintln!("[WARNING]: this run is not recorded as resuming run {previous}: {e}");
    }
    let plan = super::render::play_tasks([book], &options.tags);
    let terminal = Terminal::new().with_diff(args.diff).with_progress(plan);
    let json = JsonLines::new(run_id);
    let shown: &dyn EventSink = if args.json { &json } else { &terminal };
    let mut sinks = vec![shown];
    if let Some(r) = &recorded {
        sinks.push(&r.journal);
    }
    let sink = Tee::new(sinks);
    let code = match run::run(book, inventory, connector, &options, &sink).await {
        Ok(recap) if recap.values().any(|s| s.failed > 0) => EXIT_FAILED,
        Ok(recap) if recap.values().any(|s| s.unreachable > 0) => EXIT_UNREACHABLE,
        Ok(_) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    };
    if let Some(r) = recorded {
        r.finish(code);
    }
    if let Some(p) = pusher {
        for image_push::NotPushed { target, last_error } in p.finish().await {
            eprintln!(
                "[WARNING]: the bundle's images were not pushed to {} ({}): {}",
                target.registry,
                target.host,
                last_error
                    .as_deref()
                    .unwrap_or("the run ended before the registry was set up")
            );
        }
    }
    let verdict = match code {
        EXIT_OK => format!(
            "install of cluster \"{}\" finished (run {run_id})",
            settings.name
        ),
        _ => format!(
            "install of cluster \"{}\" did not finish (run {run_id}): fix the failure shown, then `cairn install --config {} --resume` runs the unfinished hosts again",
            settings.name,
            args.config.display()
        ),
    };
    if code == EXIT_OK {
        say(args.json, &verdict);
        let hosts_of = |group: &str| -> Vec<summary::Host> {
            inventory
                .group_hosts(group)
                .into_iter()
                .map(|h| summary::Host {
                    address: address_of(inventory, &h),
                    name: h,
                })
                .collect()
        };
        let kubeconfig = pki_dir.join("kube/admin.conf");
        let text = summary::render(&summary::Facts {
            cluster: &settings.name,
            config: &args.config,
            pki_dir: &std::path::absolute(&pki_dir).unwrap_or_else(|_| pki_dir.clone()),
            secrets_dir: &std::path::absolute(&secrets_dir).unwrap_or_else(|_| secrets_dir.clone()),
            etcd: hosts_of("etcd"),
            registry: hosts_of("registry")
                .into_iter()
                .map(|h| {
                    let port = registry_port(inventory, &h.name);
                    (h, port)
                })
                .collect(),
            ci: hosts_of("ci"),
            monitoring: hosts_of("monitoring"),
            images: images.iter().map(|(r, t)| format!("{r}:{t}")).collect(),
            kubeconfig: kubeconfig.exists().then_some(kubeconfig.as_path()),
        });
        if args.json {
            eprint!("{text}");
        } else {
            super::out(&text);
        }
    } else {
        eprintln!("{verdict}");
    }
    if !inventory.group_hosts("kube_master").is_empty()
        || !inventory.group_hosts("kube_node").is_empty()
    {
        say(args.json, &kube.summary());
    }
    code
}

/// The address a host is reached at (cluster.yaml's `address`, i.e. `ansible_host`), else its
/// name.
fn address_of(inventory: &Inventory, host: &str) -> String {
    match inventory.host_vars(host).get("ansible_host") {
        Some(Value::String(a)) => a.clone(),
        _ => host.to_string(),
    }
}

/// The registry's HTTPS port on `host`: the `registry_port` variable, else the role's 5000.
fn registry_port(inventory: &Inventory, host: &str) -> u16 {
    match inventory.host_vars(host).get("registry_port") {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(5000),
        Some(Value::String(s)) => s.parse().unwrap_or(5000),
        _ => 5000,
    }
}

/// The Kubernetes part of the PKI (`pki::kube`), when the cluster has kube hosts; `Some(exit
/// code)` when it cannot be made.
async fn kube_pki(
    args: &Args,
    settings: &InstallSettings,
    inventory: &Inventory,
    pki_dir: &Path,
    validity: pki::Validity,
) -> Option<u8> {
    let member = |h: String| pki::Member {
        address: address_of(inventory, &h),
        name: h,
    };
    let masters: Vec<pki::Member> = inventory
        .group_hosts("kube_master")
        .into_iter()
        .map(member)
        .collect();
    let mut nodes = masters.clone();
    for h in inventory.group_hosts("kube_node") {
        if !nodes.iter().any(|n| n.name == h) {
            nodes.push(member(h));
        }
    }
    if masters.is_empty() && nodes.is_empty() {
        return None;
    }
    let topology = pki::kube::profile::Topology {
        masters,
        nodes,
        service_cidr: settings.network.service_cidr,
        cluster_domain: settings.network.cluster_domain.clone(),
        api_endpoint: settings.network.api_endpoint.clone(),
    };
    let dir = pki_dir.to_path_buf();
    let name = settings.name.clone();
    let job = move || pki::kube::ensure(&dir, &name, &topology, validity);
    pki_step(args, pki_dir, format!("{}/kube", pki_dir.display()), job).await
}

/// Runs one PKI step (file I/O and key generation) off the async runtime and says what it
/// made; `Some(exit code)` when it failed. `shown` names the step in the closing line.
async fn pki_step(
    args: &Args,
    pki_dir: &Path,
    shown: String,
    job: impl FnOnce() -> Result<Vec<pki::Outcome>, pki::PkiError> + Send + 'static,
) -> Option<u8> {
    let made = tokio::task::spawn_blocking(job).await.unwrap_or_else(|e| {
        Err(pki::PkiError::Io {
            path: pki_dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })
    });
    match made {
        Ok(outcomes) => {
            for o in outcomes.iter().filter(|o| o.action != pki::Action::Kept) {
                say(args.json, &format!("pki: {o}"));
            }
            let kept = outcomes
                .iter()
                .filter(|o| o.action == pki::Action::Kept)
                .count();
            say(args.json, &format!("pki: {shown}: {kept} files kept"));
            None
        }
        Err(e) => {
            eprintln!("error: {e}");
            Some(EXIT_USAGE)
        }
    }
}

/// The variables every install playbook gets (docs/install.md lists them).
fn install_vars(settings: &InstallSettings, repo_url: &str, pki_dir: &Path) -> Vars {
    let installer = settings.installer.as_ref().expect("checked before");
    let net = &settings.network;
    let pki_dir = std::path::absolute(pki_dir).unwrap_or_else(|_| pki_dir.to_path_buf());
    let v = json!({
        "cairn_cluster_name": settings.name,
        "cairn_repo_url": repo_url,
        "cairn_ntp_server": installer.address.to_string(),
        "cairn_ntp_port": installer.ntp_port,
        "cairn_pki_dir": pki_dir.display().to_string(),
        "cairn_pod_cidr": net.pod_cidr.to_string(),
        "cairn_service_cidr": net.service_cidr.to_string(),
        "cairn_cluster_domain": net.cluster_domain,
        "cairn_api_endpoint": net.api_endpoint,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

/// The bundle server running inside `cairn install`.
struct Server {
    http: SocketAddr,
    ntp: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(
        served: Arc<Served>,
        address: std::net::IpAddr,
        port: u16,
        ntp_port: u16,
    ) -> Result<Server, String> {
        let http = SocketAddr::new(address, port);
        let listener = tokio::net::TcpListener::bind(http).await.map_err(|e| {
            format!(
                "cannot serve the bundle on http://{http} (installer.address, installer.port): {e}"
            )
        })?;
        let ntp_addr = SocketAddr::new(address, ntp_port);
        let socket = tokio::net::UdpSocket::bind(ntp_addr).await.map_err(|e| {
            format!("cannot serve time on udp://{ntp_addr} (installer.ntp_port): {e}; port 123 needs root or CAP_NET_BIND_SERVICE, or set installer.ntp_port")
        })?;
        let http = listener.local_addr().unwrap_or(http);
        let ntp = socket.local_addr().unwrap_or(ntp_addr);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let time = serve::Ntp {
            socket,
            config: ntp::Config::default(),
        };
        let task = tokio::spawn(serve::run_until(listener, served, Some(time), async move {
            let _ = stopped.await;
        }));
        Ok(Server {
            http,
            ntp,
            stop,
            task,
        })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(10), self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => eprintln!("[WARNING]: the bundle server stopped with an error: {e}"),
            Ok(Err(e)) => eprintln!("[WARNING]: the bundle server stopped with an error: {e}"),
            Err(_) => eprintln!("[WARNING]: the bundle server did not stop within 10 s"),
        }
    }
}
