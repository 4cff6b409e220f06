//! `GET /api/pki/ca.crt` and `GET /api/pki/kubeconfig`: the done page's downloads, the wizard
//! cluster's CA certificate and its admin kubeconfig, as `cairn install` wrote them in the
//! state dir (`pki/CLUSTER/ca.crt`, `pki/CLUSTER/kube/admin.conf`).
//!
//! The kubeconfig holds the cluster admin's private key: like every `/api` route it needs a
//! session, and it is sent `no-store` so no cache keeps it. Must not: make certificates (that
//! is `cairn install`'s PKI step) or serve any other file of the state dir.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::Api;
use super::error::{Error, Result};

/// The wizard cluster's PKI directory.
fn pki_dir(api: &Api) -> PathBuf {
    crate::pki::cluster_dir(&api.state_dir, &api.wizard.snapshot().cluster.name)
}

fn send(path: PathBuf, name: &str, kind: &str, missing: String) -> Result<Response> {
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::not_found(missing));
        }
        Err(e) => return Err(Error::internal(&path.display().to_string(), e)),
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        text,
    )
        .into_response())
}

pub async fn ca(State(api): State<Arc<Api>>) -> Result<Response> {
    let name = api.wizard.snapshot().cluster.name;
    send(
        pki_dir(&api).join("ca.crt"),
        &format!("{name}-ca.crt"),
        "application/x-pem-file",
        format!("cluster {name:?} has no CA yet: it is made by the install's first run"),
    )
}

pub async fn kubeconfig(State(api): State<Arc<Api>>) -> Result<Response> {
    let name = api.wizard.snapshot().cluster.name;
    send(
        pki_dir(&api).join("kube/admin.conf"),
        &format!("{name}-admin.conf"),
        "application/yaml",
        format!(
            "cluster {name:?} has no admin kubeconfig: it is made when the cluster has kube_master hosts and the install has run"
        ),
    )
}
