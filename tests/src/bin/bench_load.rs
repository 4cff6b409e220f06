//! `bench_load`: the "load while installing" benchmark (issue 8), run by `scripts/bench-load`.
//!
//! On three lab hosts (etcd on all, registry / CI / monitoring on one each, the lab bundle and
//! the shipped `site.yml`, as root with the lab key):
//! 1. a warm-up install (unmeasured: the hosts get their packages; `clean` keeps packages, so
//!    every measured install then starts from the same state);
//! 2. quiet: hosts cleaned, `cairn install` timed;
//! 3. loaded: hosts cleaned, `cairn install` timed while, as soon as its server listens, a load
//!    tool pulls its packages (`/repo/deb/...`) and registry blobs and manifests (`/v2/...`)
//!    with C concurrent connections for S seconds: `wrk` (Debian's) with a Lua script cycling
//!    over the paths, or `--tool builtin` (`cairn_tests::load`: every body's sha256 checked).
//!
//! Prints a summary (and `summary.txt` in the output directory): both wall times and their
//! ratio, requests, requests/s, MB/s, errors of every kind. Judges nothing but that both
//! installs succeed; the caller reads the numbers. Hosts are cleaned at the end.
//!
//! Usage: bench_load --hosts lab48,lab49,lab50 [--clients 200] [--seconds 60]
//!        [--tool wrk|builtin] [--no-warmup] --out DIR

use cairn_tests::installed::{clean, lab_bundle};
use cairn_tests::{BRIDGE, Lab, cairn_bin, free_tcp_port, free_udp_port, load, repo_root};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Opts {
    hosts: Vec<String>,
    clients: usize,
    seconds: u64,
    tool: String,
    warmup: bool,
    out: PathBuf,
}

fn opts() -> Opts {
    let mut o = Opts {
        hosts: vec![],
        clients: 200,
        seconds: 60,
        tool: "wrk".into(),
        warmup: true,
        out: PathBuf::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| die(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--hosts" => o.hosts = val().split(',').map(str::to_string).collect(),
            "--clients" => o.clients = val().parse().unwrap_or_else(|_| die("--clients N")),
            "--seconds" => o.seconds = val().parse().unwrap_or_else(|_| die("--seconds S")),
            "--tool" => o.tool = val(),
            "--out" => o.out = val().into(),
            "--no-warmup" => o.warmup = false,
            _ => die(&format!("unknown argument {a}")),
        }
    }
    if o.hosts.len() != 3 || o.out.as_os_str().is_empty() {
        die(
            "usage: bench_load --hosts A,B,C --out DIR [--clients N] [--seconds S] [--tool wrk|builtin] [--no-warmup]",
        );
    }
    if !["wrk", "builtin"].contains(&o.tool.as_str()) {
        die("--tool wrk or builtin");
    }
    o
}

fn die(msg: &str) -> ! {
    eprintln!("bench_load: {msg}");
    std::process::exit(2)
}

fn log(msg: &str) {
    eprintln!("[bench-load {}] {msg}", chrono_now());
}

fn chrono_now() -> String {
    let o = Command::new("date").arg("+%T").output().ok();
    o.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn write_config(lab: &Lab, o: &Opts, bundle: &Path, port: u16) -> PathBuf {
    let [a, b, c] = [&o.hosts[0], &o.hosts[1], &o.hosts[2]];
    let mut y = format!(
        "apiVersion: cairn/v1\nkind: Cluster\nname: load\ndefaults: {{ user: root, auth: {{ key: {}, agent: false }} }}\nhosts:\n",
        lab.key("id_ed25519").display()
    );
    for h in &o.hosts {
        y.push_str(&format!(
            "  - {{ name: {h}, address: {} }}\n",
            lab.address(h)
        ));
    }
    y.push_str(&format!(
        "roles:\n  etcd: [{a}, {b}, {c}]\n  registry: [{a}]\n  ci: [{b}]\n  monitoring: [{c}]\n\
         installer: {{ address: {BRIDGE}, port: {port}, ntp_port: {} }}\nbundle: {}\npki: {{ validity_days: 30 }}\n",
        free_udp_port(BRIDGE),
        bundle.display()
    ));
    let p = o.out.join("cluster.yaml");
    std::fs::write(&p, y).unwrap();
    p
}

/// One `cairn install` (fresh state dir each time, so the runs are alike): wall time.
fn install(lab: &Lab, o: &Opts, config: &Path, name: &str) -> Duration {
    let state = o.out.join(format!("state-{name}"));
    let _ = std::fs::remove_dir_all(&state);
    let log_file = std::fs::File::create(o.out.join(format!("{name}.log"))).unwrap();
    let t0 = Instant::now();
    let status = Command::new(cairn_bin())
        .args(["install", "--config"])
        .arg(config)
        .arg("--state-dir")
        .arg(&state)
        .arg("--known-hosts")
        .arg(&lab.known_hosts)
        .arg("--playbooks")
        .arg(repo_root().join("playbooks"))
        .env("NO_COLOR", "1")
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .status()
        .expect("run cairn install");
    let wall = t0.elapsed();
    if !status.success() {
        die(&format!(
            "the {name} install failed ({status}): see {}",
            o.out.join(format!("{name}.log")).display()
        ));
    }
    wall
}

/// What the load tool reported.
#[derive(Default)]
struct Load {
    requests: u64,
    per_second: f64,
    mbytes: f64,
    errors: u64,
    detail: String,
}

fn wrk(addr: SocketAddr, targets: &[load::Target], o: &Opts) -> Load {
    let paths: Vec<String> = targets.iter().map(|t| format!("{:?}", t.path)).collect();
    let script = o.out.join("paths.lua");
    std::fs::write(
        &script,
        format!(
            "local paths = {{ {} }}\nlocal i = 0\n\
             function setup(thread) thread:set(\"start\", math.random(#paths)) end\n\
             function init(args) i = start or 0 end\n\
             function request() i = i + 1; return wrk.format(\"GET\", paths[(i % #paths) + 1]) end\n",
            paths.join(", ")
        ),
    )
    .unwrap();
    let out = Command::new("wrk")
        .args(["-t", "2", "-c", &o.clients.to_string()])
        .args(["-d", &format!("{}s", o.seconds), "--timeout", "30s", "-s"])
        .arg(&script)
        .arg(format!("http://{addr}"))
        .output()
        .unwrap_or_else(|e| {
            die(&format!(
                "wrk: {e} (apt-get install wrk, or --tool builtin)"
            ))
        });
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let num = |prefix: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    // "  12345 requests in 60.01s, 1.23GB read"
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let socket_errors: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
        .map(|v| {
            v.split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    let non2xx = num("Non-2xx or 3xx responses:").unwrap_or(0.0) as u64;
    let transfer = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Transfer/sec:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    let mb = if let Some(v) = transfer.strip_suffix("GB") {
        v.parse::<f64>().unwrap_or(0.0) * 1024.0
    } else if let Some(v) = transfer.strip_suffix("MB") {
        v.parse::<f64>().unwrap_or(0.0)
    } else if let Some(v) = transfer.strip_suffix("KB") {
        v.parse::<f64>().unwrap_or(0.0) / 1024.0
    } else {
        0.0
    };
    if !out.status.success() {
        die(&format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Load {
        requests,
        per_second: num("Requests/sec:").unwrap_or(0.0),
        mbytes: mb,
        errors: socket_errors + non2xx,
        detail: text,
    }
}

fn builtin(addr: SocketAddr, targets: &[load::Target], o: &Opts) -> Load {
    let r = load::run(addr, targets, o.clients, Duration::from_secs(o.seconds));
    Load {
        requests: r.requests,
        per_second: r.per_second(),
        mbytes: r.bytes as f64 / 1048576.0 / r.elapsed.as_secs_f64(),
        errors: r.errors,
        detail: format!("first errors: {:?}\n", r.first_errors),
    }
}

fn main() {
    let o = opts();
    std::fs::create_dir_all(&o.out).unwrap();
    let lab = Lab::from_env();
    let hosts: Vec<&str> = o.hosts.iter().map(String::as_str).collect();
    log("building the lab bundle");
    let (bundle, _) = lab_bundle(&o.out);
    let port = free_tcp_port(BRIDGE);
    let config = write_config(&lab, &o, &bundle, port);
    if o.warmup {
        log("warm-up install (unmeasured)");
        clean(&lab, &hosts);
        install(&lab, &o, &config, "warmup");
    }
    log("quiet install");
    clean(&lab, &hosts);
    let quiet = install(&lab, &o, &config, "quiet");
    log(&format!("quiet install: {:.1} s", quiet.as_secs_f64()));

    log(&format!(
        "install under load: {} connections for {} s ({})",
        o.clients, o.seconds, o.tool
    ));
    clean(&lab, &hosts);
    let addr: SocketAddr = format!("{BRIDGE}:{port}").parse().unwrap();
    let loader = {
        let o = Opts {
            hosts: o.hosts.clone(),
            clients: o.clients,
            seconds: o.seconds,
            tool: o.tool.clone(),
            warmup: o.warmup,
            out: o.out.clone(),
        };
        std::thread::spawn(move || {
            let t0 = Instant::now();
            while std::net::TcpStream::connect(addr).is_err() {
                if t0.elapsed() > Duration::from_secs(300) {
                    die("the installer never listened");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let started = t0.elapsed();
            let targets =
                load::installer_targets(addr, &[("cairn/busybox", "1.36"), ("cairn/hello", "1.0")]);
            let l = if o.tool == "wrk" {
                wrk(addr, &targets, &o)
            } else {
                builtin(addr, &targets, &o)
            };
            (started, targets.len(), l)
        })
    };
    let loaded = install(&lab, &o, &config, "loaded");
    let (started, paths, l) = loader.join().expect("the load thread");
    log(&format!("loaded install: {:.1} s", loaded.as_secs_f64()));
    clean(&lab, &hosts);

    let summary = format!(
        "install on {hosts} (etcd x3, registry, CI, monitoring; lab bundle; cairn {bin})\n\
         quiet install:        {quiet:.1} s\n\
         install under load:   {loaded:.1} s  (x{ratio:.2} the quiet one)\n\
         load ({tool}): {clients} connections for {secs} s, starting {start:.1} s after the install began, over {paths} paths (packages, blobs, manifests)\n\
         requests:             {req} ({rps:.0}/s, {mb:.1} MB/s)\n\
         errors:               {err}\n\n{detail}",
        hosts = o.hosts.join(", "),
        bin = cairn_bin().display(),
        quiet = quiet.as_secs_f64(),
        loaded = loaded.as_secs_f64(),
        ratio = loaded.as_secs_f64() / quiet.as_secs_f64(),
        tool = o.tool,
        clients = o.clients,
        secs = o.seconds,
        start = started.as_secs_f64(),
        req = l.requests,
        rps = l.per_second,
        mb = l.mbytes,
        err = l.errors,
        detail = l.detail,
    );
    std::fs::write(o.out.join("summary.txt"), &summary).unwrap();
    println!("{summary}");
    if l.errors > 0 {
        std::process::exit(1);
    }
}
