//! `cairn init [--out FILE]`: write a commented example cluster.yaml (every field, with what it
//! means) to stdout or to a new file. Must not: overwrite a file (the user's real config could
//! be there).

use super::{EXIT_OK, EXIT_USAGE};
use std::io::Write;
use std::path::PathBuf;

/// The example, kept in its own file so it reads as YAML; a test loads it.
pub const EXAMPLE: &str = include_str!("init_example.yaml");

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write to this file (it must not exist) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let Some(path) = args.out else {
        super::out(EXAMPLE);
        return Ok(EXIT_OK);
    };
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| f.write_all(EXAMPLE.as_bytes()));
    match created {
        Ok(()) => {
            eprintln!(
                "wrote {}: edit the hosts, roles and installer address, then run `cairn install --config {}`",
                path.display(),
                path.display()
            );
            Ok(EXIT_OK)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "error: {} already exists; cairn init does not overwrite files: choose another --out, or remove it first",
                path.display()
            );
            Ok(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            Ok(EXIT_USAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_engine::inventory;

    #[test]
    fn the_example_loads_without_error_or_warning() {
        let loaded = inventory::load_str("cluster.yaml", EXAMPLE)
            .unwrap_or_else(|e| panic!("{}", e.render()));
        assert!(loaded.warnings.is_empty(), "{}", loaded.render_warnings());
        let s = loaded.settings.unwrap();
        assert_eq!(s.name, "example");
        assert_eq!(s.installer.unwrap().port, 8080);
        assert_eq!(s.versions[0].version, "3.4.23");
        assert_eq!(s.preflight.offset_fail_seconds, Some(2.0));
        assert_eq!(
            loaded.inventory.group_hosts("etcd"),
            ["node1", "node2", "node3"]
        );
    }

    /// Every top-level key cluster.yaml accepts appears in the example.
    #[test]
    fn the_example_shows_every_section() {
        for key in [
            "apiVersion:",
            "kind:",
            "name:",
            "defaults:",
            "hosts:",
            "roles:",
            "installer:",
            "bundle:",
            "network:",
            "versions:",
            "pki:",
            "preflight:",
            "vars:",
        ] {
            assert!(EXAMPLE.lines().any(|l| l.starts_with(key)), "{key}");
        }
    }

    #[test]
    fn out_refuses_to_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("cluster.yaml");
        assert_eq!(
            run(Args {
                out: Some(p.clone())
            })
            .unwrap(),
            EXIT_OK
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), EXAMPLE);
        std::fs::write(&p, "mine").unwrap();
        assert_eq!(
            run(Args {
                out: Some(p.clone())
            })
            .unwrap(),
            EXIT_USAGE
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "mine");
    }
}
