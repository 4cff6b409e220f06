//! `GET /api/bundle`: the bundle `cairn serve` serves: name, version, verified, contents.
//!
//! Owns the summary, made once at start from the verified index (no re-reading). Must not:
//! verify anything itself (`serve::open` did, before the server listened).

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use cairn_protocol::api::{BundleContents, BundleInfo, Package};

use super::Api;
use super::error::{Error, Result};
use crate::install::versions;
use crate::serve::open::Opened;

pub fn info(opened: &Opened, file: &Path, signed: bool) -> BundleInfo {
    let index = &opened.index;
    let m = &index.manifest;
    let pkg = |p: versions::Package| Package {
        name: p.name,
        version: p.version,
    };
    let debs = versions::from_deb_index(&String::from_utf8_lossy(&opened.deb.packages))
        .into_iter()
        .map(pkg)
        .collect();
    let rpms = index
        .under("rpms")
        .filter_map(|(p, _)| versions::from_rpm_path(p))
        .map(pkg)
        .collect();
    let images = opened
        .registry
        .repos
        .iter()
        .flat_map(|(name, repo)| repo.tags.keys().map(move |t| format!("{name}:{t}")))
        .collect();
    let files = index
        .under("files")
        .map(|(p, _)| p.strip_prefix("files/").unwrap_or(p).to_string())
        .collect();
    BundleInfo {
        name: m.name.clone(),
        version: m.version.clone(),
        file: file.display().to_string(),
        verified: true,
        signed,
        size_bytes: std::fs::metadata(file).map(|md| md.len()).unwrap_or(0),
        contents: BundleContents {
            debs,
            rpms,
            images,
            files,
            playbooks: index.under("playbooks").next().is_some(),
        },
    }
}

pub async fn get(State(api): State<Arc<Api>>) -> Result<Json<BundleInfo>> {
    api.bundle
        .clone()
        .map(Json)
        .ok_or_else(|| Error::not_found("this server serves no bundle"))
}
