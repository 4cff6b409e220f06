//! Real-world role shapes run as they are written: `tests/playbooks/realworld/` (an NTP role
//! shaped like the most used Galaxy one: `include_vars` per OS family, a forced timezone
//! link, `ansible_managed | comment`, `is sameas`; Kubespray's sysctl tasks: stat a link,
//! `ansible.posix.sysctl` in a loop with `reload`, `lineinfile` with `backup`; kubeasz's
//! chrony role: server or client by the group's first host, `block`/`when`, handlers).
//! Run on lab15–lab17 as the sudo user `cairn` with become: the first run changes things
//! and runs the handlers, the second changes nothing, `--check --diff` with a changed
//! variable shows the change and leaves the host's file as it was.
//!
//! Host use: lab15–lab17, paths under `/tmp/cairn-engine-rw-<pid>`, and two per-namespace
//! `log_martians` sysctls, all reset at the end.

use cairn_tests::{Lab, cairn_bin, repo_root, scratch};
use std::path::{Path, PathBuf};
use std::process::Command;

const HOSTS: [&str; 3] = ["lab15", "lab16", "lab17"];

fn inventory(lab: &Lab, dir: &Path, base: &str) -> PathBuf {
    let mut ini = String::from("[chrony]\n");
    for h in HOSTS {
        ini.push_str(&format!(
            "{h} ansible_host={} ansible_user=cairn ansible_ssh_private_key_file={} base={base}\n",
            lab.address(h),
            lab.key("id_ed25519").display(),
        ));
    }
    let p = dir.join("hosts");
    std::fs::write(&p, ini).unwrap();
    p
}

fn cairn(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(cairn_bin())
        .args(args)
        .output()
        .expect("run cairn");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// `changed=N` of `host` in the recap (which must show no failure).
fn recap_changed(out: &str, host: &str) -> u32 {
    let recap = out.split("PLAY RECAP ").last().expect("a recap");
    let line = recap
        .lines()
        .find(|l| l.starts_with(&format!("{host} ")))
        .unwrap_or_else(|| panic!("no recap line for {host} in {out}"));
    assert!(line.contains("failed=0 "), "{host} failed: {line}\n{out}");
    line.split("changed=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("changed=N")
}

fn play(book: &str, inv: &Path, kh: &str, extra: &[&str]) -> String {
    let path = repo_root().join("tests/playbooks/realworld").join(book);
    let mut args = vec![
        "play",
        path.to_str().unwrap(),
        "-i",
        inv.to_str().unwrap(),
        "--known-hosts",
        kh,
    ];
    args.extend_from_slice(extra);
    let (code, out) = cairn(&args);
    assert_eq!(code, Some(0), "{book} {extra:?}:\n{out}");
    out
}

fn exec(inv: &Path, kh: &str, cmd: &str) -> String {
    let (code, out) = cairn(&[
        "exec",
        "-i",
        inv.to_str().unwrap(),
        "--known-hosts",
        kh,
        "--become",
        cmd,
    ]);
    assert_eq!(code, Some(0), "{cmd}:\n{out}");
    out
}

#[test]
fn real_world_roles_run_unmodified_idempotently_and_check_mode_changes_nothing() {
    let lab = Lab::from_env();
    let dir = scratch("realworld");
    let base = format!("/tmp/cairn-engine-rw-{}", std::process::id());
    let inv = inventory(&lab, &dir, &base);
    let kh = lab.known_hosts.to_str().unwrap().to_string();

    // First run: the roles configure, the handlers run once per host.
    let out = play("site.yml", &inv, &kh, &[]);
    for h in HOSTS {
        assert!(
            recap_changed(&out, h) >= 8,
            "{h} changed too little:\n{out}"
        );
    }
    for want in [
        "RUNNING HANDLER [ntp : restart ntp]",
        "RUNNING HANDLER [chrony : restart chronyd]",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let seen = exec(
        &inv,
        &kh,
        &format!(
            "ls {base}/ntp/restarted-ntp {base}/chrony/restarted && stat -c '%U %a' {base}/ntp/etc/ntp.conf \
             {base}/sysctl.d/99-cairn.conf && cat {base}/sysctl.d/99-cairn.conf {base}/sysctl.d/gai.conf"
        ),
    );
    for want in [
        "root 644\n",
        "net.ipv4.conf.all.log_martians=1\nnet.ipv4.conf.default.log_martians=1\n",
        "precedence ::ffff:0:0/96  100\n",
    ] {
        assert!(seen.contains(want), "missing {want:?} in:\n{seen}");
    }

    // Second run: nothing to do, no handler.
    let out = play("site.yml", &inv, &kh, &[]);
    for h in HOSTS {
        assert_eq!(recap_changed(&out, h), 0, "{h} not idempotent:\n{out}");
    }
    assert!(!out.contains("RUNNING HANDLER"), "{out}");

    // Check mode with another pool area: the change is shown, not made.
    let out = play(
        "site.yml",
        &inv,
        &kh,
        &["--check", "--diff", "-e", "ntp_area=europe"],
    );
    for h in HOSTS {
        assert_eq!(recap_changed(&out, h), 1, "{out}");
    }
    for want in [
        "-pool 0.pool.ntp.org iburst\n",
        "+pool 0.europe.pool.ntp.org iburst\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let seen = exec(
        &inv,
        &kh,
        &format!("grep -c '^pool [0-9].pool' {base}/ntp/etc/ntp.conf"),
    );
    assert_eq!(seen.matches("3\n").count(), HOSTS.len(), "{seen}");

    play("cleanup.yml", &inv, &kh, &[]);
    let seen = exec(&inv, &kh, &format!("ls -d {base} 2>/dev/null | wc -l"));
    assert_eq!(seen.matches("0\n").count(), HOSTS.len(), "{seen}");
    let _ = std::fs::remove_dir_all(&dir);
}
