//! Runs started from the console: `POST /api/preflight` (with `fix`/`fix_only`: the CLI's
//! `--fix`/`--fix-only`, whose record the run keeps), `POST /api/install`,
//! `POST /api/runs/{id}/resume`, `POST /api/runs/{id}/retry-failed`.
//!
//! Each writes the wizard's cluster.yaml (no secret in it) to
//! `<state>/console/cluster.yaml` and runs the CLI's own `preflight`/`install` in this process
//! (`cli::embedded`), with the in-memory secrets handed over directly, so a run from the console
//! is the same run as from the shell: same checks, same lock (`install/lock.rs`: one install
//! per cluster, a CLI install running elsewhere gives 409 here), same store records.
//! The run's id is the one the CLI code records: the API waits until that run appears in the
//! store (the first run of that kind by this process after the launch), or until the command
//! ends without one (then 422 with why, e.g. the pre-flight failures).
//!
//! Must not: re-implement pre-flight or install steps.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cairn_engine::secret::SecretSource;
use cairn_protocol::api::{InstallRequest, PreflightRequest, RunStarted};

use super::Api;
use super::error::{Error, Result};
use super::wizard::{HostSecrets, SavedHost};
use crate::cli::embedded;

/// How long a POST waits for the install's run to be recorded (bundle verification and
/// pre-flight come first).
const INSTALL_WAIT: Duration = Duration::from_secs(600);

/// Write the cluster.yaml the CLI code will read.
fn write_config(api: &Api) -> Result<PathBuf> {
    let s = api.wizard.snapshot();
    let view = super::roles::view(&s);
    if s.hosts.is_empty() {
        return Err(Error::invalid("no hosts yet: add hosts first"));
    }
    // In the wizard's order: hosts (keys accepted, secrets held), then roles.
    if let Some(h) = s.hosts.iter().find(|h| h.trust != "trusted") {
        return Err(Error::invalid(format!(
            "the host key of {} is not accepted yet: scan it and accept its fingerprint",
            h.id
        )));
    }
    if let Some(h) = s.hosts.iter().find(|h| api.wizard.view(h).secret_missing) {
        return Err(Error::invalid(secret_missing_message(
            h,
            &api.wizard.secrets(&h.id),
        )));
    }
    if !view.valid {
        return Err(Error::invalid("the role assignment is not valid").details(
            view.problems
                .iter()
                .filter(|p| p.severity == "error")
                .map(|p| p.message.clone())
                .collect(),
        ));
    }
    let dir = api.state_dir.join("console");
    create_private_dir(&dir).map_err(|e| Error::internal("the console dir", e))?;
    let path = dir.join("cluster.yaml");
    let text = super::config::render(&s, api.bundle_path.as_deref());
    write_private(&path, &text).map_err(|e| Error::internal("writing cluster.yaml", e))?;
    Ok(path)
}

/// What a host whose secret was forgotten (a restart) needs again, and how to give it.
pub fn secret_missing_message(h: &SavedHost, held: &HostSecrets) -> String {
    let what = if h.auth_kind == "key" && held.private_key.is_none() {
        format!(
            "its private key ({}) pasted",
            h.key_fingerprint
                .as_deref()
                .unwrap_or("the one given before")
        )
    } else if h.auth_kind == "password" && held.password.is_none() {
        "its password".to_string()
    } else if h.become_password_given && held.become_password.is_none() {
        "its sudo password".to_string()
    } else {
        "its key passphrase".to_string()
    };
    format!(
        "host {} needs {what} again (secrets are kept in memory only and the server restarted): \
         remove the host and add it again",
        h.id
    )
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    std::fs::rename(tmp, path)
}

/// The console's secrets as the CLI's overrides.
fn secrets(api: &Api) -> HashMap<String, embedded::Secrets> {
    api.wizard
        .all_secrets()
        .into_iter()
        .map(|(h, s)| {
            (
                h,
                embedded::Secrets {
                    password: s.password.map(SecretSource::Inline),
                    private_key: s.private_key,
                    passphrase: s.passphrase.map(SecretSource::Inline),
                    become_password: s.become_password.map(SecretSource::Inline),
                },
            )
        })
        .collect()
}

/// Run `argv` in this process on its own thread and runtime (the CLI's futures are written for
/// `main`, not for being spawned on the server's runtime); its exit code comes back on `rx`.
fn start(
    argv: Vec<String>,
    secrets: HashMap<String, embedded::Secrets>,
) -> Result<tokio::sync::oneshot::Receiver<u8>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("cairn-api-run".into())
        .spawn(move || {
            let code = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(embedded::run(argv, secrets)),
                Err(e) => {
                    eprintln!("error: cannot start a runtime for the run: {e}");
                    1
                }
            };
            let _ = tx.send(code);
        })
        .map_err(|e| Error::internal("starting the run", e))?;
    Ok(rx)
}

/// Start `argv` in this process and wait for its run of `kind` to be recorded.
async fn launch(api: &Arc<Api>, argv: Vec<String>, kind: &str, wait: Duration) -> Result<i64> {
    let before = api.store()?.last_run_id()?;
    let mut rx = start(argv, secrets(api))?;
    let pid = std::process::id();
    let t0 = Instant::now();
    loop {
        if let Some(id) = api.store()?.run_after(before, kind, pid)? {
            return Ok(id);
        }
        let ended = match rx.try_recv() {
            Ok(code) => Some(code),
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => None,
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => Some(1),
        };
        if let Some(code) = ended {
            // Recorded at the very end (pre-flight)?
            if let Some(id) = api.store()?.run_after(before, kind, pid)? {
                return Ok(id);
            }
            return Err(not_started(api, before, kind, code));
        }
        if t0.elapsed() > wait {
            return Err(Error::internal(
                "starting the run",
                format!("no {kind} run recorded after {} s", wait.as_secs()),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Why a command ended without recording its run: the pre-flight's failures when that is it.
fn not_started(api: &Api, before: i64, kind: &str, code: u8) -> Error {
    let pid = std::process::id();
    let preflight = api
        .store()
        .ok()
        .and_then(|s| s.run_after(before, "preflight", pid).ok().flatten());
    if let Some(run) = preflight {
        let failed: Vec<String> = api
            .store()
            .ok()
            .and_then(|s| s.checks(run).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.status == "fail" || c.status == "pending")
            .map(|c| {
                format!(
                    "{} {}: {}{}",
                    c.host,
                    c.id,
                    c.value,
                    c.remedy.map(|r| format!(" ({r})")).unwrap_or_default()
                )
            })
            .collect();
        return Error::invalid(format!(
            "pre-flight failed (run {run}): the {kind} did not start; fix these or ignore them explicitly"
        ))
        .details(failed);
    }
    Error::invalid(format!(
        "the {kind} did not start (exit code {code}): the server's log says why"
    ))
}

/// A body that may be empty (then the defaults).
fn optional_json<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| Error::invalid(format!("bad request body: {e}")))
}

fn base_args(api: &Api, command: &str, config: &std::path::Path) -> Vec<String> {
    let mut v = vec![
        command.to_string(),
        "--config".into(),
        config.display().to_string(),
        "--state-dir".into(),
        api.state_dir.display().to_string(),
    ];
    if command == "install" {
        v.push("--json".into());
        if let Some(p) = &api.playbooks {
            v.push("--playbooks".into());
            v.push(p.display().to_string());
        }
    } else {
        v.push("--json".into());
    }
    v
}

pub async fn preflight(
    State(api): State<Arc<Api>>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<RunStarted>)> {
    let req: PreflightRequest = optional_json(&body)?;
    // Fix only ids --fix has a remedy for; each goes into one `--fix-only=...` argument, so a
    // value is never read as another flag.
    if let Some(id) = req
        .fix_only
        .iter()
        .find(|id| !cairn_engine::preflight::fix::fixable(id) || id.contains(','))
    {
        return Err(Error::invalid(format!(
            "{id:?} has no safe remedy: Fix applies only to sysctl:*, module:*, swap, swap_fstab and time_sync"
        )));
    }
    let _one = api
        .launching
        .try_lock()
        .map_err(|_| Error::conflict("a pre-flight or install is being started: wait for it"))?;
    if !req.ignore.is_empty() {
        api.wizard.update(&api, |s| {
            for id in &req.ignore {
                if !s.preflight_ignore.contains(id) {
                    s.preflight_ignore.push(id.clone());
                }
            }
            Ok(())
        })?;
    }
    let config = write_config(&api)?;
    let mut argv = base_args(&api, "preflight", &config);
    // "Fix" in the console: the CLI's own --fix (the same remedies, then the checks again),
    // as one `--fix-only=...` argument (checked above).
    if !req.fix_only.is_empty() {
        argv.push(format!("--fix-only={}", req.fix_only.join(",")));
    } else if req.fix {
        argv.push("--fix".into());
    }
    // The CLI records a pre-flight run when all checks are in.
    let run = launch(&api, argv, "preflight", Duration::from_secs(300)).await?;
    api.wizard.update(&api, |s| {
        s.preflight_run = Some(run);
        Ok(())
    })?;
    Ok((StatusCode::ACCEPTED, Json(RunStarted { run })))
}

async fn start_install(api: Arc<Api>, ignore_preflight: bool, resume: bool) -> Result<i64> {
    let _one = api
        .launching
        .try_lock()
        .map_err(|_| Error::conflict("a pre-flight or install is being started: wait for it"))?;
    let config = write_config(&api)?;
    let name = api.wizard.snapshot().cluster.name;
    if api.wizard.snapshot().cluster.installer_address.is_empty() {
        return Err(Error::invalid(
            "the installer's address is not set (Cluster settings): the hosts fetch the bundle from it",
        ));
    }
    // One install per cluster: refuse now, with the holder, rather than after a start.
    match crate::install::lock::acquire(&api.state_dir, &name) {
        Ok(l) => drop(l),
        Err(e) => return Err(Error::conflict(e.to_string())),
    }
    let mut argv = base_args(&api, "install", &config);
    if resume {
        argv.push("--resume".into());
    }
    if ignore_preflight {
        // Every failing check of the last pre-flight, by id: shown as ignored in the run.
        let ids: Vec<String> = api
            .wizard
            .snapshot()
            .preflight_run
            .and_then(|r| api.store().ok()?.checks(r).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.status == "fail")
            .map(|c| c.id)
            .collect();
        if !ids.is_empty() {
            argv.push("--ignore-preflight".into());
            argv.push(ids.join(","));
        }
    }
    let run = launch(&api, argv, crate::install::resume::KIND, INSTALL_WAIT).await?;
    api.wizard.update(&api, |s| {
        s.install_run = Some(run);
        Ok(())
    })?;
    Ok(run)
}

pub async fn install(
    State(api): State<Arc<Api>>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<RunStarted>)> {
    let req: InstallRequest = optional_json(&body)?;
    let run = start_install(api, req.ignore_preflight, false).await?;
    Ok((StatusCode::ACCEPTED, Json(RunStarted { run })))
}

/// The run must be this cluster's newest install: `--resume` judges each host by it.
fn check_latest_install(api: &Api, id: i64) -> Result<()> {
    let store = api.store()?;
    let run = store.run(id)?;
    if run.kind != crate::install::resume::KIND {
        return Err(Error::invalid(format!(
            "run {id} is a {} run, not an install",
            run.kind
        )));
    }
    let name = api.wizard.snapshot().cluster.name;
    let newest = store
        .runs(10_000)?
        .into_iter()
        .find(|r| r.kind == run.kind && r.title == name)
        .map(|r| r.id);
    if newest != Some(id) {
        return Err(Error::conflict(format!(
            "run {id} is not the newest install of cluster {name:?}: only the newest can be resumed or retried"
        )));
    }
    if run.status == "running" {
        return Err(Error::conflict(format!("run {id} is still running")));
    }
    Ok(())
}

pub async fn resume(
    State(api): State<Arc<Api>>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<RunStarted>)> {
    check_latest_install(&api, id)?;
    let run = start_install(api, false, true).await?;
    Ok((StatusCode::ACCEPTED, Json(RunStarted { run })))
}

/// Failed and unreachable hosts of the newest install run again: exactly what `--resume`
/// selects for that run (hosts that did not finish), so both go through it.
pub async fn retry_failed(
    State(api): State<Arc<Api>>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<RunStarted>)> {
    check_latest_install(&api, id)?;
    let failed = api
        .store()?
        .results(id)?
        .iter()
        .any(|r| (r.outcome == "failed" || r.outcome == "unreachable") && !r.ignored);
    if !failed {
        return Err(Error::invalid(format!("run {id} has no failed host")));
    }
    let run = start_install(api, false, true).await?;
    Ok((StatusCode::ACCEPTED, Json(RunStarted { run })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_engine::secret::Secret;

    #[test]
    fn a_forgotten_secret_is_named() {
        let key = SavedHost {
            id: "lab57".into(),
            auth_kind: "key".into(),
            key_fingerprint: Some("SHA256:abc".into()),
            secret_given: true,
            ..Default::default()
        };
        assert_eq!(
            secret_missing_message(&key, &HostSecrets::default()),
            "host lab57 needs its private key (SHA256:abc) pasted again (secrets are kept in memory \
             only and the server restarted): remove the host and add it again"
        );
        let pw = SavedHost {
            auth_kind: "password".into(),
            become_password_given: true,
            ..key.clone()
        };
        assert!(
            secret_missing_message(&pw, &HostSecrets::default())
                .contains("needs its password again")
        );
        let held = HostSecrets {
            password: Some(Secret::new("x")),
            ..Default::default()
        };
        assert!(secret_missing_message(&pw, &held).contains("needs its sudo password again"));
    }
}
