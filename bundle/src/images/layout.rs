//! Reading an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/<hex>`)
//! and walking one image: its manifest or index, the manifests an index lists (only the
//! spec's platforms when it names any), and their config and layer blobs.
//!
//! Manifests are read and checked against their digest before they are parsed, so nothing
//! is believed about an image before its bytes are proven. Large blobs (layers) are only
//! checked for presence and size here; the bundle writer hashes every blob against the digest
//! in its name.
//!
//! Must not: rewrite a manifest, except an index whose platforms were filtered (a new index
//! with a new digest, written to the scratch directory).

use super::{Blob, is_index, is_manifest, reference};
use oci_spec::image::{ImageIndex, ImageManifest};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Manifests are read into memory: bounded.
const MAX_MANIFEST: u64 = 4 << 20;

/// What a descriptor says about a blob: enough to serve and store it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desc {
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
}

impl Desc {
    fn from_oci(d: &oci_spec::image::Descriptor) -> Desc {
        Desc {
            media_type: d.media_type().to_string(),
            digest: d.digest().to_string(),
            size: d.size(),
        }
    }

    fn hex(&self) -> Result<&str, String> {
        reference::sha256_hex(&self.digest)
            .ok_or_else(|| format!("digest {:?} is not sha256:<64 lowercase hex>", self.digest))
    }
}

/// An opened layout.
pub struct Layout {
    pub dir: PathBuf,
    index: ImageIndex,
}

impl Layout {
    pub fn open(dir: &Path) -> Result<Layout, String> {
        let index_path = dir.join("index.json");
        let bytes = std::fs::read(&index_path).map_err(|e| {
            format!(
                "{}: {e} (an oci: source is an OCI image layout directory, e.g. made with `skopeo copy … oci:DIR:TAG`)",
                index_path.display()
            )
        })?;
        let index: ImageIndex = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: not an OCI index: {e}", index_path.display()))?;
        Ok(Layout {
            dir: dir.to_path_buf(),
            index,
        })
    }

    /// The descriptor `tag` names (`org.opencontainers.image.ref.name`), or the only one.
    pub fn select(&self, tag: Option<&str>) -> Result<Desc, String> {
        let ms = self.index.manifests();
        let tag_of = |d: &oci_spec::image::Descriptor| {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(super::REF_NAME).cloned())
        };
        let found: Vec<_> = match tag {
            Some(t) => ms
                .iter()
                .filter(|d| tag_of(d).as_deref() == Some(t))
                .collect(),
            None => ms.iter().collect(),
        };
        match found.as_slice() {
            [d] => Ok(Desc::from_oci(d)),
            [] if tag.is_some() => Err(format!(
                "{}: no image tagged {:?} in index.json (it has: {})",
                self.dir.display(),
                tag.unwrap_or_default(),
                tags(ms.iter().filter_map(tag_of))
            )),
            [] => Err(format!("{}: index.json lists no image", self.dir.display())),
            _ => Err(format!(
                "{}: index.json lists {} images; name one with oci:DIR:TAG (tags: {})",
                self.dir.display(),
                found.len(),
                tags(ms.iter().filter_map(tag_of))
            )),
        }
    }

    pub fn blob_path(&self, hex: &str) -> PathBuf {
        self.dir.join("blobs/sha256").join(hex)
    }

    /// A manifest's bytes, checked against its descriptor's size and digest.
    fn read_manifest(&self, d: &Desc) -> Result<Vec<u8>, String> {
        let hex = d.hex()?;
        if d.size > MAX_MANIFEST {
            return Err(format!(
                "manifest {} is {} bytes, more than {MAX_MANIFEST}",
                d.digest, d.size
            ));
        }
        let path = self.blob_path(hex);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if bytes.len() as u64 != d.size || actual != hex {
            return Err(format!(
                "{}: does not match its descriptor ({} bytes, sha256:{actual}; expected {} bytes, {})",
                path.display(),
                bytes.len(),
                d.size,
                d.digest
            ));
        }
        Ok(bytes)
    }
}

fn tags(t: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = t.collect();
    if v.is_empty() {
        "no tags".into()
    } else {
        v.join(", ")
    }
}

/// One image walk: collects blobs, may write a filtered index to `scratch`.
pub struct Walk<'a> {
    pub layout: &'a Layout,
    /// `os/arch` to keep from an index; empty keeps all.
    pub platforms: &'a [String],
    pub scratch: &'a Path,
    pub blobs: &'a mut BTreeMap<String, Blob>,
}

impl Walk<'_> {
    /// Adds the manifest (or index) `d` and everything it references; returns the descriptor
    /// to publish (different from `d` only when an index lost platforms).
    pub fn manifest(&mut self, d: &Desc) -> Result<Desc, String> {
        let bytes = self.layout.read_manifest(d)?;
        // The document's own mediaType is what it is served as; the descriptor's otherwise.
        #[derive(serde::Deserialize)]
        struct Probe {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
        }
        let probe: Probe = serde_json::from_slice(&bytes)
            .map_err(|e| format!("manifest {}: not JSON: {e}", d.digest))?;
        let media_type = probe.media_type.unwrap_or_else(|| d.media_type.clone());
        if !is_manifest(&media_type) {
            return Err(format!(
                "manifest {} has media type {media_type:?}; supported: OCI image index/manifest, \
                 Docker manifest list/schema 2",
                d.digest
            ));
        }
        if is_index(&media_type) {
            return self.index(d, &bytes, media_type);
        }
        let m: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| format!("manifest {}: {e}", d.digest))?;
        for blob in std::iter::once(m.config()).chain(m.layers()) {
            self.blob(&Desc::from_oci(blob))?;
        }
        let d = Desc {
            media_type,
            ..d.clone()
        };
        self.store(&d, self.layout.blob_path(d.hex()?))?;
        Ok(d)
    }

    fn index(&mut self, d: &Desc, bytes: &[u8], media_type: String) -> Result<Desc, String> {
        let idx: ImageIndex =
            serde_json::from_slice(bytes).map_err(|e| format!("index {}: {e}", d.digest))?;
        let platform_of = |m: &oci_spec::image::Descriptor| {
            m.platform()
                .as_ref()
                .map(|p| format!("{}/{}", p.os(), p.architecture()))
        };
        let keep: Vec<&oci_spec::image::Descriptor> = idx
            .manifests()
            .iter()
            .filter(|m| {
                self.platforms.is_empty()
                    || platform_of(m).is_some_and(|p| self.platforms.contains(&p))
            })
            .collect();
        if keep.is_empty() {
            let have: Vec<String> = idx.manifests().iter().filter_map(platform_of).collect();
            return Err(format!(
                "index {} has no manifest for the spec's platforms ({}); it has: {}",
                d.digest,
                self.platforms.join(", "),
                tags(have.into_iter())
            ));
        }
        for m in &keep {
            let child = Desc::from_oci(m);
            let published = self.manifest(&child)?;
            if published.digest != child.digest {
                return Err(format!("nested index {} is not supported", child.digest));
            }
        }
        if keep.len() == idx.manifests().len() {
            let d = Desc {
                media_type,
                ..d.clone()
            };
            self.store(&d, self.layout.blob_path(d.hex()?))?;
            return Ok(d);
        }
        // Some platforms dropped: a new index with only the kept ones. Edited as JSON so
        // fields this code does not model survive.
        let kept: Vec<String> = keep.iter().map(|m| m.digest().to_string()).collect();
        let mut v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if let Some(arr) = v.get_mut("manifests").and_then(|m| m.as_array_mut()) {
            arr.retain(|m| {
                m.get("digest")
                    .and_then(|x| x.as_str())
                    .is_some_and(|x| kept.iter().any(|k| k == x))
            });
        }
        let new = serde_json::to_vec(&v).expect("JSON values serialize");
        let hex = hex::encode(Sha256::digest(&new));
        std::fs::create_dir_all(self.scratch).map_err(|e| e.to_string())?;
        let file = self.scratch.join(format!("index-{hex}.json"));
        std::fs::write(&file, &new).map_err(|e| format!("{}: {e}", file.display()))?;
        let d = Desc {
            media_type,
            digest: format!("sha256:{hex}"),
            size: new.len() as u64,
        };
        self.store(&d, file)?;
        Ok(d)
    }

    /// A config or layer: present with the right size (its digest is checked when written).
    fn blob(&mut self, d: &Desc) -> Result<(), String> {
        let path = self.layout.blob_path(d.hex()?);
        let meta = std::fs::metadata(&path).map_err(|e| {
            format!(
                "blob {} ({}): {}: {e}",
                d.digest,
                d.media_type,
                path.display()
            )
        })?;
        if meta.len() != d.size {
            return Err(format!(
                "{}: {} bytes, its descriptor says {}",
                path.display(),
                meta.len(),
                d.size
            ));
        }
        self.store(d, path)
    }

    fn store(&mut self, d: &Desc, file: PathBuf) -> Result<(), String> {
        let hex = d.hex()?.to_string();
        // The same blob under two media types (rare: a layer reused as a config) keeps the
        // first: the bundle stores bytes once; the manifests that reference it say what it is.
        self.blobs.entry(hex.clone()).or_insert(Blob {
            hex,
            size: d.size,
            media_type: d.media_type.clone(),
            file,
        });
        Ok(())
    }
}
