//! Converting a docker-archive tarball (`docker save`, `skopeo copy … docker-archive:`) to an
//! OCI image layout: `manifest.json` names the config and the layer tars; each becomes a blob
//! named by its sha256, and a new OCI image manifest references them.
//!
//! Layers are kept exactly as they are in the archive (no recompression): an uncompressed tar
//! gets `application/vnd.oci.image.layer.v1.tar` (its digest is then its diff ID, which is
//! checked against the config's `rootfs.diff_ids`), a gzip or zstd stream (recognised by its
//! magic bytes, as Docker ≥ 25 may write) the `+gzip`/`+zstd` type. Recompressing would
//! make the digest depend on the compressor's version and cost CPU on every build; the price
//! is a larger bundle for uncompressed archives. The config bytes are kept as they are (a
//! Docker image config is a valid OCI config).
//!
//! Must not: unpack layers, or trust a path in the archive to name a file outside the output.

use super::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, REF_NAME};
use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType, Sha256Digest};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;

/// The tag the converted image gets in its layout.
pub const TAG: &str = "image";
/// `manifest.json` is read into memory: bounded.
const MAX_JSON: u64 = 16 << 20;

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// A file extracted from the archive into the layout.
#[derive(Clone, Debug)]
struct Stored {
    hex: String,
    size: u64,
    magic: [u8; 4],
}

/// Converts the image of `archive` (the one `image` names among its `RepoTags`, or the only
/// one) into an OCI layout at `out`; returns the tag to select it by.
pub fn convert(archive: &Path, image: Option<&str>, out: &Path) -> Result<String, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", archive.display());
    // Pass 1: manifest.json and the symlinks (older `docker save` links duplicate layers).
    let mut manifest = None;
    let mut links: HashMap<String, String> = HashMap::new();
    for_each_entry(archive, |path, entry| {
        match entry.header().entry_type() {
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| at(&e))?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                links.insert(path.to_string(), resolve_link(path, &target));
            }
            _ if path == "manifest.json" => {
                let mut b = Vec::new();
                entry
                    .take(MAX_JSON)
                    .read_to_end(&mut b)
                    .map_err(|e| at(&e))?;
                manifest = Some(b);
            }
            _ => {}
        }
        Ok(())
    })?;
    let manifest = manifest.ok_or_else(|| {
        at(&"no manifest.json: not a docker-archive (make one with `docker save` or `skopeo copy … docker-archive:FILE`)")
    })?;
    let images: Vec<ArchiveImage> =
        serde_json::from_slice(&manifest).map_err(|e| at(&format!("manifest.json: {e}")))?;
    let chosen = select(&images, image).map_err(|e| at(&e))?;

    // Pass 2: the config and the layers, each to blobs/sha256/<hex>.
    let resolve = |p: &str| links.get(p).cloned().unwrap_or_else(|| p.to_string());
    let wanted: Vec<String> = std::iter::once(&chosen.config)
        .chain(&chosen.layers)
        .map(|p| resolve(p))
        .collect();
    let blobs = out.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| format!("{}: {e}", blobs.display()))?;
    let mut stored: BTreeMap<String, Stored> = BTreeMap::new();
    for_each_entry(archive, |path, entry| {
        if entry.header().entry_type().is_file()
            && wanted.iter().any(|w| w == path)
            && !stored.contains_key(path)
        {
            let s = store(entry, &blobs).map_err(|e| at(&format!("{path}: {e}")))?;
            stored.insert(path.to_string(), s);
        }
        Ok(())
    })?;
    let get = |p: &str| {
        stored.get(&resolve(p)).cloned().ok_or_else(|| {
            at(&format!(
                "manifest.json names {p:?}, which the archive does not hold"
            ))
        })
    };
    let config = get(&chosen.config)?;
    let config_bytes = std::fs::read(blobs.join(&config.hex)).map_err(|e| at(&e))?;
    let diff_ids: Vec<String> = serde_json::from_slice::<serde_json::Value>(&config_bytes)
        .ok()
        .and_then(|v| {
            v.pointer("/rootfs/diff_ids")?.as_array().map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
        })
        .ok_or_else(|| at(&"the image config has no rootfs.diff_ids"))?;
    if diff_ids.len() != chosen.layers.len() {
        return Err(at(&format!(
            "the config lists {} diff_ids for {} layers",
            diff_ids.len(),
            chosen.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for (p, diff_id) in chosen.layers.iter().zip(&diff_ids) {
        let s = get(p)?;
        let media = match s.magic {
            [0x1f, 0x8b, ..] => MediaType::ImageLayerGzip,
            [0x28, 0xb5, 0x2f, 0xfd] => MediaType::ImageLayerZstd,
            _ => {
                if *diff_id != format!("sha256:{}", s.hex) {
                    return Err(at(&format!(
                        "layer {p}: its sha256 is {}, the config's diff_id says {diff_id}",
                        s.hex
                    )));
                }
                MediaType::ImageLayer
            }
        };
        layers.push(descriptor(media, &s)?);
    }
    let m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::from(OCI_MANIFEST))
        .config(descriptor(MediaType::from(OCI_CONFIG), &config)?)
        .layers(layers)
        .build()
        .map_err(|e| e.to_string())?;
    let bytes = serde_json::to_vec(&m).map_err(|e| e.to_string())?;
    let hex = hex::encode(Sha256::digest(&bytes));
    std::fs::write(blobs.join(&hex), &bytes).map_err(|e| e.to_string())?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": format!("sha256:{hex}"),
            "size": bytes.len(),
            "annotations": { REF_NAME: TAG },
        }],
    });
    std::fs::write(out.join("index.json"), index.to_string()).map_err(|e| e.to_string())?;
    std::fs::write(out.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}")
        .map_err(|e| e.to_string())?;
    Ok(TAG.to_string())
}

fn descriptor(media: MediaType, s: &Stored) -> Result<Descriptor, String> {
    let digest = Sha256Digest::from_str(&s.hex).map_err(|e| e.to_string())?;
    Ok(Descriptor::new(media, s.size, digest))
}

fn select<'a>(images: &'a [ArchiveImage], image: Option<&str>) -> Result<&'a ArchiveImage, String> {
    let all_tags = || {
        let t: Vec<&str> = images
            .iter()
            .flat_map(|i| i.repo_tags.iter().flatten().map(String::as_str))
            .collect();
        if t.is_empty() {
            "none".to_string()
        } else {
            t.join(", ")
        }
    };
    match image {
        Some(want) => images
            .iter()
            .find(|i| i.repo_tags.iter().flatten().any(|t| t == want))
            .ok_or_else(|| {
                format!(
                    "no image tagged {want:?} in the archive (it has: {})",
                    all_tags()
                )
            }),
        None => match images {
            [one] => Ok(one),
            [] => Err("manifest.json lists no image".into()),
            _ => Err(format!(
                "the archive holds {} images; name one with docker-archive:FILE:REPO:TAG (tags: {})",
                images.len(),
                all_tags()
            )),
        },
    }
}

/// Copies an entry to `blobs/<sha256>`, via a temporary name.
fn store(entry: &mut dyn Read, blobs: &Path) -> io::Result<Stored> {
    let tmp = blobs.join(".partial");
    let mut f = io::BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let (mut size, mut magic) = (0u64, [0u8; 4]);
    loop {
        let n = entry.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            if size + (i as u64) < 4 {
                magic[size as usize + i] = *b;
            } else {
                break;
            }
        }
        h.update(&buf[..n]);
        f.write_all(&buf[..n])?;
        size += n as u64;
    }
    f.flush()?;
    let hex = hex::encode(h.finalize());
    std::fs::rename(&tmp, blobs.join(&hex))?;
    Ok(Stored { hex, size, magic })
}

/// `target` of a symlink at `link`, as an archive path (`..` resolved; escaping the root
/// gives a path that matches no entry).
fn resolve_link(link: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        link.split('/').collect()
    };
    if !target.starts_with('/') {
        parts.pop();
    }
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return format!("/../{target}");
                }
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// Calls `f` with each entry's path (without a leading `./`) and the entry.
fn for_each_entry(
    archive: &Path,
    mut f: impl FnMut(&str, &mut tar::Entry<'_, File>) -> Result<(), String>,
) -> Result<(), String> {
    let at = |e: io::Error| format!("{}: {e}", archive.display());
    let mut a = tar::Archive::new(File::open(archive).map_err(at)?);
    for entry in a.entries().map_err(at)? {
        let mut entry = entry.map_err(at)?;
        let path = entry.path().map_err(at)?.to_string_lossy().into_owned();
        let path = path.strip_prefix("./").unwrap_or(&path).to_string();
        f(&path, &mut entry)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_the_archive() {
        for (link, target, want) in [
            ("a/layer.tar", "../b/layer.tar", "b/layer.tar"),
            ("a/layer.tar", "x.tar", "a/x.tar"),
            ("layer.tar", "../../etc/passwd", "/../../../etc/passwd"),
            ("a/l", "/abs", "abs"),
        ] {
            assert_eq!(resolve_link(link, target), want, "{link} -> {target}");
        }
    }
}
