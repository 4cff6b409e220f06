//! Rebuilds `cairn` when the web console's build output (`console/dist/`, embedded by
//! `src/serve/console.rs`) appears or changes: its file names carry content hashes, so the
//! embedding macro alone would not notice new files.

fn main() {
    let dist = std::path::Path::new("../console/dist");
    if dist.is_dir() {
        println!("cargo::rerun-if-changed=../console/dist");
    } else {
        // Watching a missing path would rebuild every time; its parent notices it appearing.
        println!("cargo::rerun-if-changed=../console");
    }
}
