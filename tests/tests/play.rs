//! `cairn play` running playbooks on lab hosts: the linear strategy, templating, `when`,
//! `register`, facts, failures that drop one host while the others finish, the recap and the
//! exit code.
//!
//! Host use: lab1–lab3, ordinary work only (a marker file under /tmp, removed at the end).

use cairn_tests::{Lab, cairn_bin, scratch};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An INI inventory of `hosts` in group `lab`, logging in as `user` with the lab's key.
fn inventory(lab: &Lab, dir: &Path, user: &str, hosts: &[&str]) -> PathBuf {
    let mut ini = String::from("[lab]\n");
    for h in hosts {
        ini.push_str(&format!(
            "{h} ansible_host={} ansible_user={user} ansible_ssh_private_key_file={}\n",
            lab.address(h),
            lab.key("id_ed25519").display()
        ));
    }
    let p = dir.join("hosts");
    std::fs::write(&p, ini).unwrap();
    p
}

fn cairn(args: &[&str]) -> (Option<i32>, String, String) {
    let o: Output = Command::new(cairn_bin())
        .args(args)
        .output()
        .expect("run cairn");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const SITE: &str = r#"
- name: first slice
  hosts: lab
  gather_facts: false
  vars:
    marker: "/tmp/cairn-play-test-{{ run_id }}"
  tasks:
    - name: run a command
      command: echo "hello   world"
      register: hello
    - name: shell with register
      shell: echo one; echo two >&2; touch {{ marker }}
      register: sh
    - name: show a registered value
      debug:
        var: hello.stdout
    - name: message
      debug:
        msg: "{{ inventory_hostname }} says {{ sh.stdout }} and {{ sh.stderr_lines | length }} line"
    - name: only when true
      command: "true"
      when: hello.rc == 0
      changed_when: false
    - name: never when false
      command: "false"
      when: "'no' | bool"
    - name: set a fact
      set_fact:
        answer: "{{ 40 + 2 }}"
    - name: check it
      assert:
        that:
          - answer == 42
          - hello.stdout == 'hello   world'
          - "'lab' in group_names"
    - name: this fails but is ignored
      command: /bin/false
      ignore_errors: true
    - name: fail on lab2 only
      fail:
        msg: lab2 is out
      when: inventory_hostname == 'lab2'
    - name: the others finish
      command: test -e {{ marker }}
      changed_when: false
"#;

#[test]
fn a_playbook_runs_on_three_hosts_and_one_drops_out() {
    let lab = Lab::from_env();
    let dir = scratch("play-site");
    let inv = inventory(&lab, &dir, "root", &["lab1", "lab2", "lab3"]);
    let run_id = std::process::id().to_string();
    let site = dir.join("site.yml");
    std::fs::write(&site, SITE.replace("{{ run_id }}", &run_id)).unwrap();
    let kh = lab.known_hosts.to_str().unwrap();

    let (code, out, err) = cairn(&[
        "play",
        site.to_str().unwrap(),
        "-i",
        inv.to_str().unwrap(),
        "--known-hosts",
        kh,
    ]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(out.starts_with("\nPLAY [first slice] ****"), "{out}");
    for want in [
        "TASK [run a command] ****",
        "changed: [lab1]\n",
        "ok: [lab2] => {\n    \"hello.stdout\": \"hello   world\"\n}\n",
        "ok: [lab3] => {\n    \"msg\": \"lab3 says one and 1 line\"\n}\n",
        "skipping: [lab1]\n",
        "fatal: [lab1]: FAILED! => {\"changed\": false, \"msg\": \"non-zero return code\", \"rc\": 1, \"stderr\": \"\", \"stdout\": \"\"}\n...ignoring\n",
        "fatal: [lab2]: FAILED! => {\"changed\": false, \"msg\": \"lab2 is out\"}\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // lab2 left the play: the last task ran on lab1 and lab3 only.
    let last = out
        .split("TASK [the others finish] ")
        .nth(1)
        .expect("last task ran");
    assert!(
        last.contains("ok: [lab1]") && last.contains("ok: [lab3]") && !last.contains("lab2]"),
        "{last}"
    );
    let recap = out.split("PLAY RECAP ").nth(1).expect("recap");
    for want in [
        "lab1                       : ok=9    changed=2    unreachable=0    failed=0    skipped=2    rescued=0    ignored=1\n",
        "lab2                       : ok=8    changed=2    unreachable=0    failed=1    skipped=1    rescued=0    ignored=1\n",
        "lab3                       : ok=9    changed=2    unreachable=0    failed=0    skipped=2    rescued=0    ignored=1\n",
    ] {
        assert!(recap.contains(want), "missing {want:?} in:\n{recap}");
    }

    // The shell task's file exists on a host (and is cleaned up).
    let marker = format!("/tmp/cairn-play-test-{run_id}");
    let (code, out, err) = cairn(&[
        "exec",
        "-i",
        inv.to_str().unwrap(),
        "--known-hosts",
        kh,
        &format!("test -f {marker} && rm -f {marker} && echo present"),
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(out.matches("present").count(), 3, "{out}");
}

#[test]
fn become_templating_errors_and_unimplemented_modules() {
    let lab = Lab::from_env();
    let dir = scratch("play-errors");
    let inv = inventory(&lab, &dir, "cairn", &["lab1"]);
    let site = dir.join("site.yml");
    std::fs::write(
        &site,
        r#"- hosts: all
  gather_facts: false
  tasks:
    - command: id -un
      register: plain
    - command: id -un
      become: true
      register: root
    - assert:
        that: [plain.stdout == 'cairn', root.stdout == 'root']
    - name: secret
      shell: echo s3cret
      no_log: true
    - name: typo
      debug:
        msg: "{{ nope }}"
      ignore_errors: true
    - name: missing src
      copy:
        src: a
        dest: /tmp/b
"#,
    )
    .unwrap();
    let (code, out, err) = cairn(&[
        "play",
        site.to_str().unwrap(),
        "-i",
        inv.to_str().unwrap(),
        "--known-hosts",
        lab.known_hosts.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        !err.contains("[WARNING]: not implemented yet: fact gathering"),
        "gather_facts: false silences the warning: {err}"
    );
    assert!(!out.contains("s3cret"), "no_log leaks: {out}");
    let typo = format!(
        "fatal: [lab1]: FAILED! => {{\"changed\": false, \"msg\": \"'nope' is undefined (in the arguments of the task at {}:14)\"}}\n...ignoring\n",
        site.display()
    );
    assert!(out.contains(&typo), "missing {typo:?} in:\n{out}");
    assert!(
        out.contains("fatal: [lab1]: FAILED! => {\"changed\": false, \"msg\": \"Could not find or access 'a' on the controller. Searched in: "),
        "{out}"
    );
    assert!(
        out.contains("lab1                       : ok=5    changed=3    unreachable=0    failed=1    skipped=0    rescued=0    ignored=1"),
        "{out}"
    );
}

#[test]
fn an_unreachable_host_is_reported_at_its_first_task_and_exits_4() {
    let lab = Lab::from_env();
    let dir = scratch("play-unreachable");
    // lab1's address on a port nothing listens on: refused at once, nothing is disturbed.
    let inv = dir.join("hosts");
    std::fs::write(
        &inv,
        format!(
            "lab1 ansible_host={a} ansible_user=root ansible_ssh_private_key_file={k}\nghost ansible_host={a} ansible_port=1 ansible_user=root ansible_ssh_private_key_file={k}\n",
            a = lab.address("lab1"),
            k = lab.key("id_ed25519").display()
        ),
    )
    .unwrap();
    let site = dir.join("site.yml");
    std::fs::write(
        &site,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - raw: echo hi\n    - debug: msg=done\n",
    )
    .unwrap();
    let (code, out, err) = cairn(&[
        "play",
        site.to_str().unwrap(),
        "-i",
        inv.to_str().unwrap(),
        "--known-hosts",
        lab.known_hosts.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(4), "{out}\n{err}");
    assert!(
        out.contains("fatal: [ghost]: UNREACHABLE! => {\"changed\": false, \"msg\": \"ghost: "),
        "{out}"
    );
    assert!(
        out.contains("ok: [lab1] => {\n    \"msg\": \"done\"\n}\n"),
        "{out}"
    );
    assert!(
        out.contains("ghost                      : ok=0    changed=0    unreachable=1    failed=0"),
        "{out}"
    );
}

/// Facts gathered by the implicit first task (`gather_facts` defaults to true), with the
/// values the lab's hosts (Debian 12 in systemd-nspawn, no default route) must report; a
/// second play does not gather again; `setup` as a task with `filter`.
#[test]
fn facts_are_gathered_once_and_describe_the_host() {
    let lab = Lab::from_env();
    let dir = scratch("play-facts");
    let inv = inventory(&lab, &dir, "cairn", &["lab1", "lab2", "lab3"]);
    let site = dir.join("site.yml");
    std::fs::write(
        &site,
        r#"- name: facts
  hosts: lab
  tasks:
    - name: check facts
      assert:
        that:
          - ansible_distribution == 'Debian'
          - ansible_distribution_major_version == '12'
          - ansible_os_family == 'Debian'
          - ansible_virtualization_type == 'systemd-nspawn'
          - ansible_virtualization_role == 'guest'
          - ansible_default_ipv4.address == ansible_host
          - ansible_host in ansible_all_ipv4_addresses
          - ansible_hostname == inventory_hostname
          - ansible_processor_vcpus >= 1
          - ansible_memtotal_mb > 0
          - ansible_user_id == 'cairn'
          - ansible_service_mgr == 'systemd'
          - ansible_pkg_mgr == 'apt'
          - ansible_facts.distribution == 'Debian'
          - ansible_facts['os_family'] == ansible_os_family
          - ansible_date_time.epoch | int > 0
          - ansible_mounts | length >= 0
          - hostvars['lab1'].ansible_hostname == 'lab1'
- name: again
  hosts: lab
  tasks:
    - name: only some
      setup:
        filter: ansible_kernel
      register: some
    - assert:
        that:
          - some.ansible_facts.ansible_kernel == ansible_kernel
          - some.ansible_facts | length == 1
"#,
    )
    .unwrap();
    let (code, out, err) = cairn(&[
        "play",
        site.to_str().unwrap(),
        "-i",
        inv.to_str().unwrap(),
        "--known-hosts",
        lab.known_hosts.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(!err.contains("fact gathering"), "{err}");
    // Once per host per run: the second play does not gather again.
    assert_eq!(out.matches("TASK [Gathering Facts] ").count(), 1, "{out}");
    for h in ["lab1", "lab2", "lab3"] {
        let want =
            format!("{h}                       : ok=4    changed=0    unreachable=0    failed=0");
        assert!(out.contains(&want), "missing {want:?} in:\n{out}");
    }
}
