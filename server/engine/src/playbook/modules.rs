//! Which modules a task may name, how their fully qualified names map to short ones, and how
//! free-form arguments (`file: path=/x state=directory`, `command: ls chdir=/tmp`) split.
//!
//! Owns the registry of recognised modules (the ones Cairn's engine will implement), the
//! argument names of the modules that declare them ([`parameters`]: an unknown one is a load
//! error) and the `k=v` splitter. Must not: check argument values (the modules do) or run
//! anything.

use serde_json::Value;

use super::model::Vars;

/// Modules a task may use, by short name, with the collections their FQCN may name.
const MODULES: &[(&str, &[&str])] = &[
    ("command", BUILTIN),
    ("shell", BUILTIN),
    ("raw", BUILTIN),
    ("script", BUILTIN),
    ("copy", BUILTIN),
    ("template", BUILTIN),
    ("file", BUILTIN),
    ("lineinfile", BUILTIN),
    ("blockinfile", BUILTIN),
    ("replace", BUILTIN),
    ("stat", BUILTIN),
    ("slurp", BUILTIN),
    ("fetch", BUILTIN),
    ("get_url", BUILTIN),
    ("unarchive", BUILTIN),
    ("package", BUILTIN),
    ("apt", BUILTIN),
    ("yum", BUILTIN),
    ("dnf", BUILTIN),
    ("service", BUILTIN),
    ("systemd", BUILTIN),
    ("systemd_service", BUILTIN),
    ("sysctl", &["ansible.posix"]),
    ("modprobe", &["community.general"]),
    ("hostname", BUILTIN),
    ("user", BUILTIN),
    ("group", BUILTIN),
    ("mount", &["ansible.posix"]),
    ("wait_for", BUILTIN),
    ("uri", BUILTIN),
    ("setup", BUILTIN),
    ("debug", BUILTIN),
    ("assert", BUILTIN),
    ("fail", BUILTIN),
    ("set_fact", BUILTIN),
    ("include_vars", BUILTIN),
    ("pause", BUILTIN),
    ("meta", BUILTIN),
    // Not modules but written like them; the loader gives them their meaning.
    ("include_tasks", BUILTIN),
    ("import_tasks", BUILTIN),
    ("include_role", BUILTIN),
    ("import_role", BUILTIN),
];

/// `ansible.legacy` is what `ansible.builtin` names resolve through; roles sometimes write it.
const BUILTIN: &[&str] = &["ansible.builtin", "ansible.legacy"];

/// Modules whose free-form text is a command line rather than `k=v` pairs (only the keys in
/// [`COMMAND_KEYS`] are taken out of it).
const FREE_FORM: &[&str] = &[
    "command",
    "shell",
    "raw",
    "script",
    "meta",
    "include_vars",
    "include_tasks",
    "import_tasks",
];

/// The `k=v` options `command`, `shell` and `script` accept inside their command line.
const COMMAND_KEYS: &[&str] = &[
    "chdir",
    "creates",
    "removes",
    "executable",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
    "warn",
    "expand_argument_vars",
    "decrypt",
];

/// `mode`, `owner`, `group` (Ansible's common file arguments Cairn implements) and
/// `unsafe_writes` (accepted: Cairn always writes atomically).
const FILE_ATTRS: &[&str] = &["mode", "owner", "group", "unsafe_writes"];

/// The arguments a module accepts, aliases included, for the modules whose arguments are
/// checked when the playbook loads (an unknown one is an error at its file:line:column).
/// `None`: not checked (yet). Ansible arguments Cairn does not implement are left out on
/// purpose, so they fail loudly rather than being ignored.
pub fn arguments(module: &str) -> Option<Vec<&'static str>> {
    let (own, file_attrs): (&[&str], bool) = match module {
        "stat" => (
            &[
                "path",
                "dest",
                "name",
                "follow",
                "get_checksum",
                "checksum_algorithm",
                "checksum",
                "checksum_algo",
                "get_mime",
                "get_attributes",
            ],
            false,
        ),
        "copy" => (
            &[
                "src",
                "content",
                "dest",
                "backup",
                "force",
                "directory_mode",
                "remote_src",
                "validate",
                "follow",
                "checksum",
            ],
            true,
        ),
        "template" => (
            &[
                "src",
                "dest",
                "backup",
                "force",
                "validate",
                "newline_sequence",
                "follow",
            ],
            true,
        ),
        "file" => (
            &[
                "path",
                "dest",
                "name",
                "state",
                "src",
                "recurse",
                "force",
                "follow",
                "modification_time",
                "modification_time_format",
                "access_time",
                "access_time_format",
            ],
            true,
        ),
        "lineinfile" => (
            &[
                "path",
                "dest",
                "destfile",
                "name",
                "line",
                "value",
                "regexp",
                "regex",
                "search_string",
                "state",
                "insertafter",
                "insertbefore",
                "create",
                "backrefs",
                "backup",
                "firstmatch",
                "validate",
            ],
            true,
        ),
        "blockinfile" => (
            &[
                "path",
                "dest",
                "destfile",
                "name",
                "block",
                "content",
                "marker",
                "marker_begin",
                "marker_end",
                "insertafter",
                "insertbefore",
                "create",
                "state",
                "backup",
                "validate",
                "prepend_newline",
                "append_newline",
            ],
            true,
        ),
        "replace" => (
            &[
                "path", "dest", "destfile", "name", "regexp", "replace", "after", "before",
                "backup", "validate",
            ],
            true,
        ),
        "slurp" => (&["src", "path"], false),
        "fetch" => (
            &[
                "src",
                "dest",
                "flat",
                "fail_on_missing",
                "validate_checksum",
            ],
            false,
        ),
        "script" => (
            &[
                "_raw_params",
                "cmd",
                "chdir",
                "creates",
                "removes",
                "executable",
            ],
            false,
        ),
        "unarchive" => (
            &[
                "src",
                "dest",
                "remote_src",
                "copy",
                "creates",
                "extra_opts",
                "list_files",
            ],
            false,
        ),
        _ => return parameters(module).map(<[&str]>::to_vec),
    };
    let mut all = own.to_vec();
    if file_attrs {
        all.extend_from_slice(FILE_ATTRS);
    }
    Some(all)
}

/// The argument names (aliases included) a module accepts, for the modules that declare them;
/// `None`: not checked when loading. Names follow Ansible's documentation of each module.
pub fn parameters(module: &str) -> Option<&'static [&'static str]> {
    const SERVICE: &[&str] = &[
        "name",
        "state",
        "enabled",
        "pattern",
        "sleep",
        "arguments",
        "args",
        "runlevel",
        "use",
    ];
    const SYSTEMD: &[&str] = &[
        "name",
        "service",
        "unit",
        "state",
        "enabled",
        "masked",
        "daemon_reload",
        "daemon-reload",
        "daemon_reexec",
        "daemon-reexec",
        "scope",
        "no_block",
        "force",
    ];
    const APT: &[&str] = &[
        "name",
        "package",
        "pkg",
        "state",
        "update_cache",
        "update-cache",
        "cache_valid_time",
        "install_recommends",
        "install-recommends",
        "deb",
        "purge",
        "autoremove",
        "allow_downgrade",
        "allow-downgrade",
        "allow_downgrades",
        "allow-downgrades",
        "force",
        "lock_timeout",
        "default_release",
        "default-release",
    ];
    const DNF: &[&str] = &[
        "name",
        "pkg",
        "state",
        "enablerepo",
        "disablerepo",
        "update_cache",
        "expire-cache",
        "disable_gpg_check",
        "exclude",
        "autoremove",
        "install_weak_deps",
        "allowerasing",
        "installroot",
        "releasever",
    ];
    Some(match module {
        "apt" => APT,
        "dnf" | "yum" => DNF,
        "package" => &["name", "state", "use", "update_cache"],
        "service" => SERVICE,
        "systemd" | "systemd_service" => SYSTEMD,
        "sysctl" => &[
            "name",
            "key",
            "value",
            "val",
            "state",
            "sysctl_file",
            "reload",
            "sysctl_set",
            "ignoreerrors",
        ],
        "modprobe" => &["name", "state", "params", "persistent"],
        "hostname" => &["name", "use"],
        "user" => &[
            "name",
            "uid",
            "group",
            "groups",
            "append",
            "shell",
            "home",
            "comment",
            "create_home",
            "createhome",
            "move_home",
            "system",
            "non_unique",
            "password",
            "update_password",
            "state",
            "remove",
            "force",
        ],
        "group" => &["name", "gid", "system", "state", "non_unique"],
        "mount" => &[
            "path", "name", "src", "fstype", "opts", "dump", "passno", "state", "fstab",
        ],
        "wait_for" => &[
            "host",
            "port",
            "path",
            "state",
            "search_regex",
            "timeout",
            "delay",
            "sleep",
            "connect_timeout",
            "msg",
        ],
        "uri" => &[
            "url",
            "method",
            "body",
            "body_format",
            "headers",
            "status_code",
            "return_content",
            "timeout",
            "validate_certs",
            "follow_redirects",
            "url_username",
            "user",
            "url_password",
            "password",
            "force_basic_auth",
        ],
        "get_url" => &[
            "url",
            "dest",
            "checksum",
            "mode",
            "owner",
            "group",
            "force",
            "timeout",
            "headers",
            "validate_certs",
            "url_username",
            "username",
            "url_password",
            "password",
            "force_basic_auth",
        ],
        "pause" => &["seconds", "minutes", "prompt", "echo"],
        "include_vars" => &[
            "file",
            "name",
            "dir",
            "_raw_params",
            "depth",
            "files_matching",
            "ignore_files",
            "extensions",
            "ignore_unknown_extensions",
            "hash_behaviour",
        ],
        _ => return None,
    })
}

/// Every short module name, for suggestions and documentation.
pub fn known() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|(name, _)| *name)
}

/// Every name a module may be written with: short and fully qualified.
pub fn all_spellings() -> Vec<String> {
    let mut out = Vec::new();
    for (name, collections) in MODULES {
        out.push(name.to_string());
        for c in *collections {
            out.push(format!("{c}.{name}"));
        }
    }
    out
}

/// The short name of a recognised module written as `name` (short or FQCN), or `None`.
pub fn resolve(name: &str) -> Option<&'static str> {
    MODULES.iter().find_map(|(short, collections)| {
        let matches = name == *short
            || collections.iter().any(|c| {
                name.strip_prefix(c)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|rest| rest == *short)
            });
        matches.then_some(*short)
    })
}

/// Whether `name` looks like a fully qualified collection name (`ns.collection.module`).
pub fn is_fqcn(name: &str) -> bool {
    name.split('.').count() >= 3
}

/// Split a module's free-form string into arguments. For command-like modules only the known
/// option keys are taken out and the rest of the text, untouched (newlines of a `shell: |`
/// script included), is `_raw_params`; for the others every word must be `k=v`. An `Err`
/// carries the offending word.
pub fn free_form(module: &str, text: &str) -> Result<Vars, String> {
    let mut args = Vars::new();
    let command_like = FREE_FORM.contains(&module);
    let mut raw = String::new();
    let mut kept_from = 0;
    for (start, end) in split_words(text) {
        let word = &text[start..end];
        let kv = word.split_once('=').filter(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        match kv {
            Some((k, v)) if !command_like || COMMAND_KEYS.contains(&k) => {
                args.insert(k.to_string(), Value::String(unquote(v)));
                if command_like {
                    // Cut the option and the blanks after it out of the command line.
                    raw.push_str(&text[kept_from..start]);
                    kept_from =
                        end + text[end..].len() - text[end..].trim_start_matches([' ', '\t']).len();
                }
            }
            _ if command_like => {}
            _ => return Err(word.to_string()),
        }
    }
    if command_like {
        raw.push_str(&text[kept_from..]);
        let raw = raw.trim();
        if !raw.is_empty() {
            args.insert("_raw_params".into(), Value::String(raw.to_string()));
        }
    }
    Ok(args)
}

/// Byte ranges of the words of `text`: split on whitespace outside quotes and outside Jinja
/// `{{ }}`/`{% %}`, quotes kept (as Ansible's `split_args` does: `_raw_params` must stay a
/// shell-ready command line).
fn split_words(text: &str) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        match (quote, c) {
            (Some(q), _) if c == q && prev != Some('\\') => quote = None,
            (None, '"' | '\'') if depth == 0 => quote = Some(c),
            (None, '{') if matches!(next, Some('{' | '%')) => depth += 1,
            (None, '}' | '%') if next == Some('}') && depth > 0 => depth -= 1,
            (None, _) if c.is_whitespace() && depth == 0 => {
                if let Some(s) = start.take() {
                    words.push((s, i));
                }
                prev = Some(c);
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
        prev = Some(c);
    }
    if let Some(s) = start {
        words.push((s, text.len()));
    }
    words
}

/// `"a b"` → `a b`: a `k=v` value's surrounding quotes are syntax, not content.
fn unquote(v: &str) -> String {
    let bytes = v.as_bytes();
    if v.len() >= 2 && (bytes[0] == b'"' || bytes[0] == b'\'') && bytes[v.len() - 1] == bytes[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fqcn_names_resolve_to_short_ones() {
        let cases = [
            ("copy", Some("copy")),
            ("ansible.builtin.copy", Some("copy")),
            ("ansible.legacy.shell", Some("shell")),
            ("ansible.posix.sysctl", Some("sysctl")),
            ("community.general.modprobe", Some("modprobe")),
            ("ansible.builtin.sysctl", None),
            ("ansible.builtin.copyx", None),
            ("nope", None),
        ];
        for (name, want) in cases {
            assert_eq!(resolve(name), want, "{name}");
        }
    }

    #[test]
    fn file_modules_have_argument_specs() {
        for m in [
            "stat",
            "copy",
            "template",
            "file",
            "lineinfile",
            "blockinfile",
            "replace",
            "slurp",
            "fetch",
            "script",
            "unarchive",
        ] {
            let args = arguments(m).unwrap_or_else(|| panic!("{m} has no argument spec"));
            assert!(resolve(&format!("ansible.builtin.{m}")) == Some(m), "{m}");
            let mut sorted = args.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), args.len(), "{m}: duplicate argument");
        }
        assert!(arguments("copy").unwrap().contains(&"mode"));
        assert!(!arguments("stat").unwrap().contains(&"mode"));
        assert_eq!(arguments("command"), None);
    }

    #[test]
    fn declared_parameters() {
        assert!(parameters("apt").unwrap().contains(&"cache_valid_time"));
        assert!(
            parameters("systemd_service")
                .unwrap()
                .contains(&"daemon_reload")
        );
        assert!(!parameters("service").unwrap().contains(&"masked"));
        assert_eq!(parameters("copy"), None);
    }

    #[test]
    fn free_form_arguments() {
        let args = free_form("file", "path=/x state=directory mode='0755'").unwrap();
        assert_eq!(
            Value::Object(args),
            json!({"path": "/x", "state": "directory", "mode": "0755"})
        );
        let args = free_form("command", "ls -l \"a b\" chdir=/tmp creates={{ x }}").unwrap();
        assert_eq!(
            Value::Object(args),
            json!({"chdir": "/tmp", "creates": "{{ x }}", "_raw_params": "ls -l \"a b\""})
        );
        let args = free_form("shell", "echo {{ a | join(' ') }} > /tmp/x").unwrap();
        assert_eq!(
            args["_raw_params"],
            json!("echo {{ a | join(' ') }} > /tmp/x")
        );
        let args = free_form("shell", "set -e\nif true; then\n  echo hi\nfi\n").unwrap();
        assert_eq!(
            args["_raw_params"],
            json!("set -e\nif true; then\n  echo hi\nfi")
        );
        let args = free_form("command", "chdir=/x  ls   -l removes=/y").unwrap();
        assert_eq!(args["_raw_params"], json!("ls   -l"));
        let args = free_form("debug", "msg=\"hello {{ who }}\"").unwrap();
        assert_eq!(args["msg"], json!("hello {{ who }}"));
        assert_eq!(free_form("copy", "src=a oops"), Err("oops".to_string()));
    }
}
