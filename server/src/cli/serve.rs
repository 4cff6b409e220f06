//! `cairn serve --bundle FILE [--listen ADDR:PORT] [--key PUB] [--ntp ADDR:PORT | --no-ntp]
//! [--ntp-stratum N] [--state-dir DIR] [--no-api] [--playbooks DIR] [--tls [--tls-cert C
//! --tls-key K]]`: verify a bundle, index it and serve it over HTTP or HTTPS (and time over SNTP), with the console's `/api` on the same port,
//! until SIGINT/SIGTERM.
//!
//! Parses flags, reports on stderr and picks exit codes. Must not: hold serving logic (that is
//! `crate::serve`) or bundle logic (`cairn-bundle`).

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::serve::apt_sign::AptKey;
use crate::serve::{self, ntp, open, routes::Served};
use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The bundle to serve (NAME-VERSION.cairn). It is verified first; it must not change while
    /// served.
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Require a valid signature by this public key (KEY.pub from `cairn bundle keygen`).
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
    /// Serve time (SNTP) on this UDP address [default: 0.0.0.0:123, and a warning instead of an
    /// error when that cannot be bound, e.g. without root].
    #[arg(long, value_name = "ADDR:PORT", conflicts_with = "no_ntp")]
    pub ntp: Option<SocketAddr>,
    /// Do not serve time.
    #[arg(long)]
    pub no_ntp: bool,
    /// The NTP stratum announced, 1-15. 10 is the convention for a local clock that follows no
    /// better source, so hosts prefer any real time server they also see.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u8).range(1..=15))]
    pub ntp_stratum: u8,
    /// The OpenPGP key signing the apt repository (InRelease, Release.gpg; public key at
    /// /repo/deb/cairn.gpg), created there if missing [default: STATE_DIR/serve/apt-signing-key.asc].
    #[arg(long, value_name = "FILE", conflicts_with = "no_apt_signing")]
    pub apt_key: Option<PathBuf>,
    /// Serve the apt repository unsigned (hosts then need `[trusted=yes]`).
    #[arg(long)]
    pub no_apt_signing: bool,
    /// Cairn's state directory (the store the API reads and writes) [env: CAIRN_STATE_DIR]
    /// (default /var/lib/cairn as root, ~/.local/state/cairn otherwise).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Serve only the bundle: no `/api` (no admin token, no store).
    #[arg(long)]
    pub no_api: bool,
    /// Installs started from the console run DIR/site.yml instead of the bundle's playbooks.
    #[arg(long, value_name = "DIR")]
    pub playbooks: Option<PathBuf>,
    /// Serve HTTPS (console, API and bundle alike) with a self-signed certificate kept in
    /// STATE_DIR/serve/ (made at the first start; its SHA-256 fingerprint is printed to check
    /// the browser's), or with --tls-cert and --tls-key. The session cookie is then `Secure`.
    #[arg(long)]
    pub tls: bool,
    /// HTTPS with this certificate (PEM; the chain after the server's certificate).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// The NTP address used when `--ntp` is not given.
const DEFAULT_NTP: &str = "0.0.0.0:123";

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let file = match File::open(&args.bundle) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: {e}", args.bundle.display());
            return Ok(EXIT_USAGE);
        }
    };
    let shown = args.bundle.display().to_string();

    // Verify and index on the blocking pool: both read the whole file.
    let key = args.key.clone();
    let opened = tokio::task::spawn_blocking(move || open::open(file, key.as_deref())).await?;
    let opened = match opened {
        Ok(o) => o,
        Err(e @ open::OpenError::Key(_)) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
        Err(open::OpenError::Bundle(msg)) => {
            eprintln!("error: {shown}: {msg}");
            return Ok(EXIT_FAILED);
        }
        Err(open::OpenError::Io(e)) => {
            eprintln!("error: {shown}: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let info =
        (!args.no_api).then(|| crate::api::bundle::info(&opened, &args.bundle, args.key.is_some()));
    let open::Opened {
        index,
        mut deb,
        yum,
        registry,
        verified_in,
        indexed_in,
    } = opened;
    let signing = if args.no_apt_signing {
        String::new()
    } else {
        let explicit = args.apt_key.is_some();
        let path = args.apt_key.clone().unwrap_or_else(|| {
            crate::state_dir::resolve(args.state_dir.clone()).join("serve/apt-signing-key.asc")
        });
        let (signed_deb, result, path) = tokio::task::spawn_blocking(move || {
            let r = AptKey::load_or_create(&path)
                .and_then(|(key, created)| deb.sign(&key).map(|()| created));
            (deb, r, path)
        })
        .await?;
        deb = signed_deb;
        match result {
            Ok(created) => format!(
                ", apt repository signed by {} ({} {}; public key at /repo/deb/cairn.gpg)",
                deb.signed.as_ref().map_or("", |s| s.fingerprint.as_str()),
                if created { "new key" } else { "key" },
                path.display()
            ),
            Err(e) if explicit => {
                eprintln!("error: {e}");
                return Ok(EXIT_USAGE);
            }
            Err(e) => {
                eprintln!(
                    "warning: serving the apt repository unsigned: {e} (give --apt-key FILE, or \
                     --no-apt-signing)"
                );
                String::new()
            }
        }
    };
    let ntp = if args.no_ntp {
        None
    } else {
        let explicit = args.ntp.is_some();
        let addr = args
            .ntp
            .unwrap_or_else(|| DEFAULT_NTP.parse().expect("a valid address"));
        match tokio::net::UdpSocket::bind(addr).await {
            Ok(socket) => Some(serve::Ntp {
                socket,
                config: ntp::Config {
                    stratum: args.ntp_stratum,
                    ..ntp::Config::default()
                },
            }),
            Err(e) if explicit => {
                eprintln!("error: cannot serve NTP on {addr}: {e}");
                return Ok(EXIT_FAILED);
            }
            Err(e) => {
                eprintln!(
                    "warning: not serving time: cannot bind NTP on {addr}: {e} (give --ntp \
                     ADDR:PORT, or --no-ntp)"
                );
                None
            }
        }
    };
    let ntp_note = match &ntp {
        Some(n) => format!(
            ", time (SNTP, stratum {}) on udp://{}",
            n.config.stratum,
            n.socket.local_addr()?
        ),
        None => String::new(),
    };
    let tls = if args.tls || args.tls_cert.is_some() {
        let made = match (&args.tls_cert, &args.tls_key) {
            (Some(c), Some(k)) => serve::tls::load(c, k),
            _ => serve::tls::load_or_create(
                &crate::state_dir::resolve(args.state_dir.clone()).join("serve"),
                &serve::tls::default_names(args.listen.ip()),
            ),
        };
        match made {
            Ok(id) => Some(id),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(EXIT_USAGE);
            }
        }
    } else {
        None
    };
    let api = if let Some(info) = info {
        let setup = crate::api::Setup {
            state_dir: crate::state_dir::resolve(args.state_dir.clone()),
            tls: tls.is_some(),
            bundle: Some(info),
            bundle_path: Some(std::path::absolute(&args.bundle).unwrap_or(args.bundle.clone())),
            playbooks: args
                .playbooks
                .clone()
                .map(|p| std::path::absolute(&p).unwrap_or(p)),
        };
        match crate::api::Api::start(setup) {
            Ok((api, token)) => {
                if let Some(t) = token {
                    // Printed once, at the first start; only its hash is kept.
                    eprintln!(
                        "console admin token (shown once; keep it, or set CAIRN_ADMIN_TOKEN): {t}"
                    );
                }
                crate::api::router(api)
            }
            Err(e) => {
                eprintln!(
                    "error: the console API cannot start: {e} (or serve the bundle alone with --no-api)"
                );
                return Ok(EXIT_FAILED);
            }
        }
    } else {
        axum::Router::new()
    };
    // Listen only once everything else is ready: the kernel completes TCP handshakes on a bound
    // socket by itself, so a client that connected during a startup that then failed (the store,
    // the API) would be reset instead of refused.
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return Ok(EXIT_FAILED);
        }
    };
    let m = &index.manifest;
    let files = index.under("files").count();
    let scheme = if tls.is_some() { "https" } else { "http" };
    if let Some(id) = &tls {
        eprintln!(
            "TLS certificate {} ({}), SHA-256 fingerprint {}",
            id.cert_path.display(),
            if id.created {
                "self-signed, made now"
            } else {
                "as found"
            },
            id.fingerprint
        );
    }
    eprintln!(
        "serving {} {} ({shown}) on {scheme}://{}: {files} files under /files/, {} packages under \
         /repo/deb/, {} packages under /repo/rpm/, {} images ({} repositories) under \
         /v2/{ntp_note}{signing} (verified in {:.2} s, indexes built in {} ms)",
        m.name,
        m.version,
        args.listen,
        deb.count,
        yum.count,
        registry.tag_count(),
        registry.repos.len(),
        verified_in.as_secs_f64(),
        indexed_in.as_millis()
    );
    serve::run(
        listener,
        Arc::new(Served {
            index,
            deb,
            registry,
        }),
        ntp,
        api,
        tls.map(|id| id.acceptor),
    )
    .await?;
    Ok(EXIT_OK)
}
