//! The kube steps of `cairn install` (issue 6, steps 10 and 11) end to end on three lab hosts,
//! with the lab bundle, which cannot carry the Kubernetes binaries (they cannot be downloaded
//! here). So the kube roles run in check mode, and this test holds them to that:
//!
//! - the install says "kube binaries not in the bundle: kube steps checked, not applied", in
//!   its summary and from each kube host; nothing of Kubernetes lands on the hosts (no unit,
//!   no binary, no file under /etc/kubernetes, containerd not installed);
//! - what the roles would write (from `--diff`, never a key) is checked with real tools: each
//!   systemd unit by `systemd-analyze verify` ON THE HOST (the only complaint allowed is the
//!   missing binary, and a broken unit is shown to be caught), the kubelet and kube-proxy
//!   configurations and the audit policy parsed as YAML with the cluster's networks, containerd
//!   pointed at the on-site registry with the cluster CA, haproxy on the node that is not a
//!   master toward both masters;
//! - the PKI Cairn made on the controller: every certificate verified by `openssl verify`
//!   against the CA that must have issued it, the apiserver's SANs read by `openssl x509 -ext
//!   subjectAltName`, every kubeconfig parsed as YAML with the right server URL and an
//!   embedded certificate that verifies and names the right user;
//! - a second install: changed=0 outside the kube roles, and the kube roles report the same
//!   would-change results as the first time (check mode: they are never applied).
//!
//! Host use: lab22, lab23 (etcd + kube_master), lab24 (etcd + kube_node + registry group, for
//! containerd's mirror configuration). Afterwards a guard stops what the install started,
//! removes what it wrote, and puts the hosts' apt sources back; packages stay.

use cairn_tests::installed::clean;
use cairn_tests::{Lab, cairn_bin, free_tcp_port, free_udp_port, repo_root, scratch};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BRIDGE: &str = "10.213.0.1";
const HOSTS: [&str; 3] = ["lab22", "lab23", "lab24"];
const MASTERS: [&str; 2] = ["lab22", "lab23"];
const CLUSTER: &str = "kubetest";
const VERIFY_DIR: &str = "/tmp/cairn-kube-verify";
const CHECKED: &str = "kube binaries not in the bundle: kube steps checked, not applied";

fn ssh(lab: &Lab, host: &str, cmd: &str, stdin: Option<&str>) -> Output {
    let mut c = Command::new("ssh");
    c.args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", lab.known_hosts.display()))
        .arg("-i")
        .arg(lab.key("id_ed25519"))
        .arg(format!("root@{}", lab.address(host)))
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("ssh");
    {
        let mut i = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn ssh_ok(lab: &Lab, host: &str, cmd: &str) -> String {
    let o = ssh(lab, host, cmd, None);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{host}: {cmd}: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Puts the hosts back whatever happened (`cairn_tests::installed::clean`, which knows every
/// shipped role's files, the directories check mode created included), and removes what this
/// test copied there to verify.
struct Cleanup(Lab);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for h in HOSTS {
            self.0.ssh(h, &format!("rm -rf {VERIFY_DIR}"));
        }
        clean(&self.0, &HOSTS);
    }
}

fn write_config(lab: &Lab, dir: &Path, bundle: &Path) -> PathBuf {
    let mut hosts = String::new();
    for h in HOSTS {
        hosts.push_str(&format!(
            "  - {{ name: {h}, address: {} }}\n",
            lab.address(h)
        ));
    }
    let text = format!(
        "apiVersion: cairn/v1\nkind: Cluster\nname: {CLUSTER}\n\
         defaults:\n  user: root\n  auth: {{ key: {key} }}\n\
         hosts:\n{hosts}\
         roles:\n  etcd: [lab22, lab23, lab24]\n  kube_master: [lab22, lab23]\n  kube_node: [lab24]\n  registry: [lab24]\n\
         installer: {{ address: {BRIDGE}, port: {port}, ntp_port: {ntp} }}\n\
         bundle: {bundle}\n\
         network:\n  pod_cidr: 10.244.0.0/16\n  service_cidr: 10.96.0.0/12\n  cluster_domain: kube.test\n\
         pki:\n  validity_days: 30\n  ca_validity_days: 90\n",
        key = lab.key("id_ed25519").display(),
        port = free_tcp_port(BRIDGE),
        ntp = free_udp_port(BRIDGE),
        bundle = bundle.display(),
    );
    let p = dir.join("cluster.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

struct Run {
    code: Option<i32>,
    events: Vec<Value>,
    stderr: String,
}

fn install(lab: &Lab, dir: &Path, config: &Path, name: &str, extra: &[&str]) -> Run {
    let o = Command::new(cairn_bin())
        .args(["install", "--json", "--diff", "--config"])
        .arg(config)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--known-hosts")
        .arg(&lab.known_hosts)
        // The bundle is built from a copy of the spec, without the repository's playbooks.
        .arg("--playbooks")
        .arg(repo_root().join("playbooks"))
        .args(extra)
        .output()
        .expect("run cairn install");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    std::fs::write(dir.join(format!("{name}.jsonl")), &stdout).unwrap();
    std::fs::write(dir.join(format!("{name}.stderr")), &stderr).unwrap();
    let events = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    Run {
        code: o.status.code(),
        events,
        stderr,
    }
}

/// Every host result of the run (envelopes whose event type is `host_result`).
fn results(run: &Run) -> Vec<&Value> {
    run.events
        .iter()
        .filter(|e| e["type"] == "host_result")
        .collect()
}

fn is_kube(task: &str) -> bool {
    task.starts_with("kube_master : ") || task.starts_with("kube_node : ")
}

fn changed(r: &Value) -> bool {
    r["outcome"] == "changed"
}

/// (host, task, item) of the changed results, kube roles' or the others'.
fn changed_set(run: &Run, kube: bool) -> BTreeSet<(String, String, String)> {
    results(run)
        .into_iter()
        .filter(|r| changed(r) && is_kube(r["task"].as_str().unwrap_or("")) == kube)
        .map(|r| {
            (
                r["host"].as_str().unwrap_or("").to_string(),
                r["task"].as_str().unwrap_or("").to_string(),
                r["item"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// What the kube roles would write: host → path → text, from the diffs of the check-mode run.
fn rendered(run: &Run) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for r in results(run) {
        if !is_kube(r["task"].as_str().unwrap_or("")) {
            continue;
        }
        for d in r["diff"].as_array().into_iter().flatten() {
            let path = d["after_header"].as_str().unwrap().to_string();
            if path.is_empty() {
                continue;
            }
            out.entry(r["host"].as_str().unwrap().to_string())
                .or_default()
                .insert(path, d["after"].as_str().unwrap().to_string());
        }
    }
    out
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl on the controller")
}

fn verify(ca: &Path, crt: &Path) {
    let o = openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        crt.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "{} against {}: {}{}",
        crt.display(),
        ca.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn yaml(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

#[test]
fn kube_steps_are_checked_not_applied_and_what_they_would_lay_down_verifies() {
    let lab = Lab::from_env();
    let dir = scratch("install-kube");
    // The lab bundle's images are built offline (scripts/lab-images) beside a copy of the spec
    // (its `oci:lab-images` sources are relative to the spec).
    let images = Command::new(repo_root().join("scripts/lab-images"))
        .arg(dir.join("lab-images"))
        .output()
        .unwrap();
    assert!(
        images.status.success(),
        "{}",
        String::from_utf8_lossy(&images.stderr)
    );
    std::fs::copy(repo_root().join("bundle/lab.yaml"), dir.join("lab.yaml")).unwrap();
    let built = Command::new(cairn_bin())
        .args(["bundle", "build", "lab.yaml", "--out", "."])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let config = write_config(&lab, &dir, &dir.join("lab-0.1.0.cairn"));
    let _cleanup = Cleanup(lab.clone());

    // First install.
    let first = install(&lab, &dir, &config, "first", &[]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(
        first.stderr.contains(&format!(
            "{CHECKED} (missing from files/: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl)"
        )),
        "no honest summary line:\n{}",
        first.stderr
    );
    // Each kube host says it too, from each role it plays.
    let says: BTreeSet<(String, String)> = results(&first)
        .into_iter()
        .filter(|r| {
            r["task"]
                .as_str()
                .is_some_and(|t| t.ends_with("Say that the kube steps are only checked"))
                && r["msg"]
                    .as_str()
                    .or(r["data"]["msg"].as_str())
                    .is_some_and(|m| m.starts_with(CHECKED))
        })
        .map(|r| {
            let t = r["task"].as_str().unwrap();
            (
                r["host"].as_str().unwrap().to_string(),
                t.split(" : ").next().unwrap().to_string(),
            )
        })
        .collect();
    let mut want = BTreeSet::new();
    for h in MASTERS {
        want.insert((h.to_string(), "kube_master".to_string()));
    }
    for h in HOSTS {
        want.insert((h.to_string(), "kube_node".to_string()));
    }
    assert_eq!(says, want);

    // Nothing of Kubernetes was applied: only the empty directories the check needed.
    for h in HOSTS {
        let state = ssh_ok(
            &lab,
            h,
            "find /etc/kubernetes /var/lib/kubelet /var/lib/kube-proxy /etc/containerd -type f 2>/dev/null | wc -l; \
             ls /etc/systemd/system/kube-apiserver.service /etc/systemd/system/kubelet.service \
                /usr/local/bin/kubelet /usr/local/bin/kube-apiserver 2>/dev/null | wc -l; \
             dpkg -s containerd >/dev/null 2>&1 && echo containerd-installed || echo no-containerd",
        );
        assert_eq!(state, "0\n0\nno-containerd\n", "{h}");
    }

    // What would have been written, per host; never a key or a secret.
    let files = rendered(&first);
    for (h, paths) in &files {
        for (p, text) in paths {
            for secret in ["PRIVATE KEY", "client-key-data", "secret:"] {
                assert!(!text.contains(secret), "{h}: {p} shows {secret}");
            }
        }
    }
    let units_of = |h: &str| -> Vec<&str> {
        let mut u = vec!["kubelet", "kube-proxy"];
        if MASTERS.contains(&h) {
            u.extend([
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
            ]);
        }
        u
    };
    // systemd-analyze verify on the host: each unit loads; the one complaint is its binary.
    for h in HOSTS {
        let mine = &files[h];
        ssh_ok(
            &lab,
            h,
            &format!("rm -rf {VERIFY_DIR}; mkdir -p {VERIFY_DIR}"),
        );
        let mut expected = BTreeSet::new();
        let mut paths = Vec::new();
        for u in units_of(h) {
            let text = mine
                .get(&format!("/etc/systemd/system/{u}.service"))
                .unwrap_or_else(|| panic!("{h}: no {u}.service rendered: {:?}", mine.keys()));
            let remote = format!("{VERIFY_DIR}/{u}.service");
            let o = ssh(&lab, h, &format!("cat > {remote}"), Some(text));
            assert!(o.status.success());
            expected.insert(format!(
                "{u}.service: Command /usr/local/bin/{u} is not executable: No such file or directory"
            ));
            paths.push(remote);
        }
        let o = ssh(
            &lab,
            h,
            &format!("systemd-analyze verify {}", paths.join(" ")),
            None,
        );
        let complaints: BTreeSet<String> = String::from_utf8_lossy(&o.stderr)
            .lines()
            .chain(String::from_utf8_lossy(&o.stdout).lines())
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(complaints, expected, "{h}: systemd-analyze verify");
        // The control: a misspelt directive is reported, so a silent verify means something.
        let broken = mine["/etc/systemd/system/kubelet.service"].replace("Restart=", "Restrat=");
        ssh(
            &lab,
            h,
            &format!("cat > {VERIFY_DIR}/broken.service"),
            Some(&broken),
        );
        let o = ssh(
            &lab,
            h,
            &format!("systemd-analyze verify {VERIFY_DIR}/broken.service"),
            None,
        );
        let text = String::from_utf8_lossy(&o.stderr);
        assert!(
            text.contains("Unknown key 'Restrat' in section [Service]"),
            "{h}: the broken unit was not caught: {text}"
        );
    }

    // The masters' flags: their own address, the etcd members, the networks, the files.
    for h in MASTERS {
        let api = &files[h]["/etc/systemd/system/kube-apiserver.service"];
        for flag in [
            format!("--advertise-address={}", lab.address(h)),
            format!(
                "--etcd-servers=https://{}:2379,https://{}:2379,https://{}:2379",
                lab.address("lab22"),
                lab.address("lab23"),
                lab.address("lab24")
            ),
            "--service-cluster-ip-range=10.96.0.0/12".into(),
            "--service-account-issuer=https://kubernetes.default.svc.kube.test".into(),
            "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt".into(),
            "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt".into(),
            "--encryption-provider-config=/etc/kubernetes/encryption-config.yaml".into(),
            "--authorization-mode=Node,RBAC".into(),
        ] {
            assert!(
                api.contains(&format!("  {flag} \\\n")),
                "{h}: {flag}\n{api}"
            );
        }
        let cm = &files[h]["/etc/systemd/system/kube-controller-manager.service"];
        assert!(cm.contains("--cluster-cidr=10.244.0.0/16"), "{cm}");
        let audit = yaml(&files[h]["/etc/kubernetes/audit-policy.yaml"]);
        assert_eq!(audit["kind"], "Policy");
    }
    // Every node: kubelet and kube-proxy configurations, containerd and its registry.
    let registry = format!("{}:5000", lab.address("lab24"));
    for h in HOSTS {
        let f = &files[h];
        let k = yaml(&f["/var/lib/kubelet/config.yaml"]);
        assert_eq!(k["kind"], "KubeletConfiguration");
        assert_eq!(k["clusterDNS"][0], "10.96.0.10");
        assert_eq!(k["clusterDomain"], "kube.test");
        assert_eq!(k["cgroupDriver"], "systemd");
        assert_eq!(
            k["authentication"]["x509"]["clientCAFile"],
            "/etc/kubernetes/pki/ca.crt"
        );
        assert_eq!(k["authentication"]["anonymous"]["enabled"], false);
        assert_eq!(k["tlsCertFile"], "/var/lib/kubelet/pki/kubelet.crt");
        let p = yaml(&f["/var/lib/kube-proxy/config.yaml"]);
        assert_eq!(p["kind"], "KubeProxyConfiguration");
        assert_eq!(p["clusterCIDR"], "10.244.0.0/16");
        assert_eq!(
            p["clientConnection"]["kubeconfig"],
            "/etc/kubernetes/kube-proxy.conf"
        );
        let c = &f["/etc/containerd/config.toml"];
        assert!(c.contains("SystemdCgroup = true"), "{c}");
        assert!(
            c.contains("config_path = \"/etc/containerd/certs.d\""),
            "{c}"
        );
        assert!(
            c.contains(&format!("sandbox_image = \"{registry}/pause:3.9\"")),
            "{c}"
        );
        for (name, server) in [
            (registry.as_str(), format!("https://{registry}")),
            ("docker.io", "https://registry-1.docker.io".to_string()),
            ("registry.k8s.io", "https://registry.k8s.io".to_string()),
        ] {
            let t = &f[&format!("/etc/containerd/certs.d/{name}/hosts.toml")];
            assert!(t.contains(&format!("server = \"{server}\"")), "{t}");
            assert!(t.contains(&format!("[host.\"https://{registry}\"]")), "{t}");
            assert!(
                t.contains(&format!(
                    "ca = \"/etc/containerd/certs.d/{registry}/ca.crt\""
                )),
                "{t}"
            );
        }
        // The local load balancer only where it is needed: lab24, toward both masters.
        let lb = f.get("/etc/haproxy/haproxy.cfg");
        if h == "lab24" {
            let lb = lb.expect("lab24 needs the local API load balancer");
            assert!(lb.contains("bind 127.0.0.1:6443"), "{lb}");
            for m in MASTERS {
                assert!(
                    lb.contains(&format!("server {m} {}:6443 check", lab.address(m))),
                    "{lb}"
                );
            }
        } else {
            assert!(lb.is_none(), "{h} is a master: no load balancer");
        }
    }

    // The PKI on the controller.
    let pki = dir.join("state/pki").join(CLUSTER);
    let k = pki.join("kube");
    let kube_ca = k.join("ca.crt");
    for c in [
        "apiserver.crt",
        "apiserver-kubelet-client.crt",
        "admin.crt",
        "controller-manager.crt",
        "scheduler.crt",
        "kube-proxy.crt",
        "nodes/lab22/kubelet-client.crt",
        "nodes/lab24/kubelet-client.crt",
        "nodes/lab24/kubelet.crt",
    ] {
        verify(&kube_ca, &k.join(c));
    }
    verify(&pki.join("ca.crt"), &k.join("apiserver-etcd-client.crt"));
    verify(
        &k.join("front-proxy-ca.crt"),
        &k.join("front-proxy-client.crt"),
    );
    // And not across: the etcd client is not good for the Kubernetes CA.
    assert!(
        !openssl(&[
            "verify",
            "-CAfile",
            kube_ca.to_str().unwrap(),
            k.join("apiserver-etcd-client.crt").to_str().unwrap()
        ])
        .status
        .success()
    );
    let sans = String::from_utf8_lossy(
        &openssl(&[
            "x509",
            "-noout",
            "-ext",
            "subjectAltName",
            "-in",
            k.join("apiserver.crt").to_str().unwrap(),
        ])
        .stdout,
    )
    .into_owned();
    for name in [
        "DNS:kubernetes".to_string(),
        "DNS:kubernetes.default".into(),
        "DNS:kubernetes.default.svc".into(),
        "DNS:kubernetes.default.svc.kube.test".into(),
        "DNS:lab22".into(),
        "DNS:lab23".into(),
        "IP Address:10.96.0.1".into(),
        "IP Address:127.0.0.1".into(),
        format!("IP Address:{}", lab.address("lab22")),
        format!("IP Address:{}", lab.address("lab23")),
    ] {
        assert!(
            sans.split([',', '\n']).any(|s| s.trim() == name),
            "{name} not in {sans}"
        );
    }
    assert!(
        !sans.contains(&lab.address("lab24")),
        "lab24 is not a master: {sans}"
    );

    // Kubeconfigs: YAML, the server each component must use, the CA and a client
    // certificate that verifies and names the right user.
    let lb_url = "https://127.0.0.1:6443".to_string();
    let first_master = format!("https://{}:6443", lab.address("lab22"));
    for (conf, server, subject) in [
        (
            "admin.conf",
            first_master.as_str(),
            "CN=kubernetes-admin, O=system:masters",
        ),
        (
            "controller-manager.conf",
            &lb_url,
            "CN=system:kube-controller-manager",
        ),
        ("scheduler.conf", &lb_url, "CN=system:kube-scheduler"),
        (
            "nodes/lab22/kubelet.conf",
            &lb_url,
            "CN=system:node:lab22, O=system:nodes",
        ),
        (
            "nodes/lab24/kubelet.conf",
            &lb_url,
            "CN=system:node:lab24, O=system:nodes",
        ),
        (
            "nodes/lab24/kube-proxy.conf",
            &lb_url,
            "CN=system:kube-proxy, O=system:node-proxier",
        ),
    ] {
        let y = yaml(&std::fs::read_to_string(k.join(conf)).unwrap());
        assert_eq!(y["kind"], "Config", "{conf}");
        assert_eq!(y["clusters"][0]["cluster"]["server"], server, "{conf}");
        let data = |v: &serde_yaml::Value| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap()
        };
        assert_eq!(
            data(&y["clusters"][0]["cluster"]["certificate-authority-data"]),
            std::fs::read(&kube_ca).unwrap(),
            "{conf}"
        );
        let crt = dir.join("embedded.crt");
        std::fs::write(
            &crt,
            data(&y["users"][0]["user"]["client-certificate-data"]),
        )
        .unwrap();
        verify(&kube_ca, &crt);
        let s = String::from_utf8_lossy(
            &openssl(&[
                "x509",
                "-noout",
                "-subject",
                "-nameopt",
                "RFC2253",
                "-in",
                crt.to_str().unwrap(),
            ])
            .stdout,
        )
        .into_owned();
        let mut parts: Vec<&str> = s.trim().trim_start_matches("subject=").split(',').collect();
        parts.reverse();
        assert_eq!(parts.join(", "), subject, "{conf}");
    }

    // Second install: what was applied stays as it is; the kube roles, still only checked,
    // report the same would-change results (check mode never applies them).
    let second = install(
        &lab,
        &dir,
        &config,
        "second",
        &[
            "--ignore-preflight",
            "port:2379,port:2380,port:5000,port:9100",
        ],
    );
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert!(second.stderr.contains(CHECKED), "{}", second.stderr);
    let others = changed_set(&second, false);
    assert!(others.is_empty(), "second run changed: {others:#?}");
    let kube_first: BTreeSet<_> = changed_set(&first, true)
        .into_iter()
        .filter(|(_, t, _)| !t.contains("directories"))
        .collect();
    assert!(!kube_first.is_empty());
    assert_eq!(changed_set(&second, true), kube_first);
}
