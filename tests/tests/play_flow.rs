//! `cairn play` control flow on lab hosts: blocks with rescue/always, failed hosts leaving
//! the play, serial batches, max_fail_percentage, handlers, loops with loop_control and
//! register, until/retries, run_once, delegate_to (to a host, and to localhost: the
//! controller), environment, roles, include_tasks,
//! include_role, variable precedence with -e, --tags/--skip-tags.
//!
//! Host use: lab1–lab3, ordinary work only (files under /tmp/cairn-flow-*, removed at the end).
//! Checks read the rendered output (as a user sees it) and the hosts' state through the
//! playbooks' own `assert`s (a failed assert fails the recap).

use cairn_tests::{Lab, cairn_bin, scratch};
use std::path::{Path, PathBuf};
use std::process::Command;

const HOSTS: &[&str] = &["lab1", "lab2", "lab3"];

/// An INI inventory of lab1..lab3 in group `lab` (root), with `extra` appended to each line.
fn inventory(lab: &Lab, dir: &Path, extra: &str) -> PathBuf {
    let mut ini = String::from("[lab]\n");
    for h in HOSTS {
        ini.push_str(&format!(
            "{h} ansible_host={} ansible_user=root ansible_ssh_private_key_file={} {extra}\n",
            lab.address(h),
            lab.key("id_ed25519").display()
        ));
    }
    let p = dir.join("hosts");
    std::fs::write(&p, ini).unwrap();
    p
}

/// Files of a test: (relative path, content).
fn write_all(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// Run `cairn play site.yml` in `dir` with `args`; (exit code, stdout, stderr).
fn play(lab: &Lab, dir: &Path, inv: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(cairn_bin())
        .arg("play")
        .arg(dir.join("site.yml"))
        .arg("-i")
        .arg(inv)
        .arg("--known-hosts")
        .arg(&lab.known_hosts)
        .args(args)
        .output()
        .expect("run cairn");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The lines printed under the banner `title` (up to the next banner).
fn section<'a>(out: &'a str, title: &str) -> &'a str {
    let start = out
        .find(&format!("{title} *"))
        .unwrap_or_else(|| panic!("no {title:?} in:\n{out}"));
    let body = &out[start..];
    let body = &body[body.find('\n').map_or(body.len(), |i| i + 1)..];
    &body[..body.find("\n\n").unwrap_or(body.len())]
}

/// The hosts with a result line in `text` (`ok: [lab1]`, `fatal: [lab2]: ...`).
fn hosts_in(text: &str) -> Vec<&'static str> {
    HOSTS
        .iter()
        .copied()
        .filter(|h| text.contains(&format!("[{h}]")))
        .collect()
}

/// The recap line of `host`.
fn recap<'a>(out: &'a str, host: &str) -> &'a str {
    let r = out.split("PLAY RECAP ").nth(1).expect("recap");
    r.lines()
        .find(|l| l.starts_with(&format!("{host} ")))
        .unwrap_or_else(|| panic!("no recap line for {host} in {r}"))
}

/// Remove /tmp/cairn-flow-<id>* on the hosts.
fn cleanup(lab: &Lab, inv: &Path, id: &str) {
    let o = Command::new(cairn_bin())
        .args(["exec", "-i"])
        .arg(inv)
        .arg("--known-hosts")
        .arg(&lab.known_hosts)
        .arg(format!("rm -rf /tmp/cairn-flow-{id}*"))
        .output()
        .expect("run cairn exec");
    assert!(o.status.success(), "{o:?}");
}

#[test]
fn blocks_rescue_always_and_failed_hosts_leave() {
    let lab = Lab::from_env();
    let dir = scratch("flow-blocks");
    let inv = inventory(&lab, &dir, "");
    write_all(
        &dir,
        &[(
            "site.yml",
            r#"- name: blocks
  hosts: lab
  gather_facts: false
  tasks:
    - name: first block
      block:
        - name: fail on lab1
          command: "false"
          when: inventory_hostname == 'lab1'
        - name: after the failure
          debug: msg=in-block
      rescue:
        - name: rescue
          debug:
            msg: "rescued {{ ansible_failed_task.name }} rc={{ ansible_failed_result.rc }}"
      always:
        - name: always
          debug: msg=always
    - block:
        - name: lab2 fails without rescue
          fail: msg=lab2-out
          when: inventory_hostname == 'lab2'
      always:
        - name: always after a failure
          debug: msg=always2
    - name: the rest
      debug: msg=rest
    - meta: end_host
      when: inventory_hostname == 'lab3'
    - name: after end_host
      debug: msg=x
"#,
        )],
    );
    let (code, out, err) = play(&lab, &dir, &inv, &[]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    let cases: &[(&str, &[&str])] = &[
        ("TASK [fail on lab1]", &["lab1", "lab2", "lab3"]),
        ("TASK [after the failure]", &["lab2", "lab3"]),
        ("TASK [rescue]", &["lab1"]),
        ("TASK [always]", &["lab1", "lab2", "lab3"]),
        ("TASK [always after a failure]", &["lab1", "lab2", "lab3"]),
        ("TASK [the rest]", &["lab1", "lab3"]),
        ("TASK [after end_host]", &["lab1"]),
    ];
    for (title, hosts) in cases {
        assert_eq!(hosts_in(section(&out, title)), *hosts, "{title}:\n{out}");
    }
    assert!(
        section(&out, "TASK [rescue]").contains("\"msg\": \"rescued fail on lab1 rc=1\""),
        "{out}"
    );
    assert!(
        recap(&out, "lab1").contains("failed=0    skipped=1    rescued=1"),
        "{out}"
    );
    assert!(
        recap(&out, "lab2").contains("failed=1    skipped=1    rescued=0"),
        "{out}"
    );
    assert!(
        recap(&out, "lab3").contains("failed=0    skipped=2    rescued=0"),
        "{out}"
    );
}

#[test]
fn serial_batches_max_fail_percentage_and_any_errors_fatal() {
    let lab = Lab::from_env();
    let dir = scratch("flow-serial");
    let inv = inventory(&lab, &dir, "");
    // serial: [1, 2]: lab1 runs the whole play, then lab2 and lab3 together.
    write_all(
        &dir,
        &[(
            "site.yml",
            r#"- hosts: lab
  gather_facts: false
  serial: [1, 2]
  tasks:
    - name: one
      debug: msg="{{ ansible_play_batch | join(',') }}"
    - name: two
      debug: msg=two
"#,
        )],
    );
    let (code, out, err) = play(&lab, &dir, &inv, &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let order: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("TASK [") || l.starts_with("ok: ["))
        .map(|l| l.split(" *").next().unwrap_or(l))
        .collect();
    assert_eq!(
        order,
        [
            "TASK [one]",
            "ok: [lab1] => {",
            "TASK [two]",
            "ok: [lab1] => {",
            "TASK [one]",
            "ok: [lab2] => {",
            "ok: [lab3] => {",
            "TASK [two]",
            "ok: [lab2] => {",
            "ok: [lab3] => {",
        ],
        "{out}"
    );
    assert!(out.contains("\"msg\": \"lab2,lab3\""), "{out}");

    // One of three failing is 33%: above 30, the play stops for everyone, and the run too.
    let cases: &[(&str, &str)] = &[
        ("max_fail_percentage: 30", "max_fail_percentage"),
        ("any_errors_fatal: true", "any_errors_fatal"),
    ];
    for (keyword, what) in cases {
        write_all(
            &dir,
            &[(
                "site.yml",
                &format!(
                    r#"- hosts: lab
  gather_facts: false
  {keyword}
  tasks:
    - name: lab2 fails
      fail: msg=no
      when: inventory_hostname == 'lab2'
    - name: never reached
      debug: msg=x
- hosts: lab
  gather_facts: false
  tasks:
    - name: next play
      debug: msg=x
"#
                ),
            )],
        );
        let (code, out, err) = play(&lab, &dir, &inv, &[]);
        assert_eq!(code, Some(2), "{what}: {out}\n{err}");
        assert!(out.contains("NO MORE HOSTS LEFT"), "{what}: {out}");
        assert!(!out.contains("TASK [never reached]"), "{what}: {out}");
        assert!(!out.contains("TASK [next play]"), "{what}: {out}");
        assert!(recap(&out, "lab1").contains("failed=0"), "{what}: {out}");
        assert!(recap(&out, "lab2").contains("failed=1"), "{what}: {out}");
    }

    // 33% is not above 50: the others carry on.
    write_all(
        &dir,
        &[(
            "site.yml",
            r#"- hosts: lab
  gather_facts: false
  max_fail_percentage: 50
  tasks:
    - name: lab2 fails
      fail: msg=no
      when: inventory_hostname == 'lab2'
    - name: reached
      debug: msg=x
"#,
        )],
    );
    let (code, out, _) = play(&lab, &dir, &inv, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(hosts_in(section(&out, "TASK [reached]")), ["lab1", "lab3"]);

    // A batch whose hosts all fail ends the run: later batches never start.
    write_all(
        &dir,
        &[(
            "site.yml",
            r#"- hosts: lab
  gather_facts: false
  serial: 1
  tasks:
    - name: lab1 fails
      fail: msg=no
      when: inventory_hostname == 'lab1'
"#,
        )],
    );
    let (code, out, _) = play(&lab, &dir, &inv, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(hosts_in(&out.replace("PLAY RECAP", "")), ["lab1"], "{out}");
}

#[test]
fn handlers_run_in_definition_order_once_for_notifying_hosts() {
    let lab = Lab::from_env();
    let dir = scratch("flow-handlers");
    let inv = inventory(&lab, &dir, "");
    write_all(
        &dir,
        &[(
            "site.yml",
            r#"- hosts: lab
  gather_facts: false
  tasks:
    - name: notify second then first, not on lab3
      command: "true"
      notify: [second, first]
      when: inventory_hostname != 'lab3'
    - name: notify first again everywhere
      command: "true"
      notify: first
    - meta: flush_handlers
    - name: after the flush
      debug: msg=x
    - name: a topic, lab3 only
      command: "true"
      notify: topic
      when: inventory_hostname == 'lab3'
    - name: unchanged notifies nothing
      command: "true"
      changed_when: false
      notify: second
  handlers:
    - name: first
      debug: msg="first on {{ inventory_hostname }}"
    - name: second
      debug: msg=second
    - name: listener
      debug: msg=heard
      listen: topic
"#,
        )],
    );
    let (code, out, err) = play(&lab, &dir, &inv, &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let banners: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("TASK [") || l.starts_with("RUNNING HANDLER ["))
        .map(|l| l.split(" *").next().unwrap_or(l))
        .collect();
    assert_eq!(
        banners,
        [
            "TASK [notify second then first, not on lab3]",
            "TASK [notify first again everywhere]",
            "RUNNING HANDLER [first]",
            "RUNNING HANDLER [second]",
            "TASK [after the flush]",
            "TASK [a topic, lab3 only]",
            "TASK [unchanged notifies nothing]",
            "RUNNING HANDLER [listener]",
        ],
        "{out}"
    );
    let cases: &[(&str, &[&str])] = &[
        ("RUNNING HANDLER [first]", &["lab1", "lab2", "lab3"]),
        ("RUNNING HANDLER [second]", &["lab1", "lab2"]),
        ("RUNNING HANDLER [listener]", &["lab3"]),
    ];
    for (title, hosts) in cases {
        assert_eq!(hosts_in(section(&out, title)), *hosts, "{title}:\n{out}");
    }
    assert_eq!(out.matches("first on lab1").count(), 1, "{out}");

    // --force-handlers: a host that fails later still runs what it notified.
    write_all(
        &dir,
        &[(
            "site.yml",
            r#"- hosts: lab
  gather_facts: false
  tasks:
    - command: "true"
      notify: h
    - fail: msg=no
      when: inventory_hostname == 'lab1'
  handlers:
    - name: h
      debug: msg=h
"#,
        )],
    );
    let (_, out, _) = play(&lab, &dir, &inv, &[]);
    assert_eq!(
        hosts_in(section(&out, "RUNNING HANDLER [h]")),
        ["lab2", "lab3"]
    );
    let (_, out, _) = play(&lab, &dir, &inv, &["--force-handlers"]);
    assert_eq!(
        hosts_in(section(&out, "RUNNING HANDLER [h]")),
        ["lab1", "lab2", "lab3"]
    );
}

#[test]
fn loops_register_results_and_until_retries() {
    let lab = Lab::from_env();
    let dir = scratch("flow-loops");
    let inv = inventory(&lab, &dir, "");
    let id = format!("loops-{}", std::process::id());
    write_all(
        &dir,
        &[
            ("files/a.conf", ""),
            ("files/b.conf", ""),
            (
                "site.yml",
                &r#"- hosts: lab1
  gather_facts: false
  vars:
    counter: /tmp/cairn-flow-ID-counter
  tasks:
    - name: loop with control
      shell: echo {{ it.n }}
      loop: [{n: 1, name: a}, {n: 2, name: b}, {n: 3, name: c}]
      loop_control:
        loop_var: it
        label: "{{ it.name }}"
        index_var: idx
      when: it.n != 2
      register: out
    - assert:
        that:
          - out.results | length == 3
          - out.changed
          - out.results[1].skipped
          - out.results[2].stdout == '3'
          - out.results[0].it.name == 'a'
          - out.results[2].idx == 2
          - out.results[0].ansible_loop_var == 'it'
    - name: with_items flattens
      debug: msg="{{ item }}"
      with_items: [[x, y], z]
    - name: with_dict
      debug: msg="{{ item.key }}={{ item.value }}"
      with_dict: {k: v}
    - name: with_fileglob
      debug: msg="{{ item }}"
      with_fileglob: "*.conf"
    - name: count to three
      shell: n=$(cat {{ counter }} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{ counter }}; echo $n
      register: count
      until: count.stdout | int >= 3
      retries: 5
      delay: 0
    - assert:
        that: [count.attempts == 3, count.stdout == '3']
    - name: not a list
      debug: msg=x
      loop: "{{ counter }}"
      ignore_errors: true
"#
                .replace("ID", &id),
            ),
        ],
    );
    let (code, out, err) = play(&lab, &dir, &inv, &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    for want in [
        "changed: [lab1] => (item=a)\n",
        "skipping: [lab1] => (item=b)\n",
        "changed: [lab1] => (item=c)\n",
        "ok: [lab1] => (item=x) => {\n    \"msg\": \"x\"\n}\n",
        "ok: [lab1] => (item=z) => {",
        "\"msg\": \"k=v\"",
        "files/a.conf\"\n",
        "files/b.conf\"\n",
        "FAILED - RETRYING: [lab1]: count to three (5 retries left).\n",
        "FAILED - RETRYING: [lab1]: count to three (4 retries left).\n",
        "Invalid data passed to 'loop', it requires a list, got this instead: /tmp/cairn-flow-",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let at = format!("(the task at {}:41:7)", dir.join("site.yml").display());
    assert!(out.contains(&at), "missing {at:?} in:\n{out}");
    assert!(!out.contains("3 retries left"), "{out}");
    cleanup(&lab, &inv, &id);
}

#[test]
fn run_once_delegate_to_and_environment() {
    let lab = Lab::from_env();
    let dir = scratch("flow-deleg");
    let inv = inventory(&lab, &dir, "");
    let id = format!("deleg-{}", std::process::id());
    write_all(
        &dir,
        &[(
            "site.yml",
            &r#"- hosts: lab
  gather_facts: false
  environment:
    FOO: play
  vars:
    file: /tmp/cairn-flow-ID
  tasks:
    - name: once
      command: hostname
      run_once: true
      register: once
    - assert:
        that: [once.stdout == 'lab1']
    - name: from lab1 to lab2
      shell: echo "{{ inventory_hostname }} ran on $(hostname)" >> {{ file }}
      delegate_to: lab2
      when: inventory_hostname == 'lab1'
    - name: read on lab2
      command: cat {{ file }}
      register: seen
      when: inventory_hostname == 'lab2'
    - assert:
        that: [seen.stdout == 'lab1 ran on lab2']
      when: inventory_hostname == 'lab2'
    - name: environment merged
      shell: echo "$FOO $BAR"
      environment:
        BAR: "{{ inventory_hostname }}"
      register: env
    - assert:
        that: ["env.stdout == 'play ' ~ inventory_hostname"]
    - name: task wins
      command: printenv FOO
      environment: {FOO: task}
      register: env2
    - assert:
        that: [env2.stdout == 'task']
    - name: check mode on a task
      command: touch {{ file }}-check
      check_mode: true
      register: checked
    - assert:
        that: [checked.skipped]
    - command: test ! -e {{ file }}-check
      changed_when: false
    - name: check mode with creates that exists
      command: touch {{ file }}-never
      args:
        creates: /etc/hostname
      check_mode: true
      register: guarded
    - name: check mode with creates that does not exist
      command: touch {{ file }}-never
      args:
        creates: "{{ file }}-never"
      check_mode: true
      register: would
    - assert:
        that:
          - not guarded.changed and guarded.stdout == 'skipped, since /etc/hostname exists'
          - would.changed and would.msg == 'Command would have run if not in check mode'
          - ansible_check_mode == false
    - command: test ! -e {{ file }}-never
      changed_when: false
    - name: stdin
      command: cat
      args:
        stdin: hello
      register: cat
    - assert:
        that: ["cat.stdout == 'hello'"]
"#
            .replace("ID", &id),
        )],
    );
    let (code, out, err) = play(&lab, &dir, &inv, &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(hosts_in(section(&out, "TASK [once]")), ["lab1"], "{out}");
    assert!(
        section(&out, "TASK [from lab1 to lab2]").contains("changed: [lab1 -> lab2]"),
        "{out}"
    );
    for h in HOSTS {
        assert!(recap(&out, h).contains("failed=0"), "{out}");
    }
    cleanup(&lab, &inv, &id);
}

#[test]
fn roles_includes_and_variable_precedence() {
    let lab = Lab::from_env();
    let dir = scratch("flow-roles");
    let inv = inventory(&lab, &dir, "inv_v=inventory");
    write_all(
        &dir,
        &[
            (
                "roles/base/tasks/main.yml",
                "- name: hello\n  debug: msg=base\n",
            ),
            ("roles/web/meta/main.yml", "dependencies: [base]\n"),
            ("roles/api/meta/main.yml", "dependencies: [base]\n"),
            (
                "roles/api/tasks/main.yml",
                "- name: api\n  debug: msg=api\n",
            ),
            (
                "roles/web/defaults/main.yml",
                "port: 80\nwho: default\ninv_v: default\nrole_v: default\n",
            ),
            ("roles/web/vars/main.yml", "role_v: role-vars\n"),
            (
                "roles/web/tasks/main.yml",
                r#"- name: check precedence
  assert:
    that:
      - port == '8080'
      - who == 'play'
      - inv_v == 'inventory'
      - role_v == 'role-vars'
      - param == 'p'
- include_tasks: "{{ which }}.yml"
- name: notify the role handler
  command: "true"
  notify: restart web
"#,
            ),
            (
                "roles/web/tasks/extra.yml",
                "- name: included\n  debug: msg=\"included {{ port }}\"\n",
            ),
            (
                "roles/web/tasks/other.yml",
                "- name: from other\n  debug: msg=\"other {{ v }}\"\n",
            ),
            (
                "roles/web/handlers/main.yml",
                "- name: restart web\n  debug: msg=restarted\n",
            ),
            ("vars/common.yml", "which: extra\n"),
            ("vars/alt.yml", "alt_v: alt\n"),
            (
                "site.yml",
                r#"- hosts: lab1
  gather_facts: false
  vars:
    who: play
    which: wrong
    port: 1
  vars_files:
    - vars/common.yml
    - [vars/nope.yml, "vars/{{ 'alt' }}.yml"]
  roles:
    - role: web
      param: p
    - api
  tasks:
    - name: dynamic role
      include_role:
        name: web
        tasks_from: other
      vars:
        v: given
    - name: static role
      import_role:
        name: api
    - assert:
        that: [alt_v == 'alt', which == 'extra']
"#,
            ),
        ],
    );
    let (code, out, err) = play(
        &lab,
        &dir,
        &inv,
        &["-e", "port=8080", "-e", r#"{"unused": 1}"#],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let banners: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("TASK [") || l.starts_with("RUNNING HANDLER ["))
        .map(|l| l.split(" *").next().unwrap_or(l))
        .collect();
    assert_eq!(
        banners,
        [
            "TASK [base : hello]",
            "TASK [web : check precedence]",
            "TASK [web : include_tasks]",
            "TASK [web : included]",
            "TASK [web : notify the role handler]",
            "TASK [api : api]",
            "TASK [dynamic role]",
            "TASK [web : from other]",
            "TASK [api : api]",
            "TASK [assert]",
            "RUNNING HANDLER [web : restart web]",
        ],
        "{out}"
    );
    for want in [
        "\"msg\": \"included 8080\"",
        "\"msg\": \"other given\"",
        "included: ",
        "roles/web/tasks/extra.yml for lab1\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn tags_and_skip_tags_select_tasks() {
    let lab = Lab::from_env();
    let dir = scratch("flow-tags");
    let inv = inventory(&lab, &dir, "");
    write_all(
        &dir,
        &[(
            "site.yml",
            r#"- hosts: lab1
  gather_facts: false
  tasks:
    - {name: untagged, debug: msg=x}
    - {name: tagged a, debug: msg=x, tags: a}
    - {name: tagged b, debug: msg=x, tags: [b]}
    - {name: tagged always, debug: msg=x, tags: always}
    - {name: tagged never, debug: msg=x, tags: [never, debug]}
    - name: a block tagged a
      tags: a
      block:
        - {name: inside a, debug: msg=x}
"#,
        )],
    );
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[],
            &[
                "untagged",
                "tagged a",
                "tagged b",
                "tagged always",
                "inside a",
            ],
        ),
        (&["--tags", "a"], &["tagged a", "tagged always", "inside a"]),
        (&["--skip-tags", "a,always"], &["untagged", "tagged b"]),
        (&["--tags", "debug"], &["tagged always", "tagged never"]),
        (&["--tags", "untagged"], &["untagged", "tagged always"]),
        (
            &["--start-at-task", "tagged b"],
            &["tagged b", "tagged always", "inside a"],
        ),
    ];
    for (args, want) in cases {
        let (code, out, err) = play(&lab, &dir, &inv, args);
        assert_eq!(code, Some(0), "{args:?}: {out}\n{err}");
        let ran: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("TASK ["))
            .map(|l| l.split(']').next().unwrap_or(l))
            .collect();
        assert_eq!(ran, *want, "{args:?}: {out}");
    }
}

#[test]
fn remote_user_keyword_unless_the_inventory_names_the_user() {
    let lab = Lab::from_env();
    let dir = scratch("flow-user");
    // No ansible_user: the keyword decides; -u is the default below it.
    let inv = dir.join("hosts");
    std::fs::write(
        &inv,
        format!(
            "[lab]\nlab1 ansible_host={} ansible_ssh_private_key_file={}\nlab2 ansible_host={} ansible_user=root ansible_ssh_private_key_file={}\n",
            lab.address("lab1"),
            lab.key("id_ed25519").display(),
            lab.address("lab2"),
            lab.key("id_ed25519").display()
        ),
    )
    .unwrap();
    write_all(
        &dir,
        &[(
            "site.yml",
            r#"- hosts: lab
  gather_facts: false
  remote_user: cairn
  tasks:
    - command: id -un
      register: play_user
    - command: id -un
      remote_user: root
      register: task_user
    - assert:
        that:
          - "play_user.stdout == ('cairn' if inventory_hostname == 'lab1' else 'root')"
          - task_user.stdout == 'root'
"#,
        )],
    );
    let (code, out, err) = play(&lab, &dir, &inv, &["-u", "root"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(!err.contains("remote_user"), "{err}");
}

/// `delegate_to: localhost` (Ansible's implicit localhost): the module runs on the controller,
/// without SSH, with the delegating host's variables; with `run_once` once; with `become`
/// (the tests run as root: no sudo); `fetch`-like round trips (slurp on a host, copy here).
#[test]
fn delegate_to_localhost_runs_on_the_controller() {
    let lab = Lab::from_env();
    let dir = scratch("flow-local");
    let inv = inventory(&lab, &dir, "");
    let here = dir.join("here");
    let me = String::from_utf8(Command::new("hostname").output().unwrap().stdout).unwrap();
    write_all(
        &dir,
        &[(
            "site.yml",
            &r#"- hosts: lab
  gather_facts: false
  tasks:
    - name: where it runs
      command: hostname
      delegate_to: localhost
      register: where
    - assert:
        that: ["where.stdout == 'ME'"]
    - name: a file per host, written here
      copy:
        content: "{{ inventory_hostname }}\n"
        dest: HERE/{{ inventory_hostname }}.txt
      delegate_to: 127.0.0.1
    - name: once, as root
      shell: id -u > HERE/once.txt; echo {{ inventory_hostname }} >> HERE/once.txt
      delegate_to: localhost
      run_once: true
      become: true
    - name: the host's own name, read on the host
      slurp:
        src: /etc/hostname
      register: name
    - name: and kept here
      copy:
        content: "{{ name.content | b64decode }}"
        dest: HERE/{{ inventory_hostname }}.hostname
      delegate_to: localhost
"#
            .replace("ME", me.trim())
            .replace("HERE", &here.display().to_string()),
        )],
    );
    std::fs::create_dir_all(&here).unwrap();
    let (code, out, err) = play(&lab, &dir, &inv, &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let copied = section(&out, "TASK [a file per host, written here]");
    for h in HOSTS {
        assert!(
            copied.contains(&format!("changed: [{h} -> 127.0.0.1]")),
            "{copied}"
        );
        assert_eq!(
            std::fs::read_to_string(here.join(format!("{h}.txt"))).unwrap(),
            format!("{h}\n")
        );
        assert_eq!(
            std::fs::read_to_string(here.join(format!("{h}.hostname"))).unwrap(),
            format!("{h}\n")
        );
    }
    assert_eq!(
        std::fs::read_to_string(here.join("once.txt")).unwrap(),
        "0\nlab1\n"
    );
    // A second run changes nothing but the once-task (a shell command).
    let (code, out, err) = play(&lab, &dir, &inv, &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        section(&out, "TASK [a file per host, written here]").contains("ok: [lab1 -> 127.0.0.1]"),
        "{out}"
    );
}

/// A play on `hosts: localhost` with an inventory that has no such host: Ansible's implicit
/// localhost (the controller, no SSH), in no group: `all` does not include it, and
/// `hostvars` of the inventory's hosts are readable from it after their play registered.
#[test]
fn a_play_on_the_implicit_localhost() {
    let lab = Lab::from_env();
    let dir = scratch("flow-implicit-local");
    let inv = inventory(&lab, &dir, "");
    let here = dir.join("here");
    let me = String::from_utf8(Command::new("hostname").output().unwrap().stdout).unwrap();
    write_all(
        &dir,
        &[(
            "site.yml",
            &r#"- hosts: lab
  gather_facts: false
  tasks:
    - command: cat /etc/hostname
      register: hn
      changed_when: false
- hosts: localhost
  gather_facts: false
  tasks:
    - command: hostname
      register: where
      changed_when: false
    - assert:
        that:
          - "where.stdout == 'ME'"
          - "inventory_hostname == 'localhost'"
          - "'localhost' not in groups['all']"
          - "group_names == []"
          - "hostvars['lab2'].hn.stdout == 'lab2'"
    - copy:
        content: "{{ groups['lab'] | map('extract', hostvars, ['hn', 'stdout']) | join(',') }}\n"
        dest: HERE/names.txt
- hosts: all
  gather_facts: false
  tasks:
    - command: "true"
      changed_when: false
"#
            .replace("ME", me.trim())
            .replace("HERE", &here.display().to_string()),
        )],
    );
    std::fs::create_dir_all(&here).unwrap();
    let (code, out, err) = play(&lab, &dir, &inv, &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(
        std::fs::read_to_string(here.join("names.txt")).unwrap(),
        "lab1,lab2,lab3\n"
    );
    assert!(out.contains("changed: [localhost]"), "{out}");
    let recap = section(&out, "PLAY RECAP");
    assert!(
        recap.contains("localhost                  : ok=3    changed=1"),
        "{recap}"
    );
    // `all` (the third play) did not run on it: 2 tasks on each lab host, 3 on localhost.
    assert!(
        recap.contains("lab1                       : ok=2    changed=0"),
        "{recap}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `include_tasks` with `loop`: the file once per item with `loop_var`/`index_var` set, item
/// after item, each host with its own items; a host failing in one item's tasks does not go on
/// to the next item.
#[test]
fn include_tasks_in_a_loop() {
    let lab = Lab::from_env();
    let dir = scratch("flow-include-loop");
    let inv = inventory(&lab, &dir, "");
    let out_file = format!("/tmp/cairn-flow-incloop-{}", std::process::id());
    write_all(
        &dir,
        &[
            (
                "site.yml",
                &r#"- hosts: lab
  gather_facts: false
  vars:
    mine:
      lab1: [a, b]
      lab2: [c]
      lab3: [d, e]
  tasks:
    - name: start empty
      file: { path: OUT, state: absent }
    - name: each of mine
      include_tasks: one.yml
      loop: "{{ mine[inventory_hostname] }}"
      loop_control:
        loop_var: letter
        index_var: n
    - command: cat OUT
      register: seen
      changed_when: false
    - assert:
        that:
          - "seen.stdout_lines == {'lab1': ['0 a', '1 b'], 'lab2': ['0 c'], 'lab3': ['0 d']}[inventory_hostname]"
"#
                .replace("OUT", &out_file),
            ),
            (
                "one.yml",
                &r#"- name: write the letter
  shell: echo "{{ n }} {{ letter }}" >> OUT
- name: lab3 stops at d
  fail: { msg: "no e" }
  when: letter == 'd'
  ignore_errors: "{{ false }}"
"#
                .replace("OUT", &out_file),
            ),
        ],
    );
    let (code, out, err) = play(&lab, &dir, &inv, &[]);
    let lab3 = lab.ssh_stdout("lab3", &format!("cat {out_file}"));
    for h in HOSTS {
        lab.ssh(h, &format!("rm -f {out_file}"));
    }
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert_eq!(lab3, "0 d\n", "lab3 stopped after its first item");
    assert!(recap(&out, "lab1").contains("failed=0"), "{out}");
    assert!(recap(&out, "lab2").contains("failed=0"), "{out}");
    assert!(recap(&out, "lab3").contains("failed=1"), "{out}");
}

#[test]
fn run_time_errors_name_their_place() {
    let lab = Lab::from_env();
    let dir = scratch("flow-errors");
    let inv = inventory(&lab, &dir, "");
    let site = dir.join("site.yml").display().to_string();
    let task = |body: &str| {
        format!("- hosts: lab1\n  gather_facts: false\n  tasks:\n    - name: t\n{body}")
    };
    let cases: Vec<(String, String)> = vec![
        (
            task("      debug: msg=x\n      delegate_to: nowhere\n"),
            format!("delegate_to: \\\"nowhere\\\" is not a host of the inventory ({site}:4:7)"),
        ),
        (
            task("      command: \"true\"\n      environment: \"{{ 'x' }}\"\n"),
            format!("environment must be a mapping of variable names to values, got \\\"x\\\" (the task at {site}:4:7)"),
        ),
        (
            task("      command: \"true\"\n      environment: {\"A-B\": 1}\n"),
            format!("environment: \\\"A-B\\\" is not a valid variable name (the task at {site}:4:7)"),
        ),
        (
            task("      include_tasks: missing.yml\n"),
            format!("{site}:4:7: error: included file \\\"missing.yml\\\" not found"),
        ),
        (
            task("      include_tasks:\n        file: x.yml\n        apply: {loop: []}\n"),
            format!("apply: \\\"loop\\\" is not supported (tags, when, become, become_user, ignore_errors, no_log, check_mode, diff, run_once, delegate_to, environment, vars are) ({site}:4:7)"),
        ),
        (
            task("      include_tasks: x.yml\n      loop: \"{{ 'x' }}\"\n"),
            format!("Invalid data passed to 'loop', it requires a list, got this instead: x. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup. (the task at {site}:4:7)"),
        ),
        (
            "- hosts: lab1\n  gather_facts: false\n  serial: \"{{ 'many' }}\"\n  tasks: []\n".into(),
            format!("serial: \\\"{{{{ 'many' }}}}\\\" gave \\\"many\\\", not a number or a percentage (the play at {site}:1:3)"),
        ),
        (
            task("      command: \"false\"\n      until: false\n      retries: \"{{ 'x' }}\"\n"),
            format!("retries must be a whole number, got \\\"x\\\" (the task at {site}:4)"),
        ),
        (
            task("      meta: refresh_inventory\n"),
            format!("meta: refresh_inventory is not implemented: the inventory is read once per run ({site}:4:7)"),
        ),
        (
            "- hosts: lab1\n  gather_facts: false\n  vars_files: [[a.yml, b.yml]]\n  tasks: []\n".into(),
            format!("{site}:1:3: none of the vars_files alternatives exists (tried {d}/a.yml, {d}/b.yml)", d = dir.display()),
        ),
        (
            "- hosts: lab1\n  gather_facts: false\n  vars_files: [\"{{ nope }}.yml\"]\n  tasks: []\n".into(),
            format!("vars_files \\\"{{{{ nope }}}}.yml\\\": 'nope' is undefined (the play at {site}:1:3)"),
        ),
    ];
    for (playbook, want) in cases {
        write_all(&dir, &[("site.yml", &playbook)]);
        let (code, out, err) = play(&lab, &dir, &inv, &[]);
        assert_eq!(code, Some(2), "{playbook}\n{out}\n{err}");
        assert!(out.contains(&want), "missing {want:?} in:\n{out}");
    }
}
