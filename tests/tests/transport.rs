//! The SSH transport against real OpenSSH servers on lab hosts.
//!
//! Host use (so tests can run in parallel without stepping on each other):
//! lab1–lab3 ordinary work, lab4 network/freeze/sshd faults, lab5 host key rotation.

use cairn_engine::ssh::{
    Connector, ExecRequest, HostKeyPolicy, Identity, Phase, SshError, Stdin, Stream, UploadRequest,
};
use cairn_tests::{KEY_PASSPHRASE, Lab, OPS_PASSWORD, env_secret, inline_secret, scratch};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

fn lab() -> Lab {
    Lab::from_env()
}

#[tokio::test]
async fn exec_streams_output_and_reports_exit_status() {
    let lab = lab();
    let dir = scratch("exec");
    for host in ["lab1", "lab2", "lab3"] {
        let c = lab.connect(&dir, host, "root").await;
        let out = c.run("hostname").await.unwrap();
        assert!(out.success());
        assert_eq!(out.stdout_str().trim(), host);

        let out = c.run("echo to-out; echo to-err >&2; exit 3").await.unwrap();
        assert_eq!(out.exit_status, Some(3));
        assert_eq!(out.stdout_str(), "to-out\n");
        assert_eq!(out.stderr_str(), "to-err\n");
    }

    // Output arrives while the command still runs.
    let c = lab.connect(&dir, "lab1", "root").await;
    let started = Instant::now();
    let mut first_chunk_at = None;
    let out = c
        .exec_streaming(
            ExecRequest::new("echo first; sleep 1; echo second"),
            &mut |s, _| {
                if s == Stream::Stdout && first_chunk_at.is_none() {
                    first_chunk_at = Some(started.elapsed());
                }
            },
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "first\nsecond\n");
    assert!(
        first_chunk_at.unwrap() < Duration::from_millis(900),
        "first output should stream before the command ends: {first_chunk_at:?}"
    );

    // stdin reaches the command; a signal is reported as such.
    let out = c
        .exec(ExecRequest::new("tr a-z A-Z").stdin(Stdin::Bytes(b"hello")))
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "HELLO");
    let out = c.run("kill -TERM $$").await.unwrap();
    assert_eq!(out.exit_status, None);
    assert!(out.exit_signal.unwrap().contains("TERM"));
}

#[tokio::test]
async fn many_channels_share_one_connection() {
    let lab = lab();
    let dir = scratch("channels");
    let c = lab.connect(&dir, "lab2", "root").await;
    // More concurrent commands than sshd's MaxSessions default (10): the rest must queue.
    let futs = (0..40).map(|i| {
        let c = &c;
        async move { c.run(&format!("echo {i}")).await.unwrap().stdout_str() }
    });
    let outs = futures::future::join_all(futs).await;
    for (i, o) in outs.iter().enumerate() {
        assert_eq!(o.trim(), i.to_string());
    }
    // All of it went over the one connection made at the start.
    assert!(!c.is_closed());
}

#[tokio::test]
async fn upload_and_download_50mb_with_matching_sha256() {
    let lab = lab();
    let dir = scratch("transfer");
    let src = dir.join("big.bin");
    // 50 MiB of non-repeating data (a counter hashed in blocks), so compression cannot cheat.
    let mut data = Vec::with_capacity(50 << 20);
    let mut block = [0u8; 32];
    let mut i = 0u64;
    while data.len() < 50 << 20 {
        block = Sha256::digest([&block[..], &i.to_le_bytes()].concat()).into();
        data.extend_from_slice(&block);
        i += 1;
    }
    std::fs::write(&src, &data).unwrap();
    let want = hex::encode(Sha256::digest(&data));

    let c = lab.connect(&dir, "lab3", "root").await;
    let up = c
        .upload_file(
            &src,
            UploadRequest {
                dest: "/root/big.bin",
                mode: Some(0o600),
                become_user: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(up.bytes, 50 << 20);
    assert_eq!(up.sha256, want);
    let remote = c
        .run("sha256sum /root/big.bin | cut -d' ' -f1; stat -c %a /root/big.bin; ls /root | grep -c cairn-tmp || true")
        .await
        .unwrap()
        .stdout_str();
    let lines: Vec<_> = remote.lines().collect();
    assert_eq!(
        lines,
        [want.as_str(), "600", "0"],
        "hash, mode, no temp file left"
    );

    let back = dir.join("back.bin");
    let down = c.download("/root/big.bin", &back, None).await.unwrap();
    assert_eq!(down.sha256, want);
    assert_eq!(std::fs::read(&back).unwrap().len(), 50 << 20);
    eprintln!(
        "50 MiB: upload {:.2}s, download {:.2}s",
        up.duration.as_secs_f64(),
        down.duration.as_secs_f64()
    );

    // A failed upload leaves the old file untouched and no temp file.
    let err = c
        .upload_bytes(
            b"new",
            UploadRequest {
                dest: "/nonexistent-dir/x",
                mode: None,
                become_user: None,
            },
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("lab3: upload to /nonexistent-dir/x failed: "),
        "{msg}"
    );
    assert!(msg.contains("No such file or directory"), "{msg}");

    let err = c
        .download("/root/missing", &dir.join("m"), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("download of /root/missing failed"),
        "{err}"
    );
    assert!(!dir.join("m").exists());
}

#[tokio::test]
async fn become_with_and_without_password() {
    let lab = lab();
    let dir = scratch("become");
    let connector = lab.connector(&dir);

    // cairn: sudo NOPASSWD.
    let c = connector
        .connect(&lab.target("lab1", "cairn"))
        .await
        .unwrap();
    assert_eq!(c.run("id -un").await.unwrap().stdout_str().trim(), "cairn");
    let out = c
        .exec(ExecRequest::new("id -un; echo $HOME").become_user("root"))
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "root\n/root\n");
    // stdin is held back until sudo runs the command.
    let out = c
        .exec(
            ExecRequest::new("cat")
                .become_user("root")
                .stdin(Stdin::Bytes(b"through sudo")),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "through sudo");
    // Upload as root into a directory the login user cannot write.
    c.upload_bytes(
        b"root-owned",
        UploadRequest {
            dest: "/root/from-cairn",
            mode: Some(0o640),
            become_user: Some("root"),
        },
    )
    .await
    .unwrap();
    let out = c
        .exec(
            ExecRequest::new("stat -c '%U %a' /root/from-cairn; cat /root/from-cairn")
                .become_user("root"),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "root 640\nroot-owned");

    // ops: sudo wants a password.
    let mut ops = lab.target("lab1", "ops");
    let c = connector.connect(&ops).await.unwrap();
    let err = c
        .exec(ExecRequest::new("true").become_user("root"))
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::Become { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("lab1: become (sudo) failed: sudo needs a password"),
        "{err}"
    );

    ops.become_password = Some(env_secret("CAIRN_TEST_BECOME_PW", OPS_PASSWORD));
    let c = connector.connect(&ops).await.unwrap();
    let out = c
        .exec(ExecRequest::new("id -un").become_user("root"))
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "root\n");
    assert!(
        !out.stderr_str().contains("password"),
        "prompt must not leak: {:?}",
        out.stderr_str()
    );
    // stdin after a password prompt goes to the command, not to sudo.
    let out = c
        .exec(
            ExecRequest::new("cat")
                .become_user("root")
                .stdin(Stdin::Bytes(b"after the prompt")),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_str(), "after the prompt");

    ops.become_password = Some(inline_secret("wrong-password"));
    let c = connector.connect(&ops).await.unwrap();
    let started = Instant::now();
    let err = c
        .exec(
            ExecRequest::new("true")
                .become_user("root")
                .timeout(Duration::from_secs(20)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "lab1: become (sudo) failed: incorrect sudo password"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn key_types_passphrases_and_passwords() {
    let lab = lab();
    let dir = scratch("auth");
    let connector = lab.connector(&dir);
    for key in ["id_ed25519", "id_rsa", "id_ecdsa"] {
        let mut t = lab.target("lab2", "cairn");
        t.identities = vec![Identity::file(lab.key(key), None)];
        let c = connector
            .connect(&t)
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(c.run("id -un").await.unwrap().stdout_str().trim(), "cairn");
    }

    // Passphrase-protected key.
    let mut t = lab.target("lab2", "root");
    t.identities = vec![Identity::file(
        lab.key("id_ed25519_pass"),
        Some(env_secret("CAIRN_TEST_KEY_PASS", KEY_PASSPHRASE)),
    )];
    connector.connect(&t).await.expect("passphrase key");

    t.identities[0].passphrase = None;
    let err = connector.connect(&t).await.err().expect("needs passphrase");
    assert!(matches!(err, SshError::Key { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("is encrypted and no passphrase was given"),
        "{err}"
    );

    t.identities[0].passphrase = Some(inline_secret("not-it"));
    let err = connector.connect(&t).await.err().expect("wrong passphrase");
    assert!(err.to_string().contains("wrong passphrase"), "{err}");

    // Password authentication (allowed for ops only).
    let mut t = lab.target("lab2", "ops");
    t.identities.clear();
    t.password = Some(env_secret("CAIRN_TEST_SSH_PW", OPS_PASSWORD));
    let c = connector.connect(&t).await.expect("password auth");
    assert_eq!(c.run("id -un").await.unwrap().stdout_str().trim(), "ops");

    t.password = Some(inline_secret("bad"));
    let err = connector.connect(&t).await.err().expect("bad password");
    let msg = err.to_string();
    assert!(matches!(err, SshError::AuthFailed { .. }), "{msg}");
    assert!(
        msg.starts_with("lab2: authentication failed for user \"ops\" (tried: "),
        "{msg}"
    );
    assert!(msg.contains("password"), "{msg}");
    assert!(
        !msg.contains("bad"),
        "the password must never appear: {msg}"
    );

    // A key the host does not know.
    let other = dir.join("stranger");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(st.success());
    let mut t = lab.target("lab2", "root");
    t.identities = vec![Identity::file(other.clone(), None)];
    let err = connector.connect(&t).await.err().expect("unknown key");
    assert_eq!(
        err.to_string(),
        format!(
            "lab2: authentication failed for user \"root\" (tried: key {}; server accepts: publickey)",
            other.display()
        )
    );
}

#[tokio::test]
async fn unknown_host_key_refused_then_accepted_on_request() {
    let lab = lab();
    let dir = scratch("hostkeys");
    let kh = dir.join("state/known_hosts");
    let strict = Connector::new(lab.options(), &kh).unwrap();
    let target = lab.target("lab1", "root");
    let err = strict.connect(&target).await.err().expect("unknown key");
    let msg = err.to_string();
    assert!(matches!(err, SshError::HostKeyUnknown { .. }), "{msg}");
    // The fingerprint shown is the host's real one (as ssh-keygen computes it).
    let real = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&lab.known_hosts)
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap();
    let fp = msg
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap()
        .trim_end_matches('.');
    assert!(real.contains(fp), "{fp} not among\n{real}");
    assert!(msg.contains("--accept-new-host-keys"), "{msg}");
    assert!(!kh.exists(), "strict mode must not write known_hosts");

    // TOFU, explicitly.
    let mut opts = lab.options();
    opts.host_keys = HostKeyPolicy::AcceptNew;
    let tofu = Connector::new(opts, &kh).unwrap();
    tofu.connect(&target).await.expect("accept new");
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(
        text.starts_with(&format!("{} ", lab.address("lab1"))),
        "{text}"
    );
    // Persisted: a new strict connector now trusts it.
    let strict = Connector::new(lab.options(), &kh).unwrap();
    strict.connect(&target).await.expect("now known");
    // ... and ssh itself agrees with the file we wrote.
    let st = std::process::Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
        ])
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .arg("-i")
        .arg(lab.key("id_ed25519"))
        .arg(format!("root@{}", lab.address("lab1")))
        .arg("true")
        .status()
        .unwrap();
    assert!(st.success(), "OpenSSH should accept our known_hosts file");
}

#[tokio::test]
async fn changed_host_key_refused_even_with_accept_new() {
    let lab = lab();
    let dir = scratch("rekey");
    let connector = lab.connector(&dir);
    let kh = dir.join("known_hosts");
    let target = lab.target("lab5", "root");
    connector
        .connect(&target)
        .await
        .expect("known before rekey");
    let original = std::fs::read_to_string(&kh).unwrap();

    // The host gets new keys (reinstalled, or someone in the middle).
    lab.script(&["rekey", "lab5"]);
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let mut opts = lab.options();
        opts.host_keys = policy;
        let c = Connector::new(opts, &kh).unwrap();
        let err = c.connect(&target).await.err().expect("changed key");
        let msg = err.to_string();
        assert!(matches!(err, SshError::HostKeyChanged { .. }), "{msg}");
        assert!(msg.starts_with("lab5: HOST KEY CHANGED for "), "{msg}");
        assert!(msg.contains("man-in-the-middle"), "{msg}");
        assert!(msg.contains("ssh-keygen -R"), "{msg}");
    }
    // Nothing was written over (or beside) the old key.
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), original);
}

#[tokio::test]
async fn faults_unreachable_frozen_and_refused() {
    let lab = lab();
    let dir = scratch("faults");
    let connector = lab.connector(&dir);
    let t4 = lab.target("lab4", "root");
    let timeout = lab.options().connect_timeout;

    // Network cut: lab4 reported unreachable within the timeout while lab1 works.
    lab.script(&["fail", "lab4", "net"]);
    let started = Instant::now();
    let t1 = lab.target("lab1", "root");
    let (bad, good) = tokio::join!(connector.connect(&t4), connector.connect(&t1));
    let err = bad.err().expect("net cut");
    let took = started.elapsed();
    lab.script(&["heal", "lab4"]);
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().starts_with("lab4: "), "{err}");
    assert!(took < timeout + Duration::from_secs(2), "took {took:?}");
    good.expect("lab1 unaffected");

    // Frozen host: TCP is accepted, nothing answers: a handshake timeout, not a hang.
    let established = connector.connect(&t4).await.expect("healed");
    lab.script(&["fail", "lab4", "freeze"]);
    let started = Instant::now();
    let r = connector.connect(&t4).await;
    let took = started.elapsed();
    // A command on the connection made before the freeze times out too.
    let cmd = established
        .exec(ExecRequest::new("true").timeout(Duration::from_secs(3)))
        .await;
    lab.script(&["heal", "lab4"]);
    match r {
        Err(SshError::Timeout {
            phase: Phase::Handshake,
            ..
        }) => {}
        other => panic!("expected a handshake timeout, got {:?}", other.err()),
    }
    assert!(took < timeout + Duration::from_secs(2), "took {took:?}");
    let cmd_err = cmd.expect_err("frozen command");
    assert!(cmd_err.is_unreachable(), "{cmd_err}");

    // sshd stopped: connection refused, at once.
    lab.script(&["fail", "lab4", "ssh"]);
    let started = Instant::now();
    let r = connector.connect(&t4).await;
    let took = started.elapsed();
    lab.script(&["heal", "lab4"]);
    let err = r.err().expect("refused");
    assert_eq!(
        err.to_string(),
        format!(
            "lab4: connection refused by {}:22 (is sshd running and listening on that port?)",
            lab.address("lab4")
        )
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    connector.connect(&t4).await.expect("healed again");
}

#[tokio::test]
async fn network_cut_mid_transfer_fails_instead_of_hanging() {
    let lab = lab();
    let dir = scratch("midcut");
    let c = lab.connect(&dir, "lab6", "root").await;
    // The command does not read its stdin for a while, so the sender blocks on a full window:
    // the state an upload is in when a cable is pulled.
    let data = vec![7u8; 16 << 20];
    let work = c.exec(ExecRequest::new("sleep 20; cat >/dev/null").stdin(Stdin::Bytes(&data)));
    let cut = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        lab.script(&["fail", "lab6", "net"]);
    };
    let started = Instant::now();
    let (r, ()) = tokio::join!(work, cut);
    let took = started.elapsed();
    lab.script(&["heal", "lab6"]);
    let err = r.expect_err("cut mid-transfer");
    assert!(err.is_unreachable(), "{err}");
    // keepalive: 2 s interval, 2 unanswered → gone well before the command would have ended.
    assert!(took < Duration::from_secs(12), "took {took:?}: {err}");
}

#[tokio::test]
async fn ssh_agent_keys_are_used() {
    let lab = lab();
    let dir = scratch("agent");
    let sock = dir.join("agent.sock");
    let agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
        }
    }
    let _agent = Kill(agent);
    for _ in 0..50 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = std::process::Command::new("ssh-add")
        .env("SSH_AUTH_SOCK", &sock)
        .arg(lab.key("id_ecdsa"))
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    // Only this test turns the agent on (Lab::target disables it), so setting the variable for
    // the process does not change what other tests do.
    unsafe { std::env::set_var("SSH_AUTH_SOCK", &sock) };

    // The only key file offered is one the host does not know: success proves the agent's key
    // was used.
    let stranger = dir.join("stranger");
    assert!(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&stranger)
            .status()
            .unwrap()
            .success()
    );
    let mut t = lab.target("lab3", "cairn");
    t.use_agent = true;
    t.identities = vec![Identity::file(stranger, None)];
    let c = lab.connector(&dir).connect(&t).await.expect("agent auth");
    assert_eq!(c.run("id -un").await.unwrap().stdout_str().trim(), "cairn");
}
