//! `cairn install` of the platform services on three lab hosts, with the real lab bundle
//! (`scripts/lab-images` + `bundle/lab.yaml`) and the shipped `site.yml`: etcd on all three,
//! the registry on lab25, the CI server (buildbot) on lab26, monitoring (Prometheus +
//! Alertmanager) on lab27. Checked from the controller with real clients:
//!
//! - skopeo inspect `--cert-dir` (the cluster CA only) of every bundle image in the on-site
//!   registry, digests equal to the bundle's; without the CA skopeo refuses the certificate;
//! - Prometheus `/api/v1/targets` all up (node ×3, etcd ×3 over client TLS, the registry's
//!   metrics, Alertmanager, the CI web UI probed by the blackbox exporter with
//!   `probe_success` 1, itself), `/api/v1/rules` with the platform's alerts, and
//!   `/api/v1/alertmanagers` pointing at Alertmanager, whose `/-/healthy` answers 200;
//! - buildbot's web server answers 200, a build of `cairn-smoke` succeeded, the generated
//!   admin password logs in (302) where a wrong one is refused (401); the password file is
//!   0600 and appears neither in the install's output nor in the state store;
//! - the install's summary names the URLs and where the CA and the passwords are.
//!
//! Then a second `cairn install` reports changed=0 on every host and pushes nothing.
//!
//! Host use: lab25, lab26, lab27 only. Before and after (a guard, also on failure) the
//! services are stopped and disabled and their data and Cairn's files removed (etcd's member
//! dir, the registry's storage, buildbot's master and worker, the CA in the trust store, the
//! apt source); packages stay.

use cairn_tests::installed::{CleanOnDrop, clean, lab_bundle, run_ok as run};
use cairn_tests::{Lab, cairn_bin, repo_root, scratch};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const HOSTS: [&str; 3] = ["lab25", "lab26", "lab27"];
const BRIDGE: &str = "10.213.0.1";
const CLUSTER: &str = "plat";
/// A re-run finds its own services listening (pre-flight's port checks do not recognise them).
const OWN_PORTS: &str = "port:2379,port:2380,port:5000,port:8010,port:9090,port:9093,port:9100";

fn write_config(lab: &Lab, dir: &Path) -> std::path::PathBuf {
    let mut y = format!("apiVersion: cairn/v1\nkind: Cluster\nname: {CLUSTER}\nhosts:\n");
    for h in HOSTS {
        y.push_str(&format!(
            "  - {{ name: {h}, address: {}, user: root, auth: {{ key: {}, agent: false }} }}\n",
            lab.address(h),
            lab.key("id_ed25519").display()
        ));
    }
    y.push_str(&format!(
        "roles:\n  etcd: [lab25, lab26, lab27]\n  registry: [lab25]\n  ci: [lab26]\n  monitoring: [lab27]\n\
         installer: {{ address: {BRIDGE}, port: {}, ntp_port: {} }}\n\
         bundle: lab-0.1.0.cairn\n\
         pki: {{ validity_days: 30 }}\n",
        cairn_tests::free_tcp_port(BRIDGE),
        cairn_tests::free_udp_port(BRIDGE),
    ));
    let p = dir.join("cluster.yaml");
    std::fs::write(&p, y).unwrap();
    p
}

struct Installed {
    code: Option<i32>,
    out: String,
}

fn install(lab: &Lab, dir: &Path, config: &Path, name: &str, extra: &[&str]) -> Installed {
    let t0 = Instant::now();
    let o = Command::new(cairn_bin())
        .args(["install", "--config"])
        .arg(config)
        .arg("--known-hosts")
        .arg(&lab.known_hosts)
        .args(["--playbooks"])
        .arg(repo_root().join("playbooks"))
        .args(extra)
        .env("CAIRN_STATE_DIR", dir.join("state"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run cairn install");
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    std::fs::write(dir.join(format!("{name}.log")), &out).unwrap();
    eprintln!("{name}: cairn install took {:?}", t0.elapsed());
    Installed {
        code: o.status.code(),
        out,
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

/// curl from the controller: (status, body).
fn curl(args: &[&str]) -> (u16, String) {
    let o = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl on the controller");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn json_get(url: &str) -> Value {
    let (code, body) = curl(&["-H", "Accept: application/json", url]);
    assert_eq!(code, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

#[test]
fn install_brings_up_registry_ci_and_monitoring_then_changes_nothing() {
    let lab = Lab::from_env();
    let dir = scratch("install-platform");
    clean(&lab, &HOSTS);
    let _cleanup = CleanOnDrop {
        lab: lab.clone(),
        hosts: HOSTS.to_vec(),
    };

    // The lab bundle, images included (the playbooks come from the repository: --playbooks).
    let t0 = Instant::now();
    let (_bundle, images) = lab_bundle(&dir);
    eprintln!("lab bundle built in {:?}", t0.elapsed());
    let config = write_config(&lab, &dir);

    // First install.
    let first = install(&lab, &dir, &config, "first", &[]);
    assert_eq!(first.code, Some(0), "{}", first.out);
    for h in HOSTS {
        assert_eq!(recap(&first.out, h, "failed"), 0, "{}", first.out);
    }
    // busybox: its layer and config sent; hello: the shared layer mounted from busybox, its
    // own layer and config sent; 2 manifests.
    assert!(
        first
            .out
            .contains("registry: pushed the bundle's images to 10.213.0.35:5000 (lab25)")
            && first.out.contains("2 tags; blobs: 4 sent (")
            && first
                .out
                .contains("), 1 mounted, 0 already there; manifests: 2 sent, 0 already there"),
        "{}",
        first.out
    );
    let reg = lab.address("lab25");
    let ci = lab.address("lab26");
    let mon = lab.address("lab27");
    let state = dir.join("state");
    let pki = state.join("pki").join(CLUSTER);
    let secrets = state.join("secrets").join(CLUSTER);
    for want in [
        format!("registry       https://{reg}:5000"),
        format!("CI (buildbot)  http://{ci}:8010/"),
        format!("Prometheus     http://{mon}:9090/"),
        format!("Alertmanager   http://{mon}:9093/"),
        format!("{}/ca.crt", pki.display()),
        format!("{}/ci-admin-password", secrets.display()),
    ] {
        assert!(first.out.contains(&want), "{want:?} not in:\n{}", first.out);
    }

    // The registry, by skopeo with only the cluster CA (in a cert dir).
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(pki.join("ca.crt"), certs.join("ca.crt")).unwrap();
    for (tag, repo) in [
        ("busybox-1.36", "cairn/busybox:1.36"),
        ("hello-1.0", "cairn/hello:1.0"),
    ] {
        let want: Value = serde_json::from_slice(
            &run(Command::new("skopeo")
                .args(["inspect", "--raw"])
                .arg(format!("oci:{}:{tag}", images.display())))
            .stdout,
        )
        .unwrap();
        let raw = run(Command::new("skopeo")
            .args(["inspect", "--raw", "--cert-dir"])
            .arg(&certs)
            .arg(format!("docker://{reg}:5000/{repo}")))
        .stdout;
        assert_eq!(
            serde_json::from_slice::<Value>(&raw).unwrap(),
            want,
            "{repo}"
        );
        let info: Value = serde_json::from_slice(
            &run(Command::new("skopeo")
                .args(["inspect", "--cert-dir"])
                .arg(&certs)
                .arg(format!("docker://{reg}:5000/{repo}")))
            .stdout,
        )
        .unwrap();
        let local: Value = serde_json::from_slice(
            &run(Command::new("skopeo")
                .arg("inspect")
                .arg(format!("oci:{}:{tag}", images.display())))
            .stdout,
        )
        .unwrap();
        assert_eq!(info["Digest"], local["Digest"], "{repo}");
        assert_eq!(info["Layers"], local["Layers"], "{repo}");
    }
    // Without the cluster CA the registry's certificate is not trusted.
    let untrusted = Command::new("skopeo")
        .args(["inspect", "--cert-dir", "/nonexistent"])
        .arg(format!("docker://{reg}:5000/cairn/busybox:1.36"))
        .output()
        .unwrap();
    assert!(!untrusted.status.success());
    let err = String::from_utf8_lossy(&untrusted.stderr);
    assert!(err.contains("certificate"), "{err}");
    // Hosts trust it for container tools too.
    for h in HOSTS {
        let o = lab.ssh(
            h,
            &format!(
                "cmp /etc/containers/certs.d/{reg}:5000/ca.crt /usr/local/share/ca-certificates/cairn-{CLUSTER}.crt && curl -sSf -o /dev/null https://{reg}:5000/v2/"
            ),
        );
        assert!(
            o.status.success(),
            "{h}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    // Prometheus on lab27, from the controller.
    let prom = format!("http://{mon}:9090");
    let targets = json_get(&format!("{prom}/api/v1/targets?state=active"));
    let active = targets["data"]["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 1 + 3 + 3 + 1 + 1 + 1, "{targets:#}");
    for t in active {
        assert_eq!(t["health"], "up", "{t:#}");
    }
    for job in [
        "prometheus",
        "node",
        "etcd",
        "registry",
        "alertmanager",
        "ci",
    ] {
        assert!(
            active.iter().any(|t| t["labels"]["job"] == job),
            "{job}: {targets:#}"
        );
    }
    // The CI server has no metrics: its web UI is probed through the blackbox exporter.
    let probe = json_get(&format!(
        "{prom}/api/v1/query?query=probe_success%7Bjob%3D%22ci%22%7D"
    ));
    assert_eq!(probe["data"]["result"][0]["value"][1], "1", "{probe:#}");
    assert_eq!(
        probe["data"]["result"][0]["metric"]["instance"],
        format!("http://{ci}:8010/")
    );
    let rules = json_get(&format!("{prom}/api/v1/rules"));
    let names: Vec<&str> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter_map(|r| r["name"].as_str())
        .collect();
    for alert in [
        "HostDown",
        "DiskAlmostFull",
        "EtcdNoLeader",
        "ClockSkew",
        "RegistryDown",
        "CIDown",
    ] {
        assert!(names.contains(&alert), "{names:?}");
    }
    let ams = json_get(&format!("{prom}/api/v1/alertmanagers"));
    assert_eq!(
        ams["data"]["activeAlertmanagers"][0]["url"],
        format!("http://{mon}:9093/api/v2/alerts"),
        "{ams:#}"
    );
    let (code, body) = curl(&[&format!("http://{mon}:9093/-/healthy")]);
    assert_eq!(code, 200, "{body}");

    // Buildbot on lab26.
    let bb = format!("http://{ci}:8010");
    let (code, _) = curl(&[&format!("{bb}/")]);
    assert_eq!(code, 200);
    let builds = json_get(&format!(
        "{bb}/api/v2/builders/cairn-smoke/builds?complete=true"
    ));
    assert!(
        builds["builds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["results"] == 0),
        "{builds:#}"
    );
    let pw_path = secrets.join("ci-admin-password");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&pw_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let pw = std::fs::read_to_string(&pw_path).unwrap();
    assert_eq!(pw.len(), 32);
    let (code, _) = curl(&[
        "-o",
        "/dev/null",
        "-u",
        &format!("admin:{pw}"),
        &format!("{bb}/auth/login"),
    ]);
    assert_eq!(code, 302, "the generated admin password logs in");
    let (code, _) = curl(&[
        "-o",
        "/dev/null",
        "-u",
        "admin:not-the-password",
        &format!("{bb}/auth/login"),
    ]);
    assert_eq!(code, 401, "a wrong password is refused");
    // The password is in no output and not in the state store.
    assert!(!first.out.contains(&pw));
    for f in std::fs::read_dir(&state).unwrap().flatten() {
        if f.path().is_file() {
            let bytes = std::fs::read(f.path()).unwrap();
            assert!(
                !bytes.windows(pw.len()).any(|w| w == pw.as_bytes()),
                "the admin password is in {}",
                f.path().display()
            );
        }
    }

    // `cairn registry push` by hand: everything is there already; a CA that did not issue the
    // registry's certificate is refused (exit 2), a file without certificates is bad input.
    let push = |ca: &Path| {
        Command::new(cairn_bin())
            .args(["registry", "push", "--bundle"])
            .arg(dir.join("lab-0.1.0.cairn"))
            .args(["--registry", &format!("{reg}:5000"), "--ca"])
            .arg(ca)
            .output()
            .unwrap()
    };
    let again = push(&pki.join("ca.crt"));
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        format!(
            "pushed to {reg}:5000: 2 tags; blobs: 0 sent (0 bytes), 0 mounted, 5 already there; manifests: 0 sent, 2 already there\n"
        )
    );
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "1", "-subj", "/CN=another-ca", "-keyout"])
        .arg(dir.join("other.key"))
        .arg("-out")
        .arg(dir.join("other.crt")));
    let other = push(&dir.join("other.crt"));
    assert_eq!(other.status.code(), Some(2), "{other:?}");
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        err.starts_with(&format!(
            "error: push to {reg}:5000 failed: {reg}:5000: TLS: invalid peer certificate: UnknownIssuer"
        )),
        "{err}"
    );
    std::fs::write(dir.join("empty.crt"), "no certificate here\n").unwrap();
    let bad = push(&dir.join("empty.crt"));
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        format!(
            "error: the CA file {}: holds no certificate\n",
            dir.join("empty.crt").display()
        )
    );

    // Second install: nothing changes, nothing is pushed.
    let second = install(
        &lab,
        &dir,
        &config,
        "second",
        &["--ignore-preflight", OWN_PORTS],
    );
    assert_eq!(second.code, Some(0), "{}", second.out);
    for h in HOSTS {
        assert_eq!(recap(&second.out, h, "changed"), 0, "{h}: {}", second.out);
        assert_eq!(recap(&second.out, h, "failed"), 0, "{}", second.out);
    }
    assert!(
        second.out.contains(
            "2 tags; blobs: 0 sent (0 bytes), 0 mounted, 5 already there; manifests: 0 sent, 2 already there"
        ),
        "{}",
        second.out
    );
}
