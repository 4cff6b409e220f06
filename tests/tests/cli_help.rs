//! `cairn --help` lists the subcommands that exist, and each has its own help. No lab needed.

use std::process::Command;

fn cairn_bin() -> std::path::PathBuf {
    cairn_tests::cairn_bin()
}

#[test]
fn help_lists_subcommands_and_each_has_help() {
    let o = Command::new(cairn_bin()).arg("--help").output().unwrap();
    assert!(o.status.success());
    let help = String::from_utf8(o.stdout).unwrap();
    let listed: Vec<&str> = help
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.split_whitespace().next().unwrap())
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(
        listed,
        [
            "ping",
            "exec",
            "inventory",
            "play",
            "preflight",
            "hosts",
            "bundle",
            "serve",
            "runs",
            "install",
            "init"
        ]
    );
    for sub in listed {
        let o = Command::new(cairn_bin())
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{sub} --help");
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(text.contains(&format!("Usage: cairn {sub}")), "{text}");
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    let o = Command::new(cairn_bin()).args(["ping"]).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "usage errors exit 1, like other bad input (as ansible-playbook)"
    );
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("--inventory <FILE>"), "{err}");
}
