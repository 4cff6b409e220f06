//! A one-layer OCI image layout written by a test (no registry, no tools): what the bundle and
//! registry tests push, pull or bundle.

use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::path::Path;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Writes an OCI image layout to `dir` holding one image (an amd64/linux config and `layer`
/// as its only layer), tagged `1`; returns the manifest's digest (`sha256:…`).
pub fn image_layout(dir: &Path, layer: &[u8]) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    for b in [&config[..], layer] {
        std::fs::write(blobs.join(sha(b)), b).unwrap();
    }
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", sha(config)), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": format!("sha256:{}", sha(layer)), "size": layer.len()}],
    })
    .to_string();
    std::fs::write(blobs.join(sha(manifest.as_bytes())), &manifest).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": format!("sha256:{}", sha(manifest.as_bytes())),
        "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "1"}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    format!("sha256:{}", sha(manifest.as_bytes()))
}
