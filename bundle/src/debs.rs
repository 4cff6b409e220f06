//! Resolving Debian package names to `.deb` files, on a connected build machine.
//!
//! This is the one place the bundle crate runs external programs: `apt-get` is how a connected
//! machine resolves names against its configured mirror. Resolution follows
//! `scripts/lab`'s `cmd_repo`: simulate an install of the packages against the *target's*
//! dpkg status (`base_status`), so what the base already has is not bundled, keep Depends and
//! Pre-Depends (Recommends off), then `apt-get download` the exact versions chosen.
//!
//! Must not: touch the build machine's installed packages (only `-s` simulation and
//! `download`; `update` only when the package lists are empty), or be used at install time.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The lab's base rootfs status file (`scripts/lab base`), used when a spec names none.
pub const LAB_BASE_STATUS: &str = "/var/lib/cairn-lab/base/var/lib/dpkg/status";

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error(
        "cannot run apt-get ({0}): resolving debs.packages needs a Debian/Ubuntu build machine with apt"
    )]
    NoApt(std::io::Error),
    #[error(
        "debs.packages needs to know what the target base system already has: set debs.base_status \
         to its dpkg status file (e.g. a copy of /var/lib/dpkg/status from a fresh host); the lab's \
         base {LAB_BASE_STATUS} does not exist either (scripts/lab base creates it)"
    )]
    NoBaseStatus,
    #[error("debs.base_status {0}: file not found")]
    BaseStatusMissing(PathBuf),
    #[error(
        "debs.suite is {want:?} but this build machine's apt is configured for {have:?}: \
         build on a {want} machine (resolving for another suite is not supported yet)"
    )]
    SuiteMismatch { want: String, have: String },
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("apt-get download gave {got} files for {want} packages in {dir}")]
    Incomplete {
        got: usize,
        want: usize,
        dir: PathBuf,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The status file to resolve against: the spec's, else the lab's base.
pub fn base_status(spec_value: Option<PathBuf>) -> Result<PathBuf, DebError> {
    match spec_value {
        Some(p) if p.is_file() => Ok(p),
        Some(p) => Err(DebError::BaseStatusMissing(p)),
        None if Path::new(LAB_BASE_STATUS).is_file() => Ok(PathBuf::from(LAB_BASE_STATUS)),
        None => Err(DebError::NoBaseStatus),
    }
}

/// A package apt chose: `name` (maybe `name:arch`) at `version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    pub name: String,
    pub version: String,
}

/// Resolves `packages` (plus dependencies missing from `base_status`) and downloads them into
/// `dest` (which should be empty). Returns the `.deb` files, sorted.
pub fn resolve_and_download(
    packages: &[String],
    base_status: &Path,
    suite: Option<&str>,
    dest: &Path,
) -> Result<Vec<PathBuf>, DebError> {
    if let Some(want) = suite {
        let have = host_codename().unwrap_or_else(|| "unknown".into());
        if have != want {
            return Err(DebError::SuiteMismatch {
                want: want.into(),
                have,
            });
        }
    }
    if !lists_present() {
        run(Command::new("apt-get").args(["-q", "-o", "DPkg::Lock::Timeout=900", "update"]))?;
    }
    let chosen = resolve(packages, base_status)?;
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let mut download = Command::new("apt-get");
    // As root, apt drops to _apt for downloads, which cannot write into our temp dir.
    download
        .current_dir(dest)
        .args(["-q", "-o", "APT::Sandbox::User=root", "download"])
        .args(chosen.iter().map(|c| format!("{}={}", c.name, c.version)));
    run(&mut download)?;
    let mut debs = Vec::new();
    let io = |source| DebError::Io {
        path: dest.to_path_buf(),
        source,
    };
    for e in std::fs::read_dir(dest).map_err(io)? {
        let p = e.map_err(io)?.path();
        if p.extension().is_some_and(|x| x == "deb") {
            debs.push(p);
        }
    }
    debs.sort();
    if debs.len() != chosen.len() {
        return Err(DebError::Incomplete {
            got: debs.len(),
            want: chosen.len(),
            dir: dest.to_path_buf(),
        });
    }
    Ok(debs)
}

/// What `apt-get -s install` would install on a system whose dpkg status is `base_status`.
pub fn resolve(packages: &[String], base_status: &Path) -> Result<Vec<Chosen>, DebError> {
    let out = run(Command::new("apt-get")
        .arg("-o")
        .arg(format!("Dir::State::status={}", base_status.display()))
        .args([
            "-o",
            "Debug::NoLocking=1",
            "-o",
            "APT::Install-Recommends=false",
            "-o",
            "APT::Install-Suggests=false",
            "-s",
            "install",
        ])
        .args(packages))?;
    Ok(parse_simulation(&out))
}

/// `Inst NAME [OLD] (VERSION REPO [ARCH])` lines of an apt simulation.
pub fn parse_simulation(out: &str) -> Vec<Chosen> {
    out.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Inst ")?;
            let name = rest.split_whitespace().next()?;
            let version = rest.split_once('(')?.1.split_whitespace().next()?;
            Some(Chosen {
                name: name.into(),
                version: version.into(),
            })
        })
        .collect()
}

fn run(cmd: &mut Command) -> Result<String, DebError> {
    let command = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(DebError::NoApt)?;
    if !out.status.success() {
        return Err(DebError::Failed {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn lists_present() -> bool {
    std::fs::read_dir("/var/lib/apt/lists").is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
    })
}

fn host_codename() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_simulation_output() {
        let out = "NOTE: This is only a simulation!\n\
                   Inst libfoo1 (1.2-3 Debian:12.5/stable [amd64])\n\
                   Inst chrony [4.3-1] (4.3-2+deb12u1 Debian-Security:12/stable-security [amd64])\n\
                   Conf libfoo1 (1.2-3 Debian:12.5/stable [amd64])\n";
        assert_eq!(
            parse_simulation(out),
            vec![
                Chosen {
                    name: "libfoo1".into(),
                    version: "1.2-3".into()
                },
                Chosen {
                    name: "chrony".into(),
                    version: "4.3-2+deb12u1".into()
                },
            ]
        );
    }

    #[test]
    fn missing_base_status_is_explained() {
        let e = base_status(Some("/nonexistent/status".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "debs.base_status /nonexistent/status: file not found"
        );
    }

    /// Real resolution against Debian's mirror: needs apt and network, so opt-in
    /// (`CAIRN_TEST_APT=1`); `cairn bundle build bundle/lab.yaml` exercises the same path.
    #[test]
    fn resolves_and_downloads_chrony() {
        if std::env::var_os("CAIRN_TEST_APT").is_none() {
            eprintln!("CAIRN_TEST_APT not set: skipping the real apt resolution test");
            return;
        }
        let base = base_status(None).expect("lab base");
        let dir = tempfile::tempdir().unwrap();
        let debs = resolve_and_download(&["chrony".into()], &base, None, dir.path()).unwrap();
        assert!(
            debs.iter().any(|p| p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("chrony_")),
            "{debs:?}"
        );
    }
}
