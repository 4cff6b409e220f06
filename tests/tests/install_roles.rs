//! The shipped install playbook (`playbooks/site.yml` and its roles) end to end on three lab
//! hosts: the lab bundle built and served (HTTP repository and NTP on the bridge), a test PKI
//! made with openssl in the layout Cairn's generator writes, then `cairn play site.yml` with
//! the variables `cairn install` passes. Checked with real clients: etcdctl (3 healthy
//! members, a put/get round trip over TLS), Prometheus's `/api/v1/targets` from the
//! controller (every target up), `chronyc -n sources` (the installer selected). Then the
//! second run must change nothing, and a third in check mode too.
//!
//! Host use: lab10, lab11, lab12 only (etcd on all three, monitoring on lab10, kube_node on
//! lab12 for the base role's Kubernetes settings). Afterwards the services are stopped and
//! disabled, etcd's data, the repository file and Cairn's settings removed and the hosts'
//! own apt sources put back; the packages stay.

use cairn_tests::installed::run_ok as run;
use cairn_tests::{Lab, cairn_bin, repo_root, scratch};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BRIDGE: &str = "10.213.0.1";
const HOSTS: &[&str] = &["lab10", "lab11", "lab12"];

/// `cairn serve` of the lab bundle with NTP on a free UDP port; stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling our own child process by its id.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn free_tcp() -> u16 {
    TcpListener::bind((BRIDGE, 0))
        .and_then(|l| l.local_addr())
        .expect("bind on the lab bridge: is the lab up?")
        .port()
}

fn free_udp() -> u16 {
    UdpSocket::bind((BRIDGE, 0))
        .and_then(|s| s.local_addr())
        .expect("bind on the lab bridge")
        .port()
}

fn serve(bundle: &Path, http: SocketAddr, ntp: SocketAddr, log: &Path) -> Server {
    let child = Command::new(cairn_bin())
        .args(["serve", "--bundle"])
        .arg(bundle)
        .args(["--listen", &http.to_string(), "--ntp", &ntp.to_string()])
        .stderr(std::fs::File::create(log).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .expect("start cairn serve");
    let server = Server(child);
    let t0 = Instant::now();
    while TcpStream::connect(http).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "server did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// A CA and etcd's certificates, as Cairn's PKI generator lays them out: `ca.crt`,
/// `etcd/HOST/{server,peer}.{crt,key}`, `etcd/client.{crt,key}`.
fn make_pki(lab: &Lab, dir: &Path) -> PathBuf {
    let pki = dir.join("pki");
    std::fs::create_dir_all(pki.join("etcd")).unwrap();
    let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(&pki));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=cairn-test-roles-ca",
    ]);
    let leaf = |path: &str, cn: &str, san: Option<String>, usage: &str| {
        let ext = pki.join(format!("{}.ext", path.replace('/', "_")));
        let mut text = format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage={usage}\n"
        );
        if let Some(san) = san {
            text.push_str(&format!("subjectAltName={san}\n"));
        }
        std::fs::write(&ext, text).unwrap();
        let (key, csr, crt) = (
            format!("{path}.key"),
            format!("{path}.csr"),
            format!("{path}.crt"),
        );
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={cn}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            ext.to_str().unwrap(),
        ]);
    };
    for h in HOSTS {
        std::fs::create_dir_all(pki.join("etcd").join(h)).unwrap();
        let ip = lab.address(h);
        let san = format!("DNS:{h},DNS:localhost,IP:{ip},IP:127.0.0.1");
        leaf(
            &format!("etcd/{h}/server"),
            h,
            Some(san.clone()),
            "serverAuth,clientAuth",
        );
        leaf(
            &format!("etcd/{h}/peer"),
            h,
            Some(san),
            "serverAuth,clientAuth",
        );
    }
    leaf("etcd/client", "etcd-client", None, "clientAuth");
    pki
}

fn inventory(lab: &Lab, dir: &Path) -> PathBuf {
    let mut ini = String::from("[all]\n");
    for h in HOSTS {
        ini.push_str(&format!(
            "{h} ansible_host={} ansible_user=cairn ansible_ssh_private_key_file={}\n",
            lab.address(h),
            lab.key("id_ed25519").display()
        ));
    }
    ini.push_str("\n[etcd]\nlab10\nlab11\nlab12\n\n[monitoring]\nlab10\n\n[kube_node]\nlab12\n");
    let p = dir.join("hosts");
    std::fs::write(&p, ini).unwrap();
    p
}

struct Run {
    code: Option<i32>,
    out: String,
    took: Duration,
}

/// `cairn play site.yml`; its output is also kept as `dir/NAME.log` for a look afterwards.
fn play(lab: &Lab, dir: &Path, name: &str, inv: &Path, vars: &str, extra: &[&str]) -> Run {
    let t0 = Instant::now();
    let o = Command::new(cairn_bin())
        .arg("play")
        .arg(repo_root().join("playbooks/site.yml"))
        .arg("-i")
        .arg(inv)
        .arg("--known-hosts")
        .arg(&lab.known_hosts)
        .args(["-e", vars])
        // The kube plays need Cairn's kube PKI, which this test's openssl PKI does not make;
        // install_kube.rs tests them.
        .args(["--skip-tags", "kube"])
        .args(extra)
        .output()
        .expect("run cairn play");
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    std::fs::write(dir.join(format!("{name}.log")), &out).unwrap();
    Run {
        code: o.status.code(),
        out,
        took: t0.elapsed(),
    }
}

/// The recap's `KEY=N` for `host`.
fn recap(out: &str, host: &str, key: &str) -> u32 {
    let recap = out.split("PLAY RECAP").last().unwrap();
    let line = recap
        .lines()
        .find(|l| l.starts_with(host))
        .unwrap_or_else(|| panic!("no recap line for {host}:\n{out}"));
    let n = line
        .split(&format!("{key}="))
        .nth(1)
        .unwrap_or_else(|| panic!("no {key}= in {line}"));
    n.split_whitespace().next().unwrap().parse().unwrap()
}

/// A command on a lab host as root over the system's ssh (usable from `Drop`).
fn ssh(lab: &Lab, host: &str, cmd: &str) -> Output {
    Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", lab.known_hosts.display()))
        .arg("-i")
        .arg(lab.key("id_ed25519"))
        .arg(format!("root@{}", lab.address(host)))
        .arg(cmd)
        .output()
        .expect("run ssh")
}

fn ssh_ok(lab: &Lab, host: &str, cmd: &str) -> String {
    let o = ssh(lab, host, cmd);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{host}: {cmd}: {text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    text
}

/// Puts the hosts back (services stopped and disabled, etcd's data and Cairn's files removed,
/// the apt sources moved back), whether the test passed or not. Packages stay.
struct Cleanup(Lab);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for h in HOSTS {
            let o = ssh(
                &self.0,
                h,
                "systemctl disable --now prometheus prometheus-alertmanager prometheus-blackbox-exporter \
                   prometheus-node-exporter etcd chrony 2>&1; \
                 rm -f /usr/local/share/ca-certificates/cairn-*.crt; update-ca-certificates --fresh >/dev/null 2>&1; \
                 rm -rf /var/lib/etcd/member /etc/etcd/pki /etc/prometheus/etcd /etc/prometheus/rules; \
                 rm -f /etc/apt/sources.list.d/cairn.list /etc/sysctl.d/90-cairn.conf \
                   /etc/systemd/system/etcd.service.d/cairn-initial.conf \
                   /etc/modules-load.d/cairn.conf /etc/systemd/system/chrony.service.d/cairn-container.conf; \
                 sysctl -qw net.ipv4.ip_forward=0; \
                 if [ -d /etc/apt/sources.cairn-backup ]; then \
                   for f in /etc/apt/sources.cairn-backup/*; do [ -e \"$f\" ] || continue; \
                     case ${f##*/} in sources.list) mv \"$f\" /etc/apt/ ;; *) mv \"$f\" /etc/apt/sources.list.d/ ;; esac; \
                   done; rmdir /etc/apt/sources.cairn-backup; fi; \
                 sed -i '/CAIRN CLUSTER HOSTS/,/CAIRN CLUSTER HOSTS/d' /etc/hosts; \
                 systemctl daemon-reload",
            );
            if !o.status.success() {
                eprintln!(
                    "cleanup of {h} failed: {}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
    }
}

/// `GET path` from the controller; the body.
fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_string()
}

#[test]
fn site_yml_installs_etcd_prometheus_chrony_then_changes_nothing() {
    let lab = Lab::from_env();
    let dir = scratch("install-roles");

    let t0 = Instant::now();
    run(&mut Command::new(repo_root().join("scripts/lab-images")));
    run(Command::new(cairn_bin())
        .args(["bundle", "build"])
        .arg(repo_root().join("bundle/lab.yaml"))
        .arg("--out")
        .arg(&dir));
    let bundle = dir.join("lab-0.1.0.cairn");
    eprintln!("lab bundle built in {:?}", t0.elapsed());
    let http: SocketAddr = format!("{BRIDGE}:{}", free_tcp()).parse().unwrap();
    let ntp: SocketAddr = format!("{BRIDGE}:{}", free_udp()).parse().unwrap();
    let _server = serve(&bundle, http, ntp, &dir.join("serve.log"));
    let pki = make_pki(&lab, &dir);
    let inv = inventory(&lab, &dir);
    let vars = serde_json::json!({
        "cairn_repo_url": format!("http://{http}"),
        "cairn_ntp_server": BRIDGE,
        "cairn_ntp_port": ntp.port(),
        "cairn_pki_dir": pki,
        "cairn_cluster_name": "roles-test",
    })
    .to_string();
    let _cleanup = Cleanup(lab.clone());

    // First run: from whatever the hosts are to the platform.
    let first = play(&lab, &dir, "first", &inv, &vars, &[]);
    assert_eq!(first.code, Some(0), "{}", first.out);
    for h in HOSTS {
        assert_eq!(recap(&first.out, h, "failed"), 0, "{}", first.out);
        assert_eq!(recap(&first.out, h, "unreachable"), 0, "{}", first.out);
    }

    // etcd: three healthy members over TLS, and data goes round.
    let ctl = "ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/etcd/pki/ca.crt \
               --cert /etc/etcd/pki/client.crt --key /etc/etcd/pki/client.key";
    let health = ssh_ok(
        &lab,
        "lab11",
        &format!("{ctl} endpoint health --cluster 2>&1"),
    );
    assert_eq!(health.matches("is healthy").count(), 3, "{health}");
    for h in HOSTS {
        assert!(
            health.contains(&format!("https://{}:2379", lab.address(h))),
            "{health}"
        );
    }
    let members = ssh_ok(&lab, "lab11", &format!("{ctl} member list"));
    assert_eq!(members.lines().count(), 3, "{members}");
    for h in HOSTS {
        assert!(members.contains(&format!(", started, {h}, ")), "{members}");
    }
    ssh_ok(&lab, "lab10", &format!("{ctl} put /cairn/roles-test hello"));
    let got = ssh_ok(
        &lab,
        "lab12",
        &format!("{ctl} get --print-value-only /cairn/roles-test"),
    );
    assert_eq!(got.trim(), "hello");
    // Without a client certificate, etcd refuses.
    let anon = ssh(
        &lab,
        "lab11",
        "ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/etcd/pki/ca.crt \
         --dial-timeout 3s --command-timeout 5s get /cairn/roles-test",
    );
    assert!(
        !anon.status.success(),
        "etcd answered a client without a certificate"
    );

    // Prometheus on lab10, from the controller: its own, 3 node exporters, 3 etcd members,
    // Alertmanager (lab10).
    let prom = format!("{}:9090", lab.address("lab10"));
    let targets: Value = serde_json::from_str(&http_get(&prom, "/api/v1/targets")).unwrap();
    let active = targets["data"]["activeTargets"]
        .as_array()
        .expect("activeTargets");
    assert_eq!(active.len(), 8, "{targets:#}");
    for t in active {
        assert_eq!(t["health"], "up", "{t:#}");
    }
    for job in ["prometheus", "node", "etcd", "alertmanager"] {
        assert!(
            active.iter().any(|t| t["labels"]["job"] == job),
            "{targets:#}"
        );
    }
    let rules: Value = serde_json::from_str(&http_get(&prom, "/api/v1/rules")).unwrap();
    let names: Vec<&str> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter_map(|r| r["name"].as_str())
        .collect();
    for alert in ["HostDown", "DiskAlmostFull", "EtcdNoLeader", "ClockSkew"] {
        assert!(names.contains(&alert), "{names:?}");
    }

    // chrony: the installer is the selected source, measured (-x) in these containers.
    for h in HOSTS {
        let sources = ssh_ok(&lab, h, "chronyc -n sources");
        assert!(
            sources
                .lines()
                .any(|l| l.starts_with(&format!("^* {BRIDGE} "))),
            "{h}: {sources}"
        );
        let opts = ssh_ok(
            &lab,
            h,
            "cat /etc/default/chrony; cat /etc/apt/sources.list.d/*",
        );
        assert!(opts.contains("-x\""), "{h}: {opts}");
        assert!(
            opts.contains(&format!("deb [trusted=yes] http://{http}/repo/deb ./")),
            "{h}: {opts}"
        );
    }
    let hosts = ssh_ok(&lab, "lab11", "cat /etc/hosts");
    for h in HOSTS {
        assert!(
            hosts.contains(&format!("{} {h}\n", lab.address(h))),
            "{hosts}"
        );
    }
    assert_eq!(
        ssh_ok(&lab, "lab12", "sysctl -n net.ipv4.ip_forward").trim(),
        "1"
    );

    // Second run: nothing to do.
    let second = play(&lab, &dir, "second", &inv, &vars, &[]);
    assert_eq!(second.code, Some(0), "{}", second.out);
    for h in HOSTS {
        assert_eq!(
            recap(&second.out, h, "changed"),
            0,
            "second run changed {h}:\n{}",
            second.out
        );
        assert_eq!(recap(&second.out, h, "failed"), 0, "{}", second.out);
    }
    // Third run, check mode: nothing would change either.
    let third = play(&lab, &dir, "check", &inv, &vars, &["--check"]);
    assert_eq!(third.code, Some(0), "{}", third.out);
    for h in HOSTS {
        assert_eq!(
            recap(&third.out, h, "changed"),
            0,
            "check run would change {h}:\n{}",
            third.out
        );
    }
    eprintln!(
        "site.yml on 3 hosts: first run {:?}, second {:?}, check {:?}",
        first.took, second.took, third.took
    );
}
