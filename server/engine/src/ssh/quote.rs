//! POSIX shell quoting for commands sent to hosts.

/// Quote `s` as one word for `/bin/sh`: left bare when it is made only of safe characters,
/// otherwise wrapped in single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quoting() {
        for (input, want) in [
            ("abc", "abc"),
            ("/etc/x.conf", "/etc/x.conf"),
            ("", "''"),
            ("a b", "'a b'"),
            ("it's", r"'it'\''s'"),
            ("$(rm -rf /)", "'$(rm -rf /)'"),
            ("a\nb", "'a\nb'"),
        ] {
            assert_eq!(shell_quote(input), want);
        }
    }

    #[test]
    fn quoted_words_survive_a_real_shell() {
        let nasty = "it's a \"test\" $HOME `id` \\ \n end";
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote(nasty)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), nasty);
    }
}
