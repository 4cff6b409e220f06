//! `cairn install`'s pieces that are not command-line handling: the version check against
//! the bundle (`versions`), the one-install-per-cluster lock (`lock`), what `--resume` re-runs
//! (`resume`), where the playbooks come from (`playbooks`), the passwords Cairn generates
//! (`secrets`), the images it pushes into the on-site registry (`push`) and where the Kubernetes
//! binaries come from (`kube_binaries`). The order of the install
//! itself is in `cli/install.rs`, where it reads top to bottom.
//!
//! Must not: print (the CLI does), or hold check or engine logic.

pub mod kube_binaries;
pub mod lock;
pub mod playbooks;
pub mod push;
pub mod resume;
pub mod secrets;
pub mod summary;
pub mod versions;
