//! `cairn bundle build|verify|inspect|keygen` (and the hidden `repodata`, for benchmarks and
//! checks against createrepo_c): the offline bundle from the command line.
//!
//! Parses flags, calls `cairn-bundle`, draws progress bars (only when stderr is a terminal)
//! and renders results. Must not: hold bundle logic (format, checks) — that is `cairn-bundle`.

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use cairn_bundle::manifest::{EntryKind, Manifest};
use cairn_bundle::verify::{self, Signature};
use cairn_bundle::writer::{self, BuildEvent, BuildOptions};
use cairn_bundle::{reader, sign, spec};
use indicatif::{ProgressBar, ProgressStyle};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Build NAME-VERSION.cairn from a spec (e.g. bundle/lab.yaml). Set SOURCE_DATE_EPOCH for
    /// byte-identical rebuilds.
    Build {
        /// The bundle spec (YAML, `kind: Bundle`).
        spec: PathBuf,
        /// Directory to write the bundle to.
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
        /// Sign the manifest with this secret key (from `cairn bundle keygen`).
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
        /// Also trust the CA certificates in this PEM file for https:// downloads and
        /// registries (a private mirror's CA); repeatable. The system's roots are always trusted.
        #[arg(long, value_name = "FILE")]
        ca_cert: Vec<PathBuf>,
    },
    /// Check every entry of a bundle against its manifest (and the signature, with --key).
    Verify {
        file: PathBuf,
        /// Require a valid signature by this public key (KEY.pub from `cairn bundle keygen`).
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
    },
    /// Show what a bundle holds, from its manifest (does not verify: use `verify` for that).
    Inspect {
        file: PathBuf,
        /// Print the manifest as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create an Ed25519 key pair for signing bundles: PATH (secret, 0600) and PATH.pub.
    Keygen {
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Write DIR/repodata/ for the *.rpm files in DIR, as `createrepo_c --no-database DIR`
    /// does (the generator `bundle build` uses; for scripts/bench-repodata and comparisons).
    #[command(hide = true)]
    Repodata {
        dir: PathBuf,
        /// Threads reading RPMs (default: the CPUs available).
        #[arg(long, value_name = "N")]
        workers: Option<usize>,
    },
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    match args.command {
        Sub::Build {
            spec,
            out,
            sign,
            ca_cert,
        } => build(&spec, out, sign.as_deref(), &ca_cert),
        Sub::Verify { file, key } => verify(&file, key.as_deref()),
        Sub::Inspect { file, json } => inspect(&file, json),
        Sub::Keygen { out } => keygen(&out),
        Sub::Repodata { dir, workers } => repodata(&dir, workers),
    }
}

/// `DIR/repodata/` for `DIR/*.rpm`: hrefs are the file names and `time file` their mtimes, as
/// createrepo_c writes them. The new files are written beside the old and swapped in by rename.
fn repodata(dir: &Path, workers: Option<usize>) -> anyhow::Result<u8> {
    use cairn_bundle::repodata::{self, Input};
    use std::os::unix::fs::MetadataExt as _;
    let t0 = Instant::now();
    let mut inputs = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))? {
        let file = e?.path();
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".rpm") {
            continue;
        }
        let meta = std::fs::metadata(&file)?;
        if !meta.is_file() {
            continue;
        }
        inputs.push(Input {
            href: name.to_string(),
            time_file: meta.mtime().max(0) as u64,
            file,
        });
    }
    let threads =
        workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let packages = match repodata::read_all(&inputs, threads) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_FAILED);
        }
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let generated = repodata::generate(packages, now);
    let tmp = dir.join(".repodata.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("repodata"))?;
    for (path, bytes) in &generated.files {
        std::fs::write(tmp.join(path), bytes)?;
    }
    let old = dir.join(".repodata.old");
    let _ = std::fs::remove_dir_all(&old);
    let target = dir.join("repodata");
    if target.exists() {
        std::fs::rename(&target, &old)?;
    }
    std::fs::rename(tmp.join("repodata"), &target)?;
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::remove_dir_all(&old);
    eprintln!(
        "wrote {} for {} packages in {:.3} s",
        target.display(),
        generated.count,
        t0.elapsed().as_secs_f64()
    );
    Ok(EXIT_OK)
}

fn build(
    spec_path: &Path,
    out: PathBuf,
    key: Option<&Path>,
    ca_certs: &[PathBuf],
) -> anyhow::Result<u8> {
    let t0 = Instant::now();
    let loaded = match spec::load(spec_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let sign = match key.map(sign::read_secret).transpose() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: --sign: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let mut net = match crate::net::client(ca_certs) {
        Ok(client) => crate::net::Net {
            client,
            handle: tokio::runtime::Handle::current(),
        },
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let opts = BuildOptions {
        out_dir: out,
        sign,
        created: created_time(),
        tool: cairn_bundle::tool(),
    };
    let mut bar: Option<ProgressBar> = None;
    let tty = std::io::stderr().is_terminal();
    let mut progress = |ev: BuildEvent| {
        if !tty {
            return;
        }
        match ev {
            BuildEvent::Resolving => {
                let pb =
                    ProgressBar::new_spinner().with_message("resolving Debian packages (apt-get)");
                pb.enable_steady_tick(std::time::Duration::from_millis(120));
                if let Some(old) = bar.replace(pb) {
                    old.finish_and_clear();
                }
            }
            BuildEvent::Phase { name, total } => {
                let pb = byte_bar(total, name);
                if let Some(old) = bar.replace(pb) {
                    old.finish_and_clear();
                }
            }
            BuildEvent::Download { what, total } => {
                let pb = match total {
                    Some(t) => byte_bar(t, "download"),
                    None => {
                        let pb = ProgressBar::new_spinner();
                        pb.set_style(
                            ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                                .expect("valid template"),
                        );
                        pb.enable_steady_tick(std::time::Duration::from_millis(120));
                        pb
                    }
                };
                pb.set_message(what);
                if let Some(old) = bar.replace(pb) {
                    old.finish_and_clear();
                }
            }
            BuildEvent::Bytes(n) => {
                if let Some(pb) = &bar {
                    pb.inc(n);
                }
            }
        }
    };
    let result = writer::build_with(&loaded, &opts, &mut net, &mut progress);
    if let Some(pb) = bar.take() {
        pb.finish_and_clear();
    }
    match result {
        Ok(built) => {
            eprintln!(
                "built {} in {:.1} s: {}, {}{}",
                built.path.display(),
                t0.elapsed().as_secs_f64(),
                counts(&built.manifest),
                human(built.bytes),
                if opts.sign.is_some() { ", signed" } else { "" }
            );
            println!("{}", built.path.display());
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {}: {e}", spec_path.display());
            Ok(EXIT_USAGE)
        }
    }
}

/// `SOURCE_DATE_EPOCH` (reproducible builds convention) or now.
fn created_time() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        })
}

fn verify(file: &Path, key: Option<&Path>) -> anyhow::Result<u8> {
    let key = match key.map(sign::read_public).transpose() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: --key: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let (f, len) = match File::open(file).and_then(|f| Ok((f.metadata()?.len(), f))) {
        Ok((len, f)) => (f, len),
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return Ok(EXIT_USAGE);
        }
    };
    let t0 = Instant::now();
    let input = BufReader::with_capacity(1 << 20, f);
    let result = if std::io::stderr().is_terminal() {
        let pb = byte_bar(len, "verifying");
        let r = verify::verify(pb.wrap_read(input), key.as_ref());
        pb.finish_and_clear();
        r
    } else {
        verify::verify(input, key.as_ref())
    };
    match result {
        Ok(v) => {
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "OK {} {} ({}): {}, {} verified in {:.1} s ({:.0} MB/s); signature: {}",
                v.manifest.name,
                v.manifest.version,
                file.display(),
                counts(&v.manifest),
                human(v.bytes),
                secs,
                len as f64 / 1e6 / secs.max(1e-9),
                match v.signature {
                    Signature::Verified(fp) => format!("valid, key {fp}"),
                    Signature::NotChecked => "present, not checked (no --key)".into(),
                    Signature::Unsigned => "none".into(),
                }
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {}: verification failed: {e}", file.display());
            Ok(EXIT_FAILED)
        }
    }
}

fn inspect(file: &Path, json: bool) -> anyhow::Result<u8> {
    let head = match File::open(file)
        .map_err(|e| e.to_string())
        .and_then(|f| reader::read_head(BufReader::new(f)).map_err(|e| e.to_string()))
    {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return Ok(EXIT_USAGE);
        }
    };
    let m = &head.manifest;
    if json {
        let out = serde_json::json!({
            "signed": head.signature.is_some(),
            "manifest": m,
        });
        print_out(&format!("{}\n", serde_json::to_string_pretty(&out)?));
        return Ok(EXIT_OK);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}  (format {}, created {}, by {})",
        m.name, m.version, m.format, m.created, m.tool
    );
    let _ = writeln!(
        out,
        "signature: {}  (inspect does not verify: run `cairn bundle verify`)\n",
        if head.signature.is_some() {
            "present"
        } else {
            "none"
        }
    );
    let _ = writeln!(out, "{:<10} {:>7} {:>12}", "KIND", "ENTRIES", "SIZE");
    for k in EntryKind::ALL {
        let (n, size) = kind_totals(m, k);
        let _ = writeln!(out, "{:<10} {:>7} {:>12}", k.dir(), n, human(size));
    }
    let _ = writeln!(
        out,
        "{:<10} {:>7} {:>12}\n",
        "total",
        m.entries.len(),
        human(m.total_size())
    );
    let _ = writeln!(out, "{:>12}  {:<16}  PATH", "SIZE", "SHA256");
    for e in &m.entries {
        let _ = writeln!(
            out,
            "{:>12}  {:<16}  {}",
            human(e.size),
            &e.sha256[..16],
            e.path
        );
    }
    print_out(&out);
    Ok(EXIT_OK)
}

/// Writes to stdout, quietly stopping if the reader went away (`cairn bundle inspect | head`).
fn print_out(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn keygen(out: &Path) -> anyhow::Result<u8> {
    match sign::keygen(out) {
        Ok((public, key)) => {
            println!(
                "secret key: {} (keep it private)\npublic key: {} (fingerprint {})",
                out.display(),
                public.display(),
                sign::fingerprint(&key)
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_USAGE)
        }
    }
}

fn kind_totals(m: &Manifest, kind: EntryKind) -> (usize, u64) {
    m.entries
        .iter()
        .filter(|e| EntryKind::of(&e.path) == Some(kind))
        .fold((0, 0), |(n, s), e| (n + 1, s + e.size))
}

/// `12 debs, 0 rpms, 1 files, 3 playbooks`.
fn counts(m: &Manifest) -> String {
    EntryKind::ALL
        .iter()
        .map(|k| format!("{} {}", kind_totals(m, *k).0, k.dir()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decimal units, like the MB/s figures.
fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

fn byte_bar(total: u64, what: &'static str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    // The template is a constant; a bad one is a bug caught by the first run, not user input.
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_message(what);
    pb
}
