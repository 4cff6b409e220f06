//! What the engine's scale work (issue 9) must not change, on lab hosts: the run-wide magic
//! variables (`hostvars`, `groups`, `ansible_play_hosts`, `ansible_play_batch`), now built once
//! per task and shared by every host's context, still show every host's registered values and
//! the play without a host that failed, in `debug`, loops, templated play variables, `assert`
//! and the `template` module; a controller file copied to every host (its digest computed once)
//! arrives whole and is unchanged the second time; fewer forks than hosts.
//!
//! Host use: lab40–lab43, ordinary work only (two files under /tmp, removed at the end).

use cairn_tests::{Lab, cairn_bin, scratch};
use std::process::Command;

const HOSTS: &[&str] = &["lab40", "lab41", "lab42", "lab43"];

const SITE: &str = r#"
- hosts: lab
  gather_facts: false
  vars:
    others: "{{ groups['lab'] | difference([inventory_hostname]) }}"
  tasks:
    - name: lab41 leaves the play
      fail: { msg: out }
      when: inventory_hostname == 'lab41'
    - name: the magic variables without it
      debug:
        msg: "{{ inventory_hostname }} sees {{ ansible_play_hosts | join(',') }} of {{ groups['lab'] | join(',') }}; odd={{ groups['odd'] | join(',') }}; others={{ others | length }}"
    - name: a value per host
      command: echo {{ inventory_hostname }}-{{ ansible_host }}
      register: me
      changed_when: false
    - name: every host's value through hostvars, in a loop
      debug:
        msg: "{{ item }}={{ hostvars[item].me.stdout }}"
      loop: "{{ ansible_play_batch }}"
      when: inventory_hostname == 'lab40'
    - name: a template that reads every host's values
      template: { src: peers.j2, dest: /tmp/cairn-scale-test-peers, mode: "0644" }
    - name: a controller file to every host
      copy: { src: payload.bin, dest: /tmp/cairn-scale-test-payload, mode: "0644" }
    - name: the same file again
      copy: { src: payload.bin, dest: /tmp/cairn-scale-test-payload, mode: "0644" }
    - name: hostvars keeps the host that left
      assert:
        that:
          - hostvars['lab41'].inventory_hostname == 'lab41'
          - hostvars['lab42'].me.stdout == 'lab42-' ~ hostvars['lab42'].ansible_host
          - ansible_play_hosts | length == 3
          - others | length == 3
"#;

#[test]
fn magic_variables_are_shared_and_right_with_fewer_forks_than_hosts() {
    let lab = Lab::from_env();
    let dir = scratch("play-scale");
    let mut ini = String::from("[lab]\n");
    for h in HOSTS {
        ini.push_str(&format!(
            "{h} ansible_host={} ansible_user=root ansible_ssh_private_key_file={}\n",
            lab.address(h),
            lab.key("id_ed25519").display()
        ));
    }
    ini.push_str("[odd]\nlab41\nlab43\n");
    std::fs::write(dir.join("hosts"), ini).unwrap();
    std::fs::write(dir.join("site.yml"), SITE).unwrap();
    std::fs::write(
        dir.join("peers.j2"),
        "{% for h in ansible_play_hosts %}\n{{ h }} {{ hostvars[h].me.stdout }}\n{% endfor %}\n",
    )
    .unwrap();
    // 3 MiB that are not all alike, so a truncated or reordered upload shows in the digest
    let payload: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("payload.bin"), &payload).unwrap();
    let want_sum = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&payload))
    };

    let out = Command::new(cairn_bin())
        .current_dir(&dir)
        .args([
            "play",
            "site.yml",
            "-i",
            "hosts",
            "-f",
            "2",
            "--known-hosts",
        ])
        .arg(&lab.known_hosts)
        .output()
        .expect("run cairn");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    // lab41 failed: exit 2, as ansible-playbook
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    for h in ["lab40", "lab42", "lab43"] {
        let want = format!(
            "\"msg\": \"{h} sees lab40,lab42,lab43 of lab40,lab41,lab42,lab43; odd=lab41,lab43; others=3\""
        );
        assert!(stdout.contains(&want), "missing {want:?} in:\n{stdout}");
    }
    for h in ["lab40", "lab42", "lab43"] {
        let want = format!("\"msg\": \"{h}={h}-{}\"", lab.address(h));
        assert!(stdout.contains(&want), "missing {want:?} in:\n{stdout}");
    }
    let recap = |h: &str| -> Vec<String> {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{h} ")))
            .unwrap_or_else(|| panic!("no recap line for {h} in:\n{stdout}"))
            .split_whitespace()
            .skip(2)
            .map(str::to_string)
            .collect()
    };
    let counts = |ok, changed, failed, skipped| -> Vec<String> {
        [
            format!("ok={ok}"),
            format!("changed={changed}"),
            "unreachable=0".into(),
            format!("failed={failed}"),
            format!("skipped={skipped}"),
            "rescued=0".into(),
            "ignored=0".into(),
        ]
        .to_vec()
    };
    assert_eq!(recap("lab40"), counts(7, 2, 0, 1), "{stdout}");
    assert_eq!(recap("lab41"), counts(0, 0, 1, 0), "{stdout}");
    for h in ["lab42", "lab43"] {
        assert_eq!(recap(h), counts(6, 2, 0, 2), "{stdout}");
    }

    // What the hosts got: the template saw everyone's registered value; the file is whole.
    let peers: String = ["lab40", "lab42", "lab43"]
        .iter()
        .map(|h| format!("{h} {h}-{}\n", lab.address(h)))
        .collect();
    for h in ["lab40", "lab42", "lab43"] {
        assert_eq!(
            lab.ssh_stdout(h, "cat /tmp/cairn-scale-test-peers"),
            peers,
            "{h}"
        );
        let sum = lab.ssh_stdout(h, "sha256sum /tmp/cairn-scale-test-payload");
        assert!(sum.starts_with(&want_sum), "{h}: {sum}");
    }
    for h in HOSTS {
        lab.ssh(
            h,
            "rm -f /tmp/cairn-scale-test-peers /tmp/cairn-scale-test-payload",
        );
    }
}
