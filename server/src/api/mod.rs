//! `/api`: the console's JSON API and event stream, served by `cairn serve` on the bundle's
//! port.
//!
//! One concept per file: [`auth`] (admin token, sessions, CSRF guard), [`error`] (statuses and
//! `ApiError` bodies), [`runs`] (history and a run's full record), [`events`] (the SSE stream:
//! replay from the store, then follow), [`watch`] (noticing the store's commits, by this process
//! or another), [`bundle`] (what the served bundle holds), [`wizard`] (the wizard's state kept
//! in the store, secrets in memory), [`hosts`] (adding, scanning, accepting host keys),
//! [`roles`] (assignment and its validation), [`config`] (cluster.yaml out and in), [`launch`]
//! (pre-flight and install runs started in this process through the CLI's own code),
//! [`openapi`] (the OpenAPI document), [`throttle`] (wrong admin tokens rate limited per address).
//!
//! This layer is the only one that serializes for the wire, with `cairn-protocol`'s types.
//! Must not: hold engine, store SQL or serving logic, or return/log a secret.

pub mod auth;
pub mod bundle;
pub mod config;
pub mod downloads;
pub mod error;
pub mod events;
pub mod hosts;
pub mod launch;
pub mod openapi;
pub mod roles;
pub mod runs;
pub mod throttle;
pub mod watch;
pub mod wizard;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::middleware;
use axum::routing::{delete, get, post};
use cairn_protocol::api::BundleInfo;

use crate::store::Store;
use crate::store::api_state::TokenHash;

/// The API's shared state.
pub struct Api {
    store: Mutex<Store>,
    pub state_dir: PathBuf,
    pub token: TokenHash,
    /// Served over TLS (cookies get `Secure`, Origin must be https).
    pub tls: bool,
    pub changes: watch::Changes,
    pub bundle: Option<BundleInfo>,
    /// The served bundle's file (cluster.yaml's `bundle:` for installs from the console).
    pub bundle_path: Option<PathBuf>,
    /// `cairn serve --playbooks DIR`: installs from the console run DIR/site.yml.
    pub playbooks: Option<PathBuf>,
    pub wizard: wizard::Wizard,
    /// One launch (pre-flight or install) at a time from this server.
    pub launching: tokio::sync::Mutex<()>,
    /// Wrong admin tokens per client address.
    pub throttle: throttle::Throttle,
}

/// What `cairn serve` hands the API.
pub struct Setup {
    pub state_dir: PathBuf,
    pub tls: bool,
    pub bundle: Option<BundleInfo>,
    pub bundle_path: Option<PathBuf>,
    pub playbooks: Option<PathBuf>,
}

impl Api {
    /// Open the store, set up the admin token (returned when newly made, to print once), and
    /// start the change watcher.
    pub fn start(setup: Setup) -> Result<(Arc<Api>, Option<String>), crate::store::StoreError> {
        let store = Store::open_in(&setup.state_dir)?;
        let env = std::env::var(auth::TOKEN_ENV).ok();
        let (token, printed) = auth::setup_token(&store, env)?;
        let wizard = wizard::Wizard::load(&store)?;
        let changes = watch::start(Store::open_in(&setup.state_dir)?);
        Ok((
            Arc::new(Api {
                store: Mutex::new(store),
                state_dir: setup.state_dir,
                token,
                tls: setup.tls,
                changes,
                bundle: setup.bundle,
                bundle_path: setup.bundle_path,
                playbooks: setup.playbooks,
                wizard,
                launching: tokio::sync::Mutex::new(()),
                throttle: throttle::Throttle::default(),
            }),
            printed,
        ))
    }

    /// The store, for one short query (never held across an await).
    pub fn store(&self) -> error::Result<MutexGuard<'_, Store>> {
        self.store
            .lock()
            .map_err(|_| error::Error::internal("the state store", "lock poisoned"))
    }
}

/// The `/api` routes with their guards (session, then CSRF).
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/session", get(auth::session))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/runs", get(runs::list))
        .route("/api/runs/{id}", get(runs::record))
        .route("/api/runs/{id}/events", get(events::stream))
        .route("/api/runs/{id}/resume", post(launch::resume))
        .route("/api/runs/{id}/retry-failed", post(launch::retry_failed))
        .route("/api/bundle", get(bundle::get))
        .route("/api/wizard", get(wizard::get))
        .route(
            "/api/cluster",
            get(wizard::get_cluster).put(wizard::put_cluster),
        )
        .route("/api/hosts", get(hosts::list).post(hosts::add))
        .route("/api/hosts/{id}", delete(hosts::remove))
        .route("/api/hosts/{id}/scan", post(hosts::scan))
        .route("/api/hosts/{id}/accept", post(hosts::accept))
        .route("/api/roles", get(roles::get).put(roles::put))
        .route("/api/preflight", post(launch::preflight))
        .route("/api/cluster.yaml", get(config::export))
        .route("/api/pki/ca.crt", get(downloads::ca))
        .route("/api/pki/kubeconfig", get(downloads::kubeconfig))
        .route("/api/config", post(config::import))
        .route("/api/install", post(launch::install))
        .layer(middleware::from_fn_with_state(
            api.clone(),
            auth::csrf_guard,
        ))
        .layer(middleware::from_fn_with_state(
            api.clone(),
            auth::require_session,
        ))
        .with_state(api)
}

#[cfg(test)]
mod tests;
