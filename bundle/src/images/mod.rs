//! Container images in a bundle: every source is brought to an OCI image layout (a directory
//! with `index.json` and `blobs/sha256/`), then the blobs each image needs are collected,
//! stored once under `images/blobs/sha256/<hex>` (layers shared between images are stored
//! once), and `images/index.json` lists every `repository:tag` (annotation
//! `io.containerd.image.name`, and the tag as `org.opencontainers.image.ref.name`), so the
//! bundle's `images/` is itself an OCI image layout.
//!
//! One concept per file: [`reference`] (names, tags, digests, sources), [`layout`] (reading an
//! OCI layout and walking an image's manifests with the platform filter), [`docker_archive`]
//! (converting `docker save` output to a layout). `docker://` sources are pulled by a
//! [`Fetch`] the caller provides (the CLI's registry client): this crate does no HTTP.
//!
//! Must not: do network I/O, or rewrite a manifest except to drop platforms from an index.

pub mod docker_archive;
pub mod layout;
pub mod reference;

use crate::fetch::Transfer;
pub use crate::fetch::{Fetch, NoFetch};
use crate::spec::{ImageSpec, LoadedSpec};
use reference::Source;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where blobs live in the bundle: `images/blobs/sha256/<hex>`.
pub const BLOBS_DIR: &str = "images/blobs/sha256";
/// The bundle's image index (OCI layout `index.json`).
pub const INDEX_PATH: &str = "images/index.json";
/// The OCI layout marker file.
pub const LAYOUT_PATH: &str = "images/oci-layout";
/// Annotation holding the full `repository:tag` (as containerd's exports do).
pub const IMAGE_NAME: &str = "io.containerd.image.name";
/// Annotation holding the tag (OCI image layout).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Whether `media_type` is an index (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// Whether `media_type` is a manifest this code understands (index or image manifest).
pub fn is_manifest(media_type: &str) -> bool {
    is_index(media_type) || media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// A content-addressed blob to store at `images/blobs/sha256/<hex>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub hex: String,
    pub size: u64,
    pub media_type: String,
    pub file: PathBuf,
}

/// Everything the images of a spec add to a bundle.
#[derive(Debug, Default)]
pub struct Collected {
    /// By hex digest: each blob once.
    pub blobs: BTreeMap<String, Blob>,
    /// `images/index.json` and `images/oci-layout`, written into the scratch directory.
    pub index_file: Option<PathBuf>,
    pub layout_file: Option<PathBuf>,
    /// `repository:tag` → the digest it points at, in name order.
    pub refs: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("images: {name}: {message}")]
    Image { name: String, message: String },
    #[error("images: {0} is listed twice")]
    Duplicate(String),
    #[error("images: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Collects the images of `spec` (sources resolved against the spec's directory), using
/// `scratch` for converted and pulled images and generated files.
pub fn collect(
    spec: &LoadedSpec,
    scratch: &Path,
    fetch: &mut dyn Fetch,
    progress: &mut dyn FnMut(Transfer),
) -> Result<Collected, ImageError> {
    let mut out = Collected::default();
    if spec.spec.images.is_empty() {
        return Ok(out);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImageError::Io { path, source }
    };
    std::fs::create_dir_all(scratch).map_err(io(scratch))?;
    let platforms: Vec<String> = spec.spec.platforms.iter().map(|p| p.to_string()).collect();
    let mut tops = Vec::new();
    for (i, image) in spec.spec.images.iter().enumerate() {
        let name = image.name.to_string();
        if out.refs.contains_key(&name) {
            return Err(ImageError::Duplicate(name));
        }
        let fail = |message: String| ImageError::Image {
            name: name.clone(),
            message,
        };
        let work = scratch.join(format!("image-{i}"));
        let (dir, tag) =
            source_layout(spec, image, &platforms, &work, fetch, progress).map_err(fail)?;
        let layout = layout::Layout::open(&dir).map_err(fail)?;
        let top = layout.select(tag.as_deref()).map_err(fail)?;
        let mut walk = layout::Walk {
            layout: &layout,
            platforms: &platforms,
            scratch: &work,
            blobs: &mut out.blobs,
        };
        let top = walk.manifest(&top).map_err(fail)?;
        out.refs.insert(name.clone(), top.digest.clone());
        tops.push((name, top));
    }
    tops.sort_by(|a, b| a.0.cmp(&b.0));
    let manifests: Vec<serde_json::Value> = tops
        .iter()
        .map(|(name, d)| {
            let (_, tag) = reference::split_tag(name);
            json!({
                "mediaType": d.media_type,
                "digest": d.digest,
                "size": d.size,
                "annotations": { IMAGE_NAME: name, REF_NAME: tag.unwrap_or_default() },
            })
        })
        .collect();
    let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut bytes = serde_json::to_vec_pretty(&index).expect("JSON values serialize");
    bytes.push(b'\n');
    let index_file = scratch.join("index.json");
    std::fs::write(&index_file, bytes).map_err(io(&index_file))?;
    let layout_file = scratch.join("oci-layout");
    std::fs::write(&layout_file, "{\"imageLayoutVersion\":\"1.0.0\"}\n")
        .map_err(io(&layout_file))?;
    out.index_file = Some(index_file);
    out.layout_file = Some(layout_file);
    Ok(out)
}

/// The OCI layout directory and tag an image's source comes down to.
fn source_layout(
    spec: &LoadedSpec,
    image: &ImageSpec,
    platforms: &[String],
    work: &Path,
    fetch: &mut dyn Fetch,
    progress: &mut dyn FnMut(Transfer),
) -> Result<(PathBuf, Option<String>), String> {
    match image.from.parsed() {
        Source::Oci { dir, tag } => Ok((spec.resolve(&dir), tag)),
        Source::DockerArchive { file, image } => {
            let dir = work.join("layout");
            let tag = docker_archive::convert(&spec.resolve(&file), image.as_deref(), &dir)?;
            Ok((dir, Some(tag)))
        }
        Source::Registry(r) => {
            let dir = work.join("layout");
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let tag = fetch
                .fetch(&r, image.insecure, platforms, &dir, progress)
                .map_err(|e| format!("{r}: {e}"))?;
            Ok((dir, Some(tag)))
        }
    }
}

#[cfg(test)]
mod tests;
