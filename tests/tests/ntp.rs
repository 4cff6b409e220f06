//! `cairn serve`'s SNTP server against a real client, chronyd, in two places: on a lab host
//! (chrony installed there with apt from the same served bundle) and on the controller (the
//! `chronyd` binary unpacked from that bundle's `.deb`, nothing installed). `chronyd -Q` measures
//! the offset without touching any clock, and only reports one if it accepted the server's
//! answers (mode, leap, stratum, originate, root distance). Garbage datagrams are counted and
//! dropped; `/metrics` shows both.
//!
//! Host use: lab7 only (apt source, `policy-rc.d` and chrony with its dependencies; all removed
//! again).

use cairn_tests::{BRIDGE, Lab, Served, cairn_bin, free_tcp_port, free_udp_port, scratch};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The installer's address on the lab bridge (`cairnbr0`), which lab hosts can reach.
const HOST: &str = "lab7";

fn cairn(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(cairn_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run cairn")
}

/// `ntp-0.0.1.cairn` in `dir`: chrony and what the lab base lacks of its dependencies.
fn build_bundle(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("ntp.yaml"),
        "apiVersion: cairn/v1\nkind: Bundle\nname: ntp\nversion: 0.0.1\n\
         platforms: [linux/amd64]\ndebs:\n  packages: [chrony]\n",
    )
    .unwrap();
    let o = cairn(&["bundle", "build", "ntp.yaml", "--out", "."], dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir.join("ntp-0.0.1.cairn")
}

/// The body of `GET path` (HTTP/1.1, connection closed after the response).
fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(raw.starts_with(b"HTTP/1.1 200 "), "GET {path}");
    raw[split + 4..].to_vec()
}

/// The value of `series` (name and labels exactly as exposed) in `/metrics`.
fn metric(addr: SocketAddr, series: &str) -> f64 {
    let text = String::from_utf8(get(addr, "/metrics")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} not in\n{text}"))
        .parse()
        .unwrap()
}

/// The offset `chronyd -Q` printed ("System clock wrong by X seconds"), or the whole output.
fn offset(output: &str) -> Result<f64, String> {
    output
        .lines()
        .find_map(|l| {
            let rest = l.split("System clock wrong by ").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .ok_or_else(|| format!("chronyd reported no offset:\n{output}"))
}

#[test]
fn the_offset_parser_reads_chronyds_line() {
    let out = "2026-11-23T06:03:24Z Disabled control of system clock\n\
               2026-11-23T06:03:28Z System clock wrong by -0.000070 seconds (ignored)\n\
               2026-11-23T06:03:28Z chronyd exiting\n";
    assert_eq!(offset(out), Ok(-0.000070));
    assert!(offset("2026-11-23T06:03:28Z No suitable source for synchronisation\n").is_err());
}

#[tokio::test]
async fn chronyd_on_a_lab_host_and_on_the_controller_accepts_the_served_time() {
    let lab = Lab::from_env();
    let dir = scratch("ntp");
    let bundle = build_bundle(&dir);
    let http: SocketAddr = format!("{BRIDGE}:{}", free_tcp_port(BRIDGE))
        .parse()
        .unwrap();
    let ntp: SocketAddr = format!("{BRIDGE}:{}", free_udp_port(BRIDGE))
        .parse()
        .unwrap();
    let ntp_arg = ntp.to_string();
    let server = Served::start(&bundle, http, &["--ntp", &ntp_arg]);

    // Garbage first: short datagrams and a version that does not exist are malformed, a
    // server-mode packet is not a request. None is answered; the server goes on answering.
    let probe = UdpSocket::bind((BRIDGE, 0)).unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut server_mode = [0u8; 48];
    server_mode[0] = 0x24;
    let mut version0 = [0u8; 48];
    version0[0] = 0x03;
    for d in [&[][..], &[0x23][..], &[0x23; 47][..], &version0[..]] {
        probe.send_to(d, ntp).unwrap();
    }
    for _ in 0..3 {
        probe.send_to(&server_mode, ntp).unwrap();
    }
    let mut buf = [0u8; 100];
    assert!(
        probe.recv_from(&mut buf).is_err(),
        "garbage must not be answered"
    );
    let mut request = [0u8; 48];
    request[0] = 0x23; // v4, client
    request[40..48].copy_from_slice(&0x0123_4567_89ab_cdefu64.to_be_bytes());
    probe.send_to(&request, ntp).unwrap();
    let (n, _) = probe.recv_from(&mut buf).expect("an answer to a request");
    assert_eq!((n, buf[0], buf[1]), (48, 0x24, 10));
    assert_eq!(buf[24..32], request[40..48]);

    // The controller: chronyd unpacked from the served package (nothing installed here).
    let packages = String::from_utf8(get(http, "/repo/deb/Packages")).unwrap();
    let filename = packages
        .split("\n\n")
        .find(|s| s.starts_with("Package: chrony\n"))
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Filename: ")))
        .expect("chrony in Packages")
        .to_string();
    let deb = dir.join("chrony.deb");
    std::fs::write(&deb, get(http, &format!("/repo/deb/{filename}"))).unwrap();
    let root = dir.join("chrony-root");
    let o = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let here = Command::new("timeout")
        .arg("40")
        .arg(root.join("usr/sbin/chronyd"))
        .args(["-Q", "-u", "root", "-t", "15"])
        .arg(format!("server {BRIDGE} port {} iburst", ntp.port()))
        .output()
        .unwrap();
    let here = format!(
        "{}{}",
        String::from_utf8_lossy(&here.stdout),
        String::from_utf8_lossy(&here.stderr)
    );

    // lab7: chrony from the bundle with apt (its service kept from starting by policy-rc.d,
    // the packages downloaded to a directory of the test's, so they come from the server every
    // time), then `chronyd -Q`. Every step runs, the host is put back, then the results are judged.
    let c = lab.connect(&dir, HOST, "root").await;
    let list = "/etc/apt/sources.list.d/cairn-ntp-test.list";
    let state = "/tmp/cairn-ntp-test";
    let setup = format!(
        "set -e; mkdir -p {state}; dpkg-query -W -f '${{Package}}\\n' | sort > {state}/before; \
         if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\\nexit 101\\n' \
           > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; touch {state}/policy; fi; \
         echo 'deb [trusted=yes] http://{http}/repo/deb ./' > {list}; apt-get update 2>&1; \
         mkdir -p {state}/archives/partial; DEBIAN_FRONTEND=noninteractive apt-get install -y \
           -o Dir::Cache::archives={state}/archives chrony 2>&1; \
         systemctl stop chrony.service 2>&1 || true"
    );
    let installed = c.run(&setup).await.unwrap();
    let there = c
        .run(&format!(
            "timeout 40 chronyd -Q -t 15 'server {BRIDGE} port {} iburst' 2>&1",
            ntp.port()
        ))
        .await
        .unwrap();
    let cleanup = c
        .run(&format!(
            "dpkg-query -W -f '${{Package}}\\n' | sort > {state}/after; \
             new=$(comm -13 {state}/before {state}/after); \
             [ -z \"$new\" ] || DEBIAN_FRONTEND=noninteractive apt-get purge -y $new 2>&1; \
             rm -f {list}; [ ! -e {state}/policy ] || rm -f /usr/sbin/policy-rc.d; \
             rm -rf {state}; apt-get update 2>&1; ! dpkg -s chrony >/dev/null 2>&1"
        ))
        .await
        .unwrap();
    assert!(
        installed.success(),
        "{}\n{}",
        installed.stdout_str(),
        installed.stderr_str()
    );
    assert!(cleanup.success(), "{}", cleanup.stdout_str());

    for (who, out) in [("controller", here), (HOST, there.stdout_str().to_string())] {
        let off = offset(&out).unwrap_or_else(|e| panic!("{who}: {e}"));
        assert!(off.abs() < 1.0, "{who}: offset {off} s\n{out}");
        eprintln!("{who}: chronyd -Q offset {off:+.6} s");
    }

    // Both clients were answered (chronyd's iburst sends several requests), the garbage counted.
    let answered = metric(http, r#"cairn_ntp_requests_total{outcome="answered"}"#);
    assert!(answered >= 5.0, "answered {answered}");
    assert_eq!(
        metric(http, r#"cairn_ntp_requests_total{outcome="malformed"}"#),
        4.0
    );
    assert_eq!(
        metric(http, r#"cairn_ntp_requests_total{outcome="not_client"}"#),
        3.0
    );
    // Packages and the .deb from here, then Release, Packages and chrony's .deb (at least)
    // from lab7's apt.
    let deb_ok = metric(
        http,
        r#"cairn_http_requests_total{endpoint="deb",status="2xx"}"#,
    );
    assert!(deb_ok >= 5.0, "deb 2xx {deb_ok}");
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains(&format!("time (SNTP, stratum 10) on udp://{ntp}")),
        "{log}"
    );
}

/// What `cairn serve` says about its NTP flags: an address given with `--ntp` that cannot be
/// bound is an error; the default one (0.0.0.0:123) a warning, and HTTP is served anyway.
#[test]
fn ntp_flags_and_their_messages() {
    let dir = scratch("ntp-flags");
    std::fs::write(dir.join("x"), b"x").unwrap();
    std::fs::write(
        dir.join("s.yaml"),
        "apiVersion: cairn/v1\nkind: Bundle\nname: flags\nversion: 0.0.1\nfiles:\n  - path: x\n    \
         sha256: 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\n",
    )
    .unwrap();
    let o = cairn(&["bundle", "build", "s.yaml", "--out", "."], &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bundle = "flags-0.0.1.cairn";

    // Taken: an error naming the address, exit 2, nothing served.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap();
    let http = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"));
    let o = cairn(
        &[
            "serve",
            "--bundle",
            bundle,
            "--listen",
            &http,
            "--ntp",
            &at.to_string(),
        ],
        &dir,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "error: cannot serve NTP on {at}: Address already in use"
        )),
        "{err}"
    );

    // Out of range, or both --ntp and --no-ntp: usage errors (exit 1).
    for (args, want) in [
        (
            &["--ntp-stratum", "16"][..],
            "invalid value '16' for '--ntp-stratum <N>': 16 is not in 1..=15",
        ),
        (
            &["--ntp-stratum", "0"][..],
            "invalid value '0' for '--ntp-stratum <N>': 0 is not in 1..=15",
        ),
        (
            &["--ntp", "127.0.0.1:1123", "--no-ntp"][..],
            "the argument '--ntp <ADDR:PORT>' cannot be used with '--no-ntp'",
        ),
    ] {
        let mut all = vec!["serve", "--bundle", bundle];
        all.extend_from_slice(args);
        let o = cairn(&all, &dir);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }

    // The default port held (by this test, or by whoever else has it): a warning, then HTTP.
    let _held = UdpSocket::bind("0.0.0.0:123");
    let port = free_tcp_port("127.0.0.1");
    let http: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["serve", "--bundle", bundle, "--listen", &http.to_string()])
        .current_dir(&dir);
    let server = Served::spawn(cmd, http);
    assert_eq!(get(http, "/files/x"), b"x");
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains(
            "warning: not serving time: cannot bind NTP on 0.0.0.0:123: Address already in use \
             (os error 98) (give --ntp ADDR:PORT, or --no-ntp)"
        ),
        "{log}"
    );
    assert!(!log.contains("time (SNTP"), "{log}");
}
