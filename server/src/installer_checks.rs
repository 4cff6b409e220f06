//! Installer-side pre-flight: before any host is touched, the machine running Cairn checks
//! itself: the bundle verifies; `installer.address` is one of this machine's addresses; the
//! bundle server answers there (HTTP), with the repositories and the registry the bundle
//! carries, and its NTP server answers on `installer.ntp_port`. These are the addresses the
//! hosts will use, so a server listening only on 127.0.0.1 fails here, not halfway through an
//! install.
//!
//! Owns those checks (host `installer`, ids `installer:*`) and choosing the repository URL
//! the hosts fetch in their own `repo` check. Must not: serve anything (it is a client of
//! `cairn serve` or of `cairn install`'s in-process server) or print.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use cairn_bundle::manifest::Manifest;
use cairn_engine::inventory::install_settings::Installer;
use cairn_engine::preflight::{Check, Status};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::serve::ntp::{HEADER_LEN, Packet, Timestamp};

const HOST: &str = "installer";
/// Each request to our own server: it is local, so a slow answer is a problem in itself.
const TIMEOUT: Duration = Duration::from_secs(2);

/// What the installer checks found.
#[derive(Debug, Default)]
pub struct Found {
    pub checks: Vec<Check>,
    /// The URL each host fetches (`repo` check): the apt `Release`, else yum's `repomd.xml`,
    /// else `/healthz`, of the server at `installer.address`.
    pub repo_url: String,
    /// The bundle's architectures (`amd64`), when it was read.
    pub arches: Vec<String>,
}

/// What the bundle holds, as far as serving goes.
#[derive(Clone, Debug, Default)]
pub struct Contents {
    pub debs: bool,
    pub rpms: bool,
    pub images: bool,
    pub arches: Vec<String>,
}

impl Contents {
    pub fn of(m: &Manifest) -> Contents {
        let has = |dir: &str| m.entries.iter().any(|e| e.path.starts_with(dir));
        let arches = m.spec["platforms"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.as_str())
                    .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
                    .collect()
            })
            .unwrap_or_default();
        Contents {
            debs: has("debs/"),
            rpms: has("rpms/"),
            images: has("images/"),
            arches,
        }
    }
}

/// Verify the bundle file (blocking: it reads it all). The check, and what it holds.
pub async fn verify_bundle(path: &Path) -> (Check, Option<Contents>) {
    let shown = path.display().to_string();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            return (
                Check::new(HOST, "installer:bundle", Status::Fail, format!("{shown}: {e}"))
                    .remedy("fix bundle: in cluster.yaml (relative to the file), or build the bundle: cairn bundle build"),
                None,
            );
        }
    };
    let t0 = Instant::now();
    let verified = tokio::task::spawn_blocking(move || {
        cairn_bundle::verify::verify(std::io::BufReader::with_capacity(1 << 20, file), None)
    })
    .await;
    match verified {
        Ok(Ok(v)) => {
            let m = &v.manifest;
            let check = Check::new(
                HOST,
                "installer:bundle",
                Status::Pass,
                format!(
                    "{}-{} verified: {} entries, {:.1} MiB in {:.1} s",
                    m.name,
                    m.version,
                    m.entries.len(),
                    v.bytes as f64 / (1024.0 * 1024.0),
                    t0.elapsed().as_secs_f64()
                ),
            );
            (check, Some(Contents::of(m)))
        }
        Ok(Err(e)) => (
            Check::new(
                HOST,
                "installer:bundle",
                Status::Fail,
                format!("{shown}: verification failed: {e}"),
            )
            .remedy("the bundle is damaged or was changed: copy it again from its source (or rebuild it)"),
            None,
        ),
        Err(e) => (
            Check::new(HOST, "installer:bundle", Status::Fail, format!("{shown}: {e}")),
            None,
        ),
    }
}

/// The checks of the server at `installer` (address, HTTP, repositories, registry, NTP).
/// `contents`: what the bundle holds, when known (otherwise what is not served only warns).
pub async fn served(installer: &Installer, contents: Option<&Contents>) -> Found {
    let mut out = Vec::new();
    let a = installer.address;
    let base = match a {
        IpAddr::V4(v4) => format!("http://{v4}:{}", installer.port),
        IpAddr::V6(v6) => format!("http://[{v6}]:{}", installer.port),
    };
    let start = format!(
        "cairn serve --bundle BUNDLE --listen {} --ntp {} (cairn install serves it itself)",
        SocketAddr::new(a, installer.port),
        SocketAddr::new(a, installer.ntp_port)
    );

    // The address must be this machine's: hosts reach the installer there. If it is not,
    // asking it anything would only ask another machine: stop here.
    match UdpSocket::bind((a, 0)) {
        Ok(_) => out.push(Check::new(
            HOST,
            "installer:address",
            Status::Pass,
            format!("{a} is an address of this machine"),
        )),
        Err(e) => {
            out.push(
                Check::new(
                    HOST,
                    "installer:address",
                    Status::Fail,
                    format!(
                        "{a} is not an address of this machine ({}); the server was not checked",
                        connect_error(&e)
                    ),
                )
                .remedy("set installer.address in cluster.yaml to this machine's address on the hosts' network"),
            );
            return Found {
                checks: out,
                repo_url: format!("{base}/healthz"),
                arches: contents.map(|c| c.arches.clone()).unwrap_or_default(),
            };
        }
    }

    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let health = get(&client, &format!("{base}/healthz")).await;
    let up = health.as_ref().is_ok_and(|s| *s == 200);
    out.push(match &health {
        Ok(200) => Check::new(
            HOST,
            "installer:http",
            Status::Pass,
            format!("the bundle server answers on {base}"),
        ),
        Ok(s) => Check::new(
            HOST,
            "installer:http",
            Status::Fail,
            format!("{base}/healthz answered HTTP {s}: not a Cairn bundle server"),
        )
        .remedy(format!(
            "free the port for Cairn, or choose installer.port; then {start}"
        )),
        Err(e) => Check::new(
            HOST,
            "installer:http",
            Status::Fail,
            format!("nothing serves the bundle on {base} ({e})"),
        )
        .remedy(format!("start it: {start}")),
    });

    let mut repo_url = format!("{base}/healthz");
    if up {
        let release = format!("{base}/repo/deb/Release");
        let repomd = format!("{base}/repo/rpm/repodata/repomd.xml");
        let deb = get(&client, &release).await;
        let rpm = get(&client, &repomd).await;
        let mut served = Vec::new();
        if deb.as_ref().is_ok_and(|s| *s == 200) {
            served.push("apt (/repo/deb/)");
            repo_url = release;
        }
        if rpm.as_ref().is_ok_and(|s| *s == 200) {
            served.push("yum/dnf (/repo/rpm/)");
            if !repo_url.ends_with("/Release") {
                repo_url = repomd;
            }
        }
        let missing: Vec<&str> = [
            (
                contents.is_none_or(|c| c.debs),
                deb.is_ok_and(|s| s == 200),
                "apt (/repo/deb/Release)",
            ),
            (
                contents.is_none_or(|c| c.rpms),
                rpm.is_ok_and(|s| s == 200),
                "yum/dnf (/repo/rpm/repodata/repomd.xml)",
            ),
        ]
        .iter()
        .filter(|(wanted, ok, _)| *wanted && !ok && contents.is_some())
        .map(|x| x.2)
        .collect();
        out.push(if !missing.is_empty() {
            Check::new(
                HOST,
                "installer:repo",
                Status::Fail,
                format!(
                    "the bundle has packages but {} is not served",
                    missing.join(" and ")
                ),
            )
            .remedy(format!("serve this cluster's bundle: {start}"))
        } else if served.is_empty() {
            let status = if contents.is_some() {
                Status::Pass
            } else {
                Status::Warn
            };
            Check::new(
                HOST,
                "installer:repo",
                status,
                "no package repository served",
            )
            .remedy("the served bundle has no packages: is it this cluster's bundle?")
        } else {
            Check::new(
                HOST,
                "installer:repo",
                Status::Pass,
                format!("served: {}", served.join(", ")),
            )
        });
        if contents.is_none_or(|c| c.images) {
            let v2 = get(&client, &format!("{base}/v2/")).await;
            out.push(match v2 {
                Ok(200) => Check::new(
                    HOST,
                    "installer:registry",
                    Status::Pass,
                    format!("OCI registry answers at {base}/v2/"),
                ),
                other => Check::new(
                    HOST,
                    "installer:registry",
                    if contents.is_some() {
                        Status::Fail
                    } else {
                        Status::Warn
                    },
                    format!(
                        "{base}/v2/ did not answer 200 ({})",
                        match other {
                            Ok(s) => format!("HTTP {s}"),
                            Err(e) => e,
                        }
                    ),
                )
                .remedy(format!("serve this cluster's bundle: {start}")),
            });
        }
    }

    let ntp = SocketAddr::new(a, installer.ntp_port);
    out.push(match sntp_query(ntp).await {
        Ok((stratum, offset)) => Check::new(
            HOST,
            "installer:ntp",
            Status::Pass,
            format!("NTP answers on {ntp}: stratum {stratum}, {offset:+.3} s vs this clock"),
        ),
        Err(e) => Check::new(
            HOST,
            "installer:ntp",
            Status::Fail,
            format!("no NTP answer from {ntp} ({e})"),
        )
        .remedy(format!("hosts take their time from it: {start}")),
    });

    Found {
        checks: out,
        repo_url,
        arches: contents.map(|c| c.arches.clone()).unwrap_or_default(),
    }
}

/// The HTTP status of a GET, or why there was none.
async fn get(client: &Client<HttpConnector, Empty<Bytes>>, url: &str) -> Result<u16, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{e}"))?;
    match tokio::time::timeout(TIMEOUT, client.get(uri)).await {
        Ok(Ok(resp)) => Ok(resp.status().as_u16()),
        Ok(Err(e)) => Err(connect_error(&e)),
        Err(_) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
    }
}

/// The root cause of a client error, in the words the OS uses (`Connection refused`).
fn connect_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let s = cur.to_string();
    // io errors print as "Connection refused (os error 111)": keep the words.
    s.split(" (os error").next().unwrap_or(&s).to_string()
}

/// One SNTP (RFC 4330) client query: the server's stratum and its clock minus ours (seconds).
async fn sntp_query(server: SocketAddr) -> Result<(u8, f64), String> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let sock = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| e.to_string())?;
    sock.connect(server).await.map_err(|e| e.to_string())?;
    let mut last = String::from("no answer");
    // Two tries: a first datagram may be lost; each waits up to a second.
    for _ in 0..2 {
        let sent = Timestamp::now();
        let req = Packet {
            version: 4,
            mode: 3,
            transmit: sent,
            ..Packet::default()
        };
        if let Err(e) = sock.send(&req.encode()).await {
            last = connect_error(&e);
            continue;
        }
        let mut buf = [0u8; 128];
        match tokio::time::timeout(Duration::from_secs(1), sock.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                let received = Timestamp::now();
                let Some(p) = Packet::decode(&buf[..n.min(buf.len())]).filter(|_| n >= HEADER_LEN)
                else {
                    last = "a reply too short for NTP".into();
                    continue;
                };
                if p.mode != 4 || p.origin != sent {
                    last = "a reply that is not an answer to this request".into();
                    continue;
                }
                if p.stratum == 0 || p.leap == 3 {
                    last = format!(
                        "the server is not synchronised (stratum {}, leap {})",
                        p.stratum, p.leap
                    );
                    break;
                }
                let secs =
                    |t: Timestamp| (t.0 >> 32) as f64 + (t.0 & 0xffff_ffff) as f64 / 4294967296.0;
                // RFC 4330: ((T2 - T1) + (T3 - T4)) / 2.
                let offset =
                    ((secs(p.receive) - secs(sent)) + (secs(p.transmit) - secs(received))) / 2.0;
                return Ok((p.stratum, offset));
            }
            Ok(Err(e)) => last = connect_error(&e),
            Err(_) => last = "no answer within 1 s".into(),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_come_from_the_manifest() {
        let m: Manifest = serde_json::from_value(serde_json::json!({
            "format": 1, "name": "lab", "version": "0.1.0", "created": "2026-01-01T00:00:00Z",
            "tool": "cairn", "spec": {"platforms": ["linux/amd64", "linux/arm64"]},
            "entries": [
                {"path": "debs/a.deb", "size": 1, "sha256": "00", "media_type": "x"},
                {"path": "images/index.json", "size": 1, "sha256": "00", "media_type": "x"}
            ]
        }))
        .unwrap();
        let c = Contents::of(&m);
        assert!(c.debs && c.images && !c.rpms);
        assert_eq!(c.arches, vec!["amd64", "arm64"]);
    }

    #[tokio::test]
    async fn nothing_served_fails_with_how_to_start_it() {
        // A free port on loopback: nothing listens there (TCP or UDP).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ntp_port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let installer = Installer {
            address: "127.0.0.1".parse().unwrap(),
            port,
            ntp_port,
        };
        let f = served(&installer, None).await;
        let got: Vec<(&str, &str, &str)> = f
            .checks
            .iter()
            .map(|c| (c.id.as_str(), c.status.as_str(), c.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "installer:address",
                    "pass",
                    "127.0.0.1 is an address of this machine"
                ),
                (
                    "installer:http",
                    "fail",
                    &*format!(
                        "nothing serves the bundle on http://127.0.0.1:{port} (Connection refused)"
                    )
                ),
                (
                    "installer:ntp",
                    "fail",
                    &*format!("no NTP answer from 127.0.0.1:{ntp_port} (Connection refused)")
                ),
            ]
        );
        assert_eq!(
            f.checks[1].remedy.as_deref(),
            Some(&*format!(
                "start it: cairn serve --bundle BUNDLE --listen 127.0.0.1:{port} --ntp 127.0.0.1:{ntp_port} (cairn install serves it itself)"
            ))
        );
        assert_eq!(f.repo_url, format!("http://127.0.0.1:{port}/healthz"));
    }

    #[tokio::test]
    async fn an_address_of_another_machine_fails() {
        let installer = Installer {
            address: "192.0.2.55".parse().unwrap(),
            port: 1,
            ntp_port: 1,
        };
        // Nothing is sent anywhere: the bind fails first and the rest is not asked.
        let f = served(&installer, None).await;
        assert_eq!(f.checks.len(), 1);
        let c = &f.checks[0];
        assert_eq!(
            (c.id.as_str(), c.status.as_str(), c.value.as_str()),
            (
                "installer:address",
                "fail",
                "192.0.2.55 is not an address of this machine (Cannot assign requested address); the server was not checked"
            )
        );
    }
}
