//! The file modules end to end: `tests/playbooks/files/site.yml` (every module and argument,
//! assertions on registered results) run on lab1–lab3 as the sudo user `cairn` with become,
//! twice: the first run changes things (and `--diff` shows them), the second changes nothing.
//! `check.yml` under `--check --diff` reports changes and leaves the hosts untouched;
//! `cleanup.yml` removes the tree (`file: state=absent`), idempotently too.
//!
//! Host use: lab1–lab3, only paths under `/tmp/cairn-files-<pid>*`, removed at the end.

use cairn_tests::{Lab, cairn_bin, repo_root, scratch};
use std::path::{Path, PathBuf};
use std::process::Command;

const HOSTS: [&str; 3] = ["lab1", "lab2", "lab3"];

fn inventory(lab: &Lab, dir: &Path, name: &str, base: &str, fetch_dir: &Path) -> PathBuf {
    let mut ini = String::from("[lab]\n");
    for h in HOSTS {
        ini.push_str(&format!(
            "{h} ansible_host={} ansible_user=cairn ansible_ssh_private_key_file={} base={base} fetch_dir={}\n",
            lab.address(h),
            lab.key("id_ed25519").display(),
            fetch_dir.display()
        ));
    }
    let p = dir.join(name);
    std::fs::write(&p, ini).unwrap();
    p
}

fn cairn(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(cairn_bin())
        .args(args)
        .output()
        .expect("run cairn");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `changed=N` of `host` in the recap.
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
    let path = repo_root().join("tests/playbooks/files").join(book);
    let mut args = vec![
        "play",
        path.to_str().unwrap(),
        "-i",
        inv.to_str().unwrap(),
        "--known-hosts",
        kh,
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = cairn(&args);
    assert_eq!(code, Some(0), "{book} {extra:?}:\n{out}\n{err}");
    out
}

fn exec(inv: &Path, kh: &str, limit: &str, cmd: &str) -> (Option<i32>, String) {
    let (code, out, err) = cairn(&[
        "exec",
        "-i",
        inv.to_str().unwrap(),
        "--known-hosts",
        kh,
        "--limit",
        limit,
        "--become",
        cmd,
    ]);
    (code, format!("{out}{err}"))
}

#[test]
fn file_modules_are_idempotent_check_mode_changes_nothing_and_diffs_show() {
    let lab = Lab::from_env();
    let dir = scratch("modules-files");
    let base = format!("/tmp/cairn-files-{}", std::process::id());
    let fetch_dir = dir.join("fetched");
    let inv = inventory(&lab, &dir, "hosts", &base, &fetch_dir);
    let kh = lab.known_hosts.to_str().unwrap().to_string();

    // First run, with --diff: everything changes, diffs are printed.
    let out = play("site.yml", &inv, &kh, &["--diff"]);
    for h in HOSTS {
        assert!(
            recap_changed(&out, h) > 20,
            "{h} changed too little:\n{out}"
        );
    }
    for want in [
        format!(
            "--- before: {base}/hello.txt\n+++ after: {base}/hello.txt\n@@ -0,0 +1 @@\n+hello\n"
        ),
        format!("--- before: {base}/app.conf (content)\n+++ after: {base}/app.conf (content)\n"),
        "-port = 80\n+port = 8080\n".to_string(),
        "--- before\n+++ after\n".to_string(),
        "-    \"state\": \"absent\"\n+    \"state\": \"directory\"\n".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in:\n{out}");
    }

    // Second run: nothing to do anywhere.
    let out = play("site.yml", &inv, &kh, &[]);
    for h in HOSTS {
        assert_eq!(recap_changed(&out, h), 0, "{h} not idempotent:\n{out}");
    }
    assert!(!out.contains("--- before"), "no --diff, no diff:\n{out}");

    // What the hosts have: ownership through become, rendered template, the script's record.
    let (code, text) = exec(
        &inv,
        &kh,
        "lab1",
        &format!(
            "stat -c '%U %G %a' {base}/motd {base}/hello.txt {base}/backup.txt; cat {base}/motd {base}/script.out; \
             echo crlf=$(tr -dc '\\r' < {base}/motd.crlf | wc -c); echo backups=$(ls {base}/backup.txt.*~ | wc -l)"
        ),
    );
    assert_eq!(code, Some(0), "{text}");
    for want in [
        "root cairn 640\n",
        "cairn cairn 644\n",
        "root root 644\n",
        "# lab1 (motd.j2)\nlisten 80\nlisten 443\ngreeting = hi\n",
        "args=3 first=one second=two cwd=/tmp\n",
        "crlf=4\n",
        "backups=1\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // fetch put each host's file under dest/HOST/PATH and flat.
    for h in HOSTS {
        let nested = fetch_dir
            .join(h)
            .join(base.trim_start_matches('/'))
            .join("hello.txt");
        assert_eq!(std::fs::read_to_string(&nested).unwrap(), "hello\n");
        let flat = fetch_dir.join(format!("flat-{h}.txt"));
        assert_eq!(std::fs::read_to_string(&flat).unwrap(), "hello\n");
    }

    // Check mode on fresh paths: reported, not done.
    let check_base = format!("{base}-check");
    let check_inv = inventory(&lab, &dir, "hosts-check", &check_base, &fetch_dir);
    let out = play("check.yml", &check_inv, &kh, &["--check", "--diff"]);
    for h in HOSTS {
        assert!(recap_changed(&out, h) >= 8, "{out}");
    }
    assert!(
        out.contains(&format!(
            "+++ after: {check_base}.txt\n@@ -0,0 +1 @@\n+would be\n"
        )),
        "{out}"
    );
    let (code, text) = exec(
        &check_inv,
        &kh,
        "all",
        &format!("ls -d {check_base}* /tmp/cairn-files-check-unpacked 2>/dev/null | wc -l"),
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.trim().parse::<u32>().is_ok_and(|n| n > 0)),
        "check mode created files:\n{text}"
    );

    // Clean up with the file module itself: removed once, then nothing to do.
    let out = play("cleanup.yml", &inv, &kh, &[]);
    for h in HOSTS {
        assert_eq!(recap_changed(&out, h), 1, "{out}");
    }
    let out = play("cleanup.yml", &inv, &kh, &[]);
    for h in HOSTS {
        assert_eq!(recap_changed(&out, h), 0, "{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
