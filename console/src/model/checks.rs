//! The pre-flight matrix's words: the summary line over all checks, and one line per remedy
//! `--fix` applied. Plain functions so the wording is unit-tested natively; `ui::parts::checks`
//! draws them. Must not: touch the DOM or Leptos.

use cairn_protocol::{PreflightCheck, PreflightFix};

/// `38 checks on 1 hosts: 36 pass, 0 warn, …, 0 ignored`, and the pending host keys when any
/// (never counted as passed).
pub fn summary(checks: &[PreflightCheck], hosts: usize) -> String {
    let count = |s: &str| checks.iter().filter(|c| c.status == s).count();
    let mut line = format!(
        "{} checks on {} hosts: {} pass, {} warn, {} fail, {} skipped, {} ignored",
        checks.len(),
        hosts,
        count("pass"),
        count("warn"),
        count("fail"),
        count("skipped"),
        count("ignored")
    );
    if count("pending") > 0 {
        line.push_str(&format!(
            ", {} pending (host keys to accept in step 2, Hosts)",
            count("pending")
        ));
    }
    line
}

/// One remedy's headline and detail: (`sysctl:… on lab56: changed`, ` — set 0 -> 1 (sysctl …)`).
pub fn fix_line(f: &PreflightFix) -> (String, String) {
    (
        format!("{} on {}: {}", f.id, f.host, f.outcome),
        format!(" — {} ({})", f.text, f.action),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, status: &str) -> PreflightCheck {
        PreflightCheck {
            host: "lab56".into(),
            id: id.into(),
            status: status.into(),
            reason: None,
            value: "v".into(),
            threshold: None,
            remedy: None,
            fixable: false,
        }
    }

    #[test]
    fn the_summary_counts_each_status_and_says_pending_keys() {
        let checks = [
            check("memory", "pass"),
            check("sysctl:net.ipv4.ip_forward", "warn"),
            check("port:2379", "ignored"),
        ];
        assert_eq!(
            summary(&checks, 1),
            "3 checks on 1 hosts: 1 pass, 1 warn, 0 fail, 0 skipped, 1 ignored"
        );
        let pending = [check("memory", "pass"), check("ssh:hostkey", "pending")];
        assert_eq!(
            summary(&pending, 2),
            "2 checks on 2 hosts: 1 pass, 0 warn, 0 fail, 0 skipped, 0 ignored, 1 pending (host keys to accept in step 2, Hosts)"
        );
    }

    #[test]
    fn a_fix_says_what_happened_and_what_the_remedy_was() {
        let f = PreflightFix {
            host: "lab56".into(),
            id: "sysctl:net.ipv4.ip_forward".into(),
            action: "sysctl net.ipv4.ip_forward=1, persisted in /etc/sysctl.d/90-cairn.conf".into(),
            outcome: "changed".into(),
            changed: true,
            text: "set 0 -> 1".into(),
        };
        assert_eq!(
            fix_line(&f),
            (
                "sysctl:net.ipv4.ip_forward on lab56: changed".to_string(),
                " — set 0 -> 1 (sysctl net.ipv4.ip_forward=1, persisted in /etc/sysctl.d/90-cairn.conf)"
                    .to_string()
            )
        );
    }
}
