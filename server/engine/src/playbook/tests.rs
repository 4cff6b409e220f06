//! Loading tests: every error message (snippet → message and position), and the shapes that
//! load.

use super::*;
use crate::testutil::TempDir;

fn load_in(tmp: &TempDir, main: &str) -> Result<Loaded, PlaybookError> {
    let path = tmp.write("play.yml", main);
    load(&path, &Options::default())
}

/// (playbook, expected message, line, column) — each loaded as `play.yml` in a fresh directory
/// that also holds `roles/ok` (a one-task role), `inc/plays.yml` (a play) and `inc/loop_a.yml` ↔ `inc/loop_b.yml` (a
/// cycle). Temporary directory prefixes are removed from messages.
const ERRORS: &[(&str, &str, usize, usize)] = &[
    (
        "- hosts: all\n  tasks:\n    - copy:\n        src: a\n        dset: /b\n",
        "unsupported parameter `dset` for module `copy`",
        5,
        9,
    ),
    (
        "- hosts: all\n  tasks:\n    - ansible.builtin.file: path=/x stat=absent\n",
        "unsupported parameter `stat` for module `ansible.builtin.file`",
        3,
        29,
    ),
    (
        "- hosts: all\n  tasks:\n    - name: x\n      copyy: src=a dest=b\n",
        "unknown module `copyy`",
        4,
        7,
    ),
    (
        "- hosts: all\n  tasks:\n    - ansible.builtin.shel: ls\n",
        "unknown module `ansible.builtin.shel`",
        3,
        7,
    ),
    (
        "- hosts: all\n  tasks:\n    - command: ls\n      whne: x\n",
        "unknown task keyword `whne`",
        4,
        7,
    ),
    (
        "- hosts: all\n  tasks:\n    - copy: src=a dest=b\n      file: path=/x state=absent\n",
        "conflicting action statements: `copy` and `file`",
        4,
        7,
    ),
    (
        "- hosts: all\n  tasks:\n    - name: nothing\n      become: true\n",
        "this task has no module",
        3,
        7,
    ),
    (
        "- hosts: all\n  tasks:\n    - command: ls\n      retries: abc\n",
        "`retries` must be a non-negative integer, found a string \"abc\"",
        4,
        16,
    ),
    (
        "- hosts: all\n  tasks:\n    - command: ls\n      when: {a: 1}\n",
        "`when` must be a condition (a string or a boolean) or a list of conditions, found a mapping",
        4,
        13,
    ),
    (
        "- hosts: all\n  tasks:\n    - debug: msg={{ item }}\n      loop: 3\n",
        "`loop` must be a list or a template string, found an integer",
        4,
        13,
    ),
    (
        "- hosts: all\n  tasks:\n    - debug: msg=x\n      loop: packages\n",
        "`loop` must be a list or a template string, found a string \"packages\"",
        4,
        13,
    ),
    (
        "- hosts: all\n  tasks:\n    - command: ls\n      become: maybe\n",
        "`become` must be a boolean, found a string \"maybe\"",
        4,
        15,
    ),
    (
        "- hosts: all\n  tasks:\n    - copy: [a, b]\n",
        "arguments of `copy` must be a mapping or a `key=value` string, found a list",
        3,
        13,
    ),
    (
        "- hosts: all\n  tasks:\n    - file: path=/x oops\n",
        "`file` takes `key=value` arguments, found \"oops\"",
        3,
        13,
    ),
    (
        "- hosts: all\n  tasks:\n    - command: ls\n      async: 10\n",
        "the task keyword `async` is not supported by Cairn",
        4,
        7,
    ),
    (
        "- hosts: all\n  tasks:\n    - meta: flush_handler\n",
        "unknown meta action \"flush_handler\"",
        3,
        13,
    ),
    (
        "- hosts: all\n  tasks:\n    - ansible.builtin.apt:\n        name: tree\n        update_cach: true\n",
        "unsupported parameter `update_cach` for module `ansible.builtin.apt`",
        5,
        9,
    ),
    (
        "- hosts: all\n  tasks:\n    - sysctl: name=net.x value=1 sysctl_sett=yes\n",
        "unsupported parameter `sysctl_sett` for module `sysctl`",
        3,
        15,
    ),
    (
        "- hosts: all\n  tasks:\n    - debug: msg=x\n      loop_control: {loopvar: y}\n",
        "unknown loop_control key `loopvar`",
        4,
        22,
    ),
    (
        "- hosts: all\n  tasks:\n    - debug: msg=x\n      loop: [1]\n      with_items: [2]\n",
        "a task loops only once: `loop` and `with_items` both given",
        5,
        7,
    ),
    (
        "- hosts: all\n  tasks:\n    - block:\n        - command: ls\n      copy: src=a\n",
        "a block cannot also call a module (`copy`)",
        5,
        7,
    ),
    (
        "- hosts: all\n  tasks:\n    - command: ls\n      rescue: []\n",
        "`rescue` without `block`",
        4,
        15,
    ),
    (
        "- hosts: all\n  tasks:\n    - command: ls\n      listen: x\n",
        "`listen` is only valid on handlers",
        4,
        7,
    ),
    (
        "- hosts: all\n  tasks: ls\n",
        "`tasks` must be a list of tasks, found a string",
        2,
        10,
    ),
    (
        "- hosts: all\n  tasks:\n    - ls\n",
        "a task must be a mapping, found a string",
        3,
        7,
    ),
    (
        "- name: no hosts\n  tasks: []\n",
        "this play has no `hosts`",
        1,
        3,
    ),
    (
        "- hosts: all\n  taks: []\n",
        "unknown play keyword `taks`",
        2,
        3,
    ),
    (
        "- hosts: all\n  command: ls\n",
        "`command` is a module, not a play keyword",
        2,
        3,
    ),
    (
        "- hosts: all\n  serial: 0\n",
        "`serial` must be at least 1, found 0",
        2,
        11,
    ),
    (
        "- hosts: all\n  serial: [1, \"150%\"]\n",
        "`serial` percentage must be above 0% and at most 100%, found \"150%\"",
        2,
        15,
    ),
    (
        "- hosts: all\n  strategy: debug\n",
        "`strategy` must be `linear` or `free`",
        2,
        13,
    ),
    (
        "- hosts: all\n  max_fail_percentage: lots\n",
        "`max_fail_percentage` must be a number from 0 to 100",
        2,
        24,
    ),
    (
        "hosts: all\n",
        "a playbook must be a list of plays, found a mapping",
        1,
        1,
    ),
    (
        "- hosts: all\n  roles:\n    - nope\n",
        "role \"nope\" not found",
        3,
        7,
    ),
    (
        "- hosts: all\n  roles:\n    - {tags: x}\n",
        "role entry without `role:`",
        3,
        7,
    ),
    (
        "- hosts: all\n  tasks:\n    - include_role: {name: nope}\n",
        "role \"nope\" not found",
        3,
        28,
    ),
    (
        "- hosts: all\n  tasks:\n    - import_role: {name: ok, tasks_from: nope}\n",
        "role \"ok\" has no tasks file \"nope\"",
        3,
        27,
    ),
    (
        "- hosts: all\n  tasks:\n    - import_tasks: missing.yml\n",
        "imported file \"missing.yml\" not found",
        3,
        21,
    ),
    (
        "- hosts: all\n  tasks:\n    - import_tasks: \"{{ f }}.yml\"\n",
        "import_tasks needs a file name known when loading, found \"{{ f }}.yml\"",
        3,
        21,
    ),
    (
        "- import_playbook: inc/plays.yml\n  when: x\n",
        "`when` is not valid beside `import_playbook`",
        2,
        3,
    ),
    (
        "- import_playbook: other.yml\n",
        "imported playbook \"other.yml\" not found",
        1,
        20,
    ),
    (
        "- hosts: all\n  tasks:\n    - import_tasks: inc/loop_a.yml\n",
        // Reported at the import that closes the cycle, in inc/loop_b.yml.
        "import cycle: inc/loop_a.yml -> inc/loop_b.yml -> inc/loop_a.yml",
        1,
        17,
    ),
    (
        "- hosts: all\n  tasks:\n    - command: ls\n      notify: restrt\n  handlers:\n    - name: restart\n      command: x\n",
        "no handler named \"restrt\"",
        4,
        15,
    ),
    (
        "- hosts: all\n  tasks:\n    - command: ls\n   - command: pwd\n",
        "invalid YAML: while parsing a block mapping, did not find expected key",
        4,
        4,
    ),
];

#[test]
fn every_error_message_points_at_its_source() {
    for (src, message, line, column) in ERRORS {
        let tmp = TempDir::new("pb-err");
        tmp.write("roles/ok/tasks/main.yml", "- debug: msg=ok\n");
        tmp.write("inc/loop_a.yml", "- import_tasks: loop_b.yml\n");
        tmp.write("inc/loop_b.yml", "- import_tasks: loop_a.yml\n");
        tmp.write("inc/plays.yml", "- hosts: all\n");
        let e = match load_in(&tmp, src) {
            Ok(_) => panic!("expected {message:?} for:\n{src}"),
            Err(e) => e,
        };
        let d = &e.diagnostics()[0];
        let base = tmp.0.display().to_string();
        let got = d.message.replace(&format!("{base}/"), "");
        assert_eq!(&got, message, "for:\n{src}\nrendered:\n{}", e.render());
        assert_eq!(
            (d.line, d.column),
            (*line, *column),
            "{message}\n{}",
            e.render()
        );
        assert!(d.help.is_some(), "{message}: every error says what to do");
    }
}

#[test]
fn suggestions_name_the_closest_word() {
    let cases = [
        (
            "- hosts: all\n  tasks:\n    - copyy: src=a\n",
            "did you mean `copy`?",
        ),
        (
            "- hosts: all\n  tasks:\n    - ansible.builtin.shel: ls\n",
            "did you mean `ansible.builtin.shell`?",
        ),
        (
            "- hosts: all\n  tasks:\n    - command: ls\n      whne: x\n",
            "did you mean `when`?",
        ),
        ("- hosts: all\n  taks: []\n", "did you mean `tasks`?"),
        (
            "- hosts: all\n  tasks:\n    - command: ls\n      notify: restrt\n  handlers:\n    - name: restart\n      command: x\n",
            "did you mean \"restart\"?",
        ),
        (
            "- hosts: all\n  tasks:\n    - tag: x\n",
            "did you mean `tags`?",
        ),
        (
            "- hosts: all\n  tasks:\n    - meta: flush_handler\n",
            "did you mean `flush_handlers`?",
        ),
    ];
    for (src, help) in cases {
        let tmp = TempDir::new("pb-suggest");
        let e = load_in(&tmp, src).unwrap_err();
        assert_eq!(e.diagnostics()[0].help.as_deref(), Some(help), "{src}");
    }
}

#[test]
fn errors_render_like_rustc_and_all_are_reported() {
    let tmp = TempDir::new("pb-render");
    let e = load_in(
        &tmp,
        "- hosts: all\n  tasks:\n    - name: install\n      copyy: src=a dest=b\n    - command: ls\n      retries: abc\n",
    )
    .unwrap_err();
    let shown = tmp.0.join("play.yml").display().to_string();
    assert_eq!(e.diagnostics().len(), 2);
    assert_eq!(
        e.render(),
        format!(
            "error: unknown module `copyy`\n --> {shown}:4:7\n  |\n4 |       copyy: src=a dest=b\n  |       ^^^^^ not a module Cairn knows\n  = help: did you mean `copy`?\n\n\
             error: `retries` must be a non-negative integer, found a string \"abc\"\n --> {shown}:6:16\n  |\n6 |       retries: abc\n  |                ^^^ expected a non-negative integer\n  = help: write a number like `retries: 3`, or a template like \"{{{{ n }}}}\"\n\n\
             error: 2 problems found\n"
        )
    );
}

#[test]
fn missing_role_says_where_it_looked() {
    let tmp = TempDir::new("pb-role");
    let path = tmp.write("play.yml", "- hosts: all\n  roles: [nope]\n");
    let e = load(
        &path,
        &Options {
            roles_path: vec!["/etc/cairn/roles".into()],
        },
    )
    .unwrap_err();
    let base = tmp.0.display();
    assert_eq!(
        e.diagnostics()[0].help.as_deref(),
        Some(
            format!(
                "looked in: {base}/roles/nope, /etc/cairn/roles/nope, {base}/nope; create the role there or add its parent directory to the roles path (--roles-path)"
            )
            .as_str()
        )
    );
}

#[test]
fn role_dependency_cycles_are_errors() {
    let tmp = TempDir::new("pb-rolecycle");
    tmp.write("roles/a/meta/main.yml", "dependencies: [b]\n");
    tmp.write("roles/b/meta/main.yml", "dependencies:\n  - role: a\n");
    let e = load_in(&tmp, "- hosts: all\n  roles: [a]\n").unwrap_err();
    let d = &e.diagnostics()[0];
    let base = tmp.0.display();
    assert_eq!(
        d.message,
        format!("import cycle: {base}/roles/a -> {base}/roles/b -> {base}/roles/a")
    );
    assert_eq!(d.file, format!("{base}/roles/b/meta/main.yml"));
    assert_eq!((d.line, d.column), (2, 11));
}

#[test]
fn task_shapes_load_into_the_model() {
    let tmp = TempDir::new("pb-model");
    let loaded = load_in(
        &tmp,
        r#"- hosts: [web, db]
  serial: [1, "30%", "{{ rest }}"]
  gather_facts: no
  strategy: free
  tasks:
    - name: free-form command
      ansible.builtin.command: ls -l chdir=/tmp
      register: out
      changed_when: false
      retries: 3
      delay: "{{ d }}"
      until: out.rc == 0
    - ansible.posix.sysctl:
        name: net.ipv4.ip_forward
        value: "1"
      args: {reload: true}
      when:
        - a
        - b
      tags: net, kernel
    - community.general.modprobe: name=br_netfilter
      with_items: "{{ mods }}"
      loop_control: {loop_var: m, label: "{{ m }}"}
      notify: [restart a, restart b]
    - meta: flush_handlers
    - include_tasks: "{{ x }}.yml"
  handlers:
    - name: restart both
      command: /bin/true
      listen: [restart a, restart b]
"#,
    )
    .unwrap();
    let play = &loaded.playbook.plays[0];
    assert_eq!(play.hosts, "web,db");
    assert_eq!(
        play.serial,
        vec![
            Batch::Hosts(1),
            Batch::Percent(30.0),
            Batch::Template("{{ rest }}".into())
        ]
    );
    assert_eq!(play.gather_facts, Some(Flag::Value(false)));
    assert_eq!(play.strategy, Strategy::Free);
    let t = &play.tasks;
    let TaskKind::Action(a) = &t[0].kind else {
        panic!("{:?}", t[0].kind)
    };
    assert_eq!(a.module, "command");
    assert_eq!(a.written, "ansible.builtin.command");
    assert_eq!(
        serde_json::Value::Object(a.args.clone()),
        serde_json::json!({"chdir": "/tmp", "_raw_params": "ls -l"})
    );
    assert_eq!(t[0].register.as_deref(), Some("out"));
    assert_eq!(t[0].changed_when, vec!["False"]);
    assert_eq!(t[0].retries, Some(Count::Value(3)));
    assert_eq!(t[0].delay, Some(Count::Template("{{ d }}".into())));
    assert_eq!(
        (t[0].location.line, t[0].location.column),
        (6, 7),
        "a task is located at its first key"
    );
    let TaskKind::Action(a) = &t[1].kind else {
        panic!()
    };
    assert_eq!(a.module, "sysctl");
    assert_eq!(a.args["reload"], serde_json::json!(true));
    assert_eq!(t[1].common.when, vec!["a", "b"]);
    assert_eq!(t[1].common.tags, vec!["net", "kernel"]);
    let TaskKind::Action(a) = &t[2].kind else {
        panic!()
    };
    assert_eq!(a.module, "modprobe");
    assert_eq!(a.args["name"], serde_json::json!("br_netfilter"));
    let lp = t[2].r#loop.as_ref().unwrap();
    assert_eq!(
        (lp.kind.as_str(), &lp.source),
        ("items", &serde_json::json!("{{ mods }}"))
    );
    assert_eq!(
        t[2].loop_control.as_ref().unwrap().loop_var.as_deref(),
        Some("m")
    );
    assert_eq!(t[2].notify, vec!["restart a", "restart b"]);
    assert!(matches!(&t[3].kind, TaskKind::Meta(m) if m == "flush_handlers"));
    assert!(matches!(&t[4].kind, TaskKind::IncludeTasks { file, .. } if file == "{{ x }}.yml"));
}

#[test]
fn duplicate_keys_are_warnings() {
    let tmp = TempDir::new("pb-dup");
    let loaded = load_in(
        &tmp,
        "- hosts: all\n  tasks:\n    - command: ls\n      when: a\n      when: b\n",
    )
    .unwrap();
    assert_eq!(loaded.playbook.plays[0].tasks[0].common.when, ["b"]);
    let w = &loaded.warnings[0];
    assert_eq!(w.message, "duplicate key \"when\" in [0].tasks[0]");
    assert_eq!((w.line, w.column), (5, 7));
}

#[test]
fn notify_finds_handlers_by_name_topic_and_role() {
    let tmp = TempDir::new("pb-notify");
    tmp.write(
        "roles/r/handlers/main.yml",
        "- name: reload r\n  command: x\n  listen: r changed\n",
    );
    tmp.write(
        "roles/r/tasks/main.yml",
        "- command: y\n  notify: \"r : reload r\"\n",
    );
    let loaded = load_in(
        &tmp,
        "- hosts: all\n  roles: [r]\n  tasks:\n    - command: ls\n      notify: [r changed, reload r, \"{{ h }}\", own]\n  handlers:\n    - block:\n        - name: own\n          command: z\n",
    );
    if let Err(e) = loaded {
        panic!("{}", e.render());
    }
}
