//! Cairn's offline bundle: one tar file (`NAME-VERSION.cairn`) holding a signed-able manifest
//! and the packages, files and playbooks an offline site needs. See `docs/bundle.md`.
//!
//! Modules, one concept each: [`apt`] (Debian repository metadata: control files,
//! `Packages`, `Release`), [`spec`] (the YAML an operator writes), [`debs`] (resolving
//! Debian packages on a connected machine: the only shell-out), [`manifest`] (the JSON index),
//! [`writer`] (building), [`reader`] (tar-level streaming rules), [`verify`] (checking every
//! byte), [`sign`] (Ed25519 keys and the manifest signature), [`repodata`] (yum/dnf repository
//! metadata for the bundle's RPMs), [`images`] (container images: OCI layouts, docker-archive
//! conversion, the content-addressed blob store), [`fetch`] (what a build asks of the network,
//! answered by the caller's HTTP client).
//!
//! Must not: know about HTTP or how a bundle is served, SSH, inventories or playbooks' meaning (they are files here), and must
//! not depend on `cairn-engine`.

pub mod apt;
pub mod debs;
pub mod fetch;
pub mod images;
pub mod manifest;
pub mod reader;
pub mod repodata;
pub mod sign;
pub mod spec;
pub mod verify;
pub mod writer;

/// `cairn X.Y.Z`, recorded in manifests (the workspace shares one version).
pub fn tool() -> String {
    format!("cairn {}", env!("CARGO_PKG_VERSION"))
}
