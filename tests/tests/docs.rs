//! The README's examples stay true: its cluster.yaml loads. No lab needed.

use std::process::Command;

#[test]
fn readme_cluster_yaml_is_valid() {
    let readme = std::fs::read_to_string(cairn_tests::repo_root().join("README.md")).unwrap();
    let start = readme.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let dir = cairn_tests::scratch("readme");
    let path = dir.join("cluster.yaml");
    std::fs::write(&path, &readme[start..end]).unwrap();
    let o = Command::new(cairn_tests::cairn_bin())
        .args(["inventory", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("Cairn cluster.yaml, 3 hosts"), "{out}");
}
