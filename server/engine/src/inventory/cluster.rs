//! Cairn's own cluster description, `cluster.yaml` (`apiVersion: cairn/v1`, `kind: Cluster`).
//!
//! Owns the v1 schema: reading it strictly (unknown keys, wrong types, inline passwords and
//! dangling role references are errors pointing at the offending text) and mapping it onto the
//! shared [`Inventory`] model, so the rest of the engine sees one model whatever the format:
//! each role is a group, cluster `vars` are `all` vars, and each host's connection settings
//! become the `ansible_*`/`cairn_*` variables `connection` reads. `docs/cluster-yaml.md` is the
//! user-facing description of the same schema; keep them in step.
//!
//! Must not: resolve secrets (only their sources are recorded), touch the network, or read
//! `host_vars/`/`group_vars/` (cluster.yaml is self-contained).

// Readers return `Result<_, Diagnostic>`: a diagnostic is built only on the error path,
// once per load, and callers box it into `InventoryError`; boxing every internal result too
// would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Number, Value};

use super::install_settings::InstallSettings;
use super::model::{Inventory, UNGROUPED, Vars};
use super::pattern::{expand_range, glob_regex, is_glob};
use crate::diagnostic::Diagnostic;
use crate::yaml::{Node, NodeValue, resolve_plain};
use crate::yaml::{Span, SpanIndex, YamlPath};

pub const API_VERSIONS: &[&str] = &["cairn/v1"];
pub const KIND: &str = "Cluster";
/// The roles a cluster assigns, in the order their groups are created.
pub const ROLES: &[&str] = &[
    "etcd",
    "kube_master",
    "kube_node",
    "registry",
    "ci",
    "monitoring",
];

const TOP_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "name",
    "defaults",
    "hosts",
    "roles",
    "vars",
    "installer",
    "bundle",
    "network",
    "versions",
    "pki",
    "preflight",
];
const DEFAULTS_KEYS: &[&str] = &[
    "user",
    "port",
    "auth",
    "become",
    "become_password_env",
    "become_password_file",
];
const HOST_KEYS: &[&str] = &[
    "name",
    "address",
    "port",
    "user",
    "auth",
    "become",
    "become_password_env",
    "become_password_file",
    "labels",
    "vars",
];
const AUTH_KEYS: &[&str] = &[
    "key",
    "keys",
    "passphrase_env",
    "passphrase_file",
    "password_env",
    "password_file",
    "agent",
];

/// Keys that would hold a secret in clear, and what to write instead.
const PLAIN_SECRETS: &[(&str, &str)] = &[
    (
        "password",
        "password_env (an environment variable holding it) or password_file (a file holding it)",
    ),
    (
        "become_password",
        "become_password_env or become_password_file",
    ),
    ("passphrase", "passphrase_env or passphrase_file"),
];

/// Variables that carry connection settings: setting them in `vars` would silently fight the
/// fields, so cluster.yaml refuses them and names the field to use.
const RESERVED_VARS: &[(&str, &str)] = &[
    ("ansible_host", "address"),
    ("ansible_ssh_host", "address"),
    ("ansible_port", "port"),
    ("ansible_ssh_port", "port"),
    ("ansible_user", "user"),
    ("ansible_ssh_user", "user"),
    ("ansible_ssh_private_key_file", "auth.key"),
    ("ansible_private_key_file", "auth.key"),
    (
        "ansible_password",
        "auth.password_env or auth.password_file",
    ),
    (
        "ansible_ssh_pass",
        "auth.password_env or auth.password_file",
    ),
    ("ansible_become", "become"),
    (
        "ansible_become_password",
        "become_password_env or become_password_file",
    ),
    (
        "ansible_become_pass",
        "become_password_env or become_password_file",
    ),
    ("cairn_key_passphrase_env", "auth.passphrase_env"),
    ("cairn_key_passphrase_file", "auth.passphrase_file"),
    ("cairn_password_env", "auth.password_env"),
    ("cairn_password_file", "auth.password_file"),
    ("cairn_become_password_env", "become_password_env"),
    ("cairn_become_password_file", "become_password_file"),
    ("cairn_ssh_agent", "auth.agent"),
    ("cairn_labels", "labels"),
];

/// A secret named by where to find it.
#[derive(Clone, Debug, PartialEq)]
enum SecretRef {
    Env(String),
    File(String),
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Auth {
    keys: Vec<String>,
    passphrase: Option<SecretRef>,
    password: Option<SecretRef>,
    agent: Option<bool>,
}

/// What `defaults:` and a host may both set. `None`: not set here.
#[derive(Clone, Debug, Default, PartialEq)]
struct Settings {
    port: Option<u16>,
    user: Option<String>,
    /// Replaces `defaults.auth` whole when a host sets it: mixing a default key with a host's
    /// password would be a combination nobody wrote.
    auth: Option<Auth>,
    become_: Option<bool>,
    become_password: Option<SecretRef>,
}

struct HostSpec {
    name: String,
    address: String,
    settings: Settings,
    labels: Vars,
    vars: Vars,
}

/// Read a cluster.yaml document. `base` is the directory of the file, against which relative
/// key and secret file paths are resolved (none for `load_str`: they stay relative).
#[cfg(test)]
pub(crate) fn parse(
    file: &str,
    root: &Node,
    base: Option<&Path>,
) -> Result<(Inventory, Vec<Diagnostic>), Diagnostic> {
    parse_full(file, root, base).map(|(inv, _, w)| (inv, w))
}

/// [`parse`], with the install sections too.
pub(crate) fn parse_full(
    file: &str,
    root: &Node,
    base: Option<&Path>,
) -> Result<(Inventory, InstallSettings, Vec<Diagnostic>), Diagnostic> {
    let r = Reader { file, base };
    r.cluster(root)
}

pub(super) struct Reader<'a> {
    file: &'a str,
    base: Option<&'a Path>,
}

/// A mapping's entries by key, checked against the keys allowed there.
pub(super) struct Fields<'n> {
    node: &'n Node,
    path: YamlPath,
    entries: HashMap<String, (&'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    pub(super) fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.get(key).map(|(_, v)| *v)
    }
}

impl Reader<'_> {
    pub(super) fn error(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.file, Some(span), message)
    }

    fn cluster(
        &self,
        root: &Node,
    ) -> Result<(Inventory, InstallSettings, Vec<Diagnostic>), Diagnostic> {
        let top = YamlPath::root();
        if root.as_map().is_none() {
            return Err(self
                .error(
                    root.span,
                    format!("cluster.yaml must be a mapping, found {}", root.kind()),
                )
                .help("start with `apiVersion: cairn/v1` and `kind: Cluster`"));
        }
        // apiVersion and kind first: a file for another version may legitimately have keys
        // this version does not know, and "unsupported version" is the useful message then.
        let api = root.get("apiVersion").ok_or_else(|| {
            self.missing(
                root,
                &top,
                "apiVersion",
                "add `apiVersion: cairn/v1` at the top",
            )
        })?;
        if !api.as_str().is_some_and(|v| API_VERSIONS.contains(&v)) {
            return Err(self
                .error(api.span, format!("unsupported apiVersion {}", shown(api)))
                .label("not a version this Cairn reads")
                .help(format!("supported: {}", API_VERSIONS.join(", "))));
        }
        let kind = root
            .get("kind")
            .ok_or_else(|| self.missing(root, &top, "kind", "add `kind: Cluster` at the top"))?;
        if kind.as_str() != Some(KIND) {
            return Err(self
                .error(
                    kind.span,
                    format!("kind must be \"{KIND}\", found {}", shown(kind)),
                )
                .help("cluster.yaml describes one cluster: `kind: Cluster`"));
        }

        let fields = self.fields(root, &top, "at the top level", TOP_KEYS)?;
        let name_node = self.required(&fields, "name", "add `name: <cluster name>`")?;
        let name = self.string(name_node, &top.key("name"))?;
        if !is_label(&name) {
            return Err(self
                .error(name_node.span, format!("cluster name \"{name}\" is not a valid RFC 1123 label"))
                .help("use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"));
        }

        let defaults = match fields.get("defaults") {
            Some(node) if !node.is_null() => {
                let path = top.key("defaults");
                let f = self.fields(node, &path, "in defaults", DEFAULTS_KEYS)?;
                self.settings(&f)?
            }
            _ => Settings::default(),
        };

        let hosts_node = self.required(
            &fields,
            "hosts",
            "add a `hosts:` list with at least one host",
        )?;
        let Some(items) = hosts_node.as_seq() else {
            return Err(self.wrong_type(hosts_node, &top.key("hosts"), "a list of hosts"));
        };
        if items.is_empty() {
            return Err(self
                .error(hosts_node.span, "hosts must list at least one host")
                .help("add `- name: ...` entries with an `address:` each"));
        }
        let mut hosts = Vec::new();
        for (i, item) in items.iter().enumerate() {
            hosts.push(self.host(item, &top.key("hosts").index(i))?);
        }

        let vars = match fields.get("vars") {
            Some(node) => self.vars(node, &top.key("vars"))?,
            None => Vars::new(),
        };

        let index = SpanIndex::new(root);
        let mut warnings = Vec::new();
        self.check_unique(&hosts, &defaults, &index)?;
        let roles = match fields.get("roles") {
            Some(node) if !node.is_null() => self.roles(node, &hosts, &index, &mut warnings)?,
            _ => Vec::new(),
        };

        let addresses: Vec<(String, String, Span)> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let span = index
                    .value(&format!("hosts[{i}].address"))
                    .unwrap_or_default();
                (h.name.clone(), h.address.clone(), span)
            })
            .collect();
        let settings = self.install_settings(&name, &fields, &addresses)?;
        Ok((
            self.build(&defaults, hosts, roles, vars),
            settings,
            warnings,
        ))
    }

    /// The entries of mapping `node`, refusing keys not in `allowed` (with a suggestion),
    /// repeated keys and inline secrets. `place` completes "unknown key ... {place}".
    pub(super) fn fields<'n>(
        &self,
        node: &'n Node,
        path: &YamlPath,
        place: &str,
        allowed: &[&str],
    ) -> Result<Fields<'n>, Diagnostic> {
        let Some(entries) = node.as_map() else {
            return Err(self.wrong_type(node, path, "a mapping"));
        };
        let mut out: HashMap<String, (&'n Node, &'n Node)> = HashMap::new();
        for (k, v) in entries {
            let key = k.key_string();
            if let Some((_, instead)) = PLAIN_SECRETS.iter().find(|(s, _)| *s == key) {
                return Err(self
                    .error(k.span, "plain passwords are not allowed in cluster.yaml")
                    .label("a secret written in the file")
                    .help(format!(
                        "use {instead}, so the file can be shared without the secret"
                    )));
            }
            if !allowed.contains(&key.as_str()) {
                let label = match closest(&key, allowed) {
                    Some(guess) => format!("did you mean \"{guess}\"?"),
                    None => "not a setting here".to_string(),
                };
                return Err(self
                    .error(k.span, format!("unknown key \"{key}\" {place}"))
                    .label(label)
                    .help(format!("allowed keys: {}", allowed.join(", "))));
            }
            if let Some((first, _)) = out.get(&key) {
                return Err(self
                    .error(k.span, format!("duplicate key \"{key}\" {place}"))
                    .label(format!("already set on line {}", first.span.line))
                    .help("remove one of them"));
            }
            out.insert(key, (k, v));
        }
        Ok(Fields {
            node,
            path: path.clone(),
            entries: out,
        })
    }

    fn missing(&self, node: &Node, path: &YamlPath, key: &str, help: &str) -> Diagnostic {
        let place = if path.is_root() {
            "at the top level".to_string()
        } else {
            format!("in {path}")
        };
        self.error(node.span, format!("missing required key \"{key}\" {place}"))
            .label(format!("no {key} here"))
            .help(help.to_string())
    }

    pub(super) fn required<'n>(
        &self,
        f: &Fields<'n>,
        key: &str,
        help: &str,
    ) -> Result<&'n Node, Diagnostic> {
        f.get(key)
            .ok_or_else(|| self.missing(f.node, &f.path, key, help))
    }

    pub(super) fn wrong_type(&self, node: &Node, path: &YamlPath, expected: &str) -> Diagnostic {
        let d = self
            .error(
                node.span,
                format!("{path} must be {expected}, found {}", node.kind()),
            )
            .label(format!("expected {expected}"));
        let wants_scalar = expected.contains("number") || expected.contains("true or false");
        match &node.value {
            NodeValue::Number(_) | NodeValue::Bool(_) if expected == "a string" => {
                d.help("quote the value so YAML reads it as text")
            }
            // `port: "22"`: the right value, quoted.
            NodeValue::String(s)
                if wants_scalar && !matches!(resolve_plain(s), NodeValue::String(_)) =>
            {
                d.help("remove the quotes: YAML reads a quoted value as text")
            }
            _ => d.help("docs/cluster-yaml.md describes every field"),
        }
    }

    pub(super) fn string(&self, node: &Node, path: &YamlPath) -> Result<String, Diagnostic> {
        match node.as_str() {
            Some(s) if !s.trim().is_empty() => Ok(s.to_string()),
            Some(_) => Err(self
                .error(node.span, format!("{path} must not be empty"))
                .help("give it a value, or remove the key")),
            None => Err(self.wrong_type(node, path, "a string")),
        }
    }

    pub(super) fn boolean(&self, node: &Node, path: &YamlPath) -> Result<bool, Diagnostic> {
        match node.value {
            NodeValue::Bool(b) => Ok(b),
            _ => Err(self.wrong_type(node, path, "true or false")),
        }
    }

    pub(super) fn port(&self, node: &Node, path: &YamlPath) -> Result<u16, Diagnostic> {
        let port = match &node.value {
            NodeValue::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
            _ => None,
        };
        port.filter(|p| *p > 0)
            .ok_or_else(|| self.wrong_type(node, path, "a port number from 1 to 65535"))
    }

    /// `*_env` names an environment variable: it must look like one.
    fn env_name(&self, node: &Node, path: &YamlPath) -> Result<String, Diagnostic> {
        let name = self.string(node, path)?;
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(self
                .error(node.span, format!("{path}: \"{name}\" is not an environment variable name"))
                .label("the name of a variable, not its value")
                .help("use letters, digits and '_' (e.g. LAB_SSH_PASSWORD), and export the secret in that variable"));
        }
        Ok(name)
    }

    pub(super) fn path_value(&self, node: &Node, path: &YamlPath) -> Result<String, Diagnostic> {
        let p = self.string(node, path)?;
        match self.base {
            Some(base) if !p.starts_with('~') && Path::new(&p).is_relative() => {
                Ok(base.join(&p).display().to_string())
            }
            _ => Ok(p),
        }
    }

    /// One of `{prefix}_env` / `{prefix}_file` (not both).
    fn secret(&self, f: &Fields, prefix: &str) -> Result<Option<SecretRef>, Diagnostic> {
        let (env_key, file_key) = (format!("{prefix}_env"), format!("{prefix}_file"));
        match (f.get(&env_key), f.get(&file_key)) {
            (Some(_), Some(_)) => Err(self
                .error(
                    f.entries[&file_key].0.span,
                    format!("{env_key} and {file_key} are mutually exclusive"),
                )
                .label(format!("set together with {env_key}"))
                .help("keep one of them")),
            (Some(env), None) => Ok(Some(SecretRef::Env(
                self.env_name(env, &f.path.key(&env_key))?,
            ))),
            (None, Some(file)) => Ok(Some(SecretRef::File(
                self.path_value(file, &f.path.key(&file_key))?,
            ))),
            (None, None) => Ok(None),
        }
    }

    fn settings(&self, f: &Fields) -> Result<Settings, Diagnostic> {
        let mut s = Settings::default();
        if let Some(n) = f.get("port") {
            s.port = Some(self.port(n, &f.path.key("port"))?);
        }
        if let Some(n) = f.get("user") {
            s.user = Some(self.string(n, &f.path.key("user"))?);
        }
        if let Some(n) = f.get("become") {
            s.become_ = Some(self.boolean(n, &f.path.key("become"))?);
        }
        s.become_password = self.secret(f, "become_password")?;
        if let Some(n) = f.get("auth") {
            s.auth = Some(self.auth(n, &f.path.key("auth"))?);
        }
        Ok(s)
    }

    fn auth(&self, node: &Node, path: &YamlPath) -> Result<Auth, Diagnostic> {
        let f = self.fields(node, path, &format!("in {path}"), AUTH_KEYS)?;
        let mut auth = Auth::default();
        match (f.get("key"), f.get("keys")) {
            (Some(_), Some(_)) => {
                return Err(self
                    .error(
                        f.entries["keys"].0.span,
                        "key and keys are mutually exclusive",
                    )
                    .label("set together with key")
                    .help("list every key under keys:, or keep the single key:"));
            }
            (Some(k), None) => auth.keys.push(self.path_value(k, &path.key("key"))?),
            (None, Some(list)) => {
                let Some(items) = list.as_seq().filter(|items| !items.is_empty()) else {
                    return Err(self.wrong_type(
                        list,
                        &path.key("keys"),
                        "a non-empty list of key files",
                    ));
                };
                for (i, item) in items.iter().enumerate() {
                    auth.keys
                        .push(self.path_value(item, &path.key("keys").index(i))?);
                }
            }
            (None, None) => {}
        }
        auth.passphrase = self.secret(&f, "passphrase")?;
        auth.password = self.secret(&f, "password")?;
        if let Some(n) = f.get("agent") {
            auth.agent = Some(self.boolean(n, &path.key("agent"))?);
        }
        Ok(auth)
    }

    fn host(&self, node: &Node, path: &YamlPath) -> Result<HostSpec, Diagnostic> {
        let f = self.fields(node, path, &format!("in {path}"), HOST_KEYS)?;
        let name_node = self.required(&f, "name", "give the host a `name:`")?;
        let name = self.string(name_node, &path.key("name"))?;
        if !is_hostname(&name) {
            return Err(self
                .error(name_node.span, format!("host name \"{name}\" is not a valid RFC 1123 hostname"))
                .label("invalid host name")
                .help("use lowercase letters, digits, '-' and '.'; each dot-separated part 1 to 63 characters, starting and ending with a letter or digit"));
        }
        let address_node =
            self.required(&f, "address", "add `address: <IP address or DNS name>`")?;
        let address = self.string(address_node, &path.key("address"))?;
        if address.parse::<std::net::IpAddr>().is_err() && !is_dns_name(&address) {
            return Err(self
                .error(address_node.span, format!("invalid address \"{address}\""))
                .label("not an IP address or DNS name")
                .help("use an IPv4 or IPv6 address (10.0.0.11, fd00::11) or a DNS name (lab1.example.com), without port or user"));
        }
        let settings = self.settings(&f)?;
        let labels = match f.get("labels") {
            Some(n) => self.labels(n, &path.key("labels"))?,
            None => Vars::new(),
        };
        let vars = match f.get("vars") {
            Some(n) => self.vars(n, &path.key("vars"))?,
            None => Vars::new(),
        };
        Ok(HostSpec {
            name,
            address,
            settings,
            labels,
            vars,
        })
    }

    fn labels(&self, node: &Node, path: &YamlPath) -> Result<Vars, Diagnostic> {
        let Some(entries) = node.as_map() else {
            return Err(self.wrong_type(node, path, "a mapping of label names to values"));
        };
        let mut labels = Vars::new();
        for (k, v) in entries {
            let key = k.key_string();
            let text = match &v.value {
                NodeValue::String(s) => s.clone(),
                NodeValue::Number(n) => n.to_string(),
                NodeValue::Bool(b) => b.to_string(),
                _ => return Err(self.wrong_type(v, &path.key(&key), "a string")),
            };
            labels.insert(key, Value::String(text));
        }
        Ok(labels)
    }

    fn vars(&self, node: &Node, path: &YamlPath) -> Result<Vars, Diagnostic> {
        let entries = match &node.value {
            NodeValue::Null => return Ok(Vars::new()),
            NodeValue::Map(entries) => entries,
            _ => return Err(self.wrong_type(node, path, "a mapping of variable names to values")),
        };
        for (k, _) in entries {
            let key = k.key_string();
            if let Some((_, field)) = RESERVED_VARS.iter().find(|(v, _)| *v == key) {
                return Err(self
                    .error(
                        k.span,
                        format!(
                            "{} is a connection setting and cannot be set in vars",
                            path.key(&key)
                        ),
                    )
                    .label("set by cluster.yaml's host fields")
                    .help(format!(
                        "use the `{field}` field of the host (or of defaults) instead"
                    )));
            }
        }
        match node.to_json() {
            Value::Object(vars) => Ok(vars),
            _ => unreachable!("a mapping converts to an object"),
        }
    }

    /// Host names and (address, port) pairs are unique.
    fn check_unique(
        &self,
        hosts: &[HostSpec],
        defaults: &Settings,
        index: &SpanIndex,
    ) -> Result<(), Diagnostic> {
        let at = |i: usize, field: &str| {
            index
                .value(&format!("hosts[{i}].{field}"))
                .unwrap_or_default()
        };
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut addresses: HashMap<(String, u16), usize> = HashMap::new();
        for (i, h) in hosts.iter().enumerate() {
            if let Some(first) = names.insert(&h.name, i) {
                return Err(self
                    .error(at(i, "name"), format!("duplicate host name \"{}\"", h.name))
                    .label(format!(
                        "already used by hosts[{first}] (line {})",
                        at(first, "name").line
                    ))
                    .help("host names must be unique: rename one of them"));
            }
            let port = h.settings.port.or(defaults.port).unwrap_or(22);
            if let Some(first) = addresses.insert((h.address.to_lowercase(), port), i) {
                return Err(self
                    .error(at(i, "address"), format!("duplicate address \"{}\" (port {port})", h.address))
                    .label(format!("already used by host \"{}\" (line {})", hosts[first].name, at(first, "address").line))
                    .help("each host needs its own address (or SSH port): fix the address, or remove the duplicate host"));
            }
        }
        Ok(())
    }

    /// Read `roles:`, resolve each entry to hosts, and check the cross-role rules.
    fn roles(
        &self,
        node: &Node,
        hosts: &[HostSpec],
        index: &SpanIndex,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<Vec<(String, Vec<String>)>, Diagnostic> {
        let path = YamlPath::root().key("roles");
        let Some(entries) = node.as_map() else {
            return Err(self.wrong_type(node, &path, "a mapping of roles to host lists"));
        };
        let known: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        let mut roles: Vec<(String, Vec<String>)> = Vec::new();
        for (k, v) in entries {
            let role = k.key_string();
            if !ROLES.contains(&role.as_str()) {
                let label = match closest(&role, ROLES) {
                    Some(guess) => format!("did you mean \"{guess}\"?"),
                    None => "not a role".to_string(),
                };
                return Err(self
                    .error(k.span, format!("unknown role \"{role}\" in roles"))
                    .label(label)
                    .help(format!("roles are: {}", ROLES.join(", "))));
            }
            if roles.iter().any(|(r, _)| *r == role) {
                return Err(self
                    .error(k.span, format!("duplicate key \"{role}\" in roles"))
                    .help("list all hosts of a role under one key"));
            }
            let role_path = path.key(&role);
            let items: &[Node] = match &v.value {
                NodeValue::Null => &[],
                NodeValue::Seq(items) => items,
                _ => return Err(self.wrong_type(v, &role_path, "a list of host names")),
            };
            let mut members: Vec<String> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let entry = self.string(item, &role_path.index(i))?;
                for host in self.resolve(&entry, item.span, &role_path, &known)? {
                    if !members.contains(&host) {
                        members.push(host);
                    }
                }
            }
            roles.push((role, members));
        }

        let count = |role: &str| {
            roles
                .iter()
                .find(|(r, _)| r == role)
                .map_or(0, |(_, m)| m.len())
        };
        if count("kube_node") > 0 && count("kube_master") == 0 {
            return Err(self
                .error(
                    index.key("roles.kube_node").unwrap_or_default(),
                    "kube_node hosts need a kube_master, but roles.kube_master is empty",
                )
                .label("worker nodes without a control plane")
                .help("add at least one host to roles.kube_master"));
        }
        let etcd = count("etcd");
        if etcd > 0 && etcd % 2 == 0 {
            warnings.push(
                Diagnostic::warning(
                    self.file,
                    index.key("roles.etcd"),
                    format!(
                        "etcd should have an odd number of members (1, 3, 5); {etcd} gives no more fault tolerance than {}",
                        etcd - 1
                    ),
                )
                .label(format!("{etcd} members"))
                .help("add or remove one etcd member"),
            );
        }
        Ok(roles)
    }

    /// The hosts one role entry names: a host name, a range (`node[01:03]`, every name must
    /// exist) or a glob (`node*`, must match something). Group names are not allowed: roles
    /// are the groups.
    fn resolve(
        &self,
        entry: &str,
        span: Span,
        role_path: &YamlPath,
        known: &[&str],
    ) -> Result<Vec<String>, Diagnostic> {
        let known_list = || {
            let mut shown: Vec<&str> = known.iter().copied().take(10).collect();
            if known.len() > 10 {
                shown.push("...");
            }
            shown.join(", ")
        };
        if known.contains(&entry) {
            return Ok(vec![entry.to_string()]);
        }
        let is_range = entry.find('[').is_some_and(|open| {
            entry[open..]
                .find(']')
                .is_some_and(|close| entry[open..open + close].contains(':'))
        });
        if is_range {
            let names = expand_range(entry).map_err(|e| {
                self.error(span, e.to_string())
                    .help("ranges look like node[01:10], node[a:f] or node[1:10:2]")
            })?;
            if let Some(missing) = names.iter().find(|n| !known.contains(&n.as_str())) {
                return Err(self
                    .error(span, format!("unknown host \"{missing}\" in {role_path}"))
                    .label(format!(
                        "\"{entry}\" includes \"{missing}\", which is not defined under hosts:"
                    ))
                    .help(format!(
                        "define it under hosts:, or narrow the range (known hosts: {})",
                        known_list()
                    )));
            }
            return Ok(names);
        }
        if is_glob(entry) {
            let re = glob_regex(entry);
            let names: Vec<String> = known
                .iter()
                .filter(|h| re.is_match(h))
                .map(|h| h.to_string())
                .collect();
            if names.is_empty() {
                return Err(self
                    .error(
                        span,
                        format!("pattern \"{entry}\" in {role_path} matches no host"),
                    )
                    .label("matches nothing")
                    .help(format!("known hosts: {}", known_list())));
            }
            return Ok(names);
        }
        let help = if ROLES.contains(&entry) {
            format!("roles list hosts, not other roles: list the hosts of {entry} here too")
        } else {
            format!(
                "define it under hosts:, or fix the name (known hosts: {})",
                known_list()
            )
        };
        Err(self
            .error(span, format!("unknown host \"{entry}\" in {role_path}"))
            .label(format!("no host named \"{entry}\" is defined under hosts:"))
            .help(help))
    }

    /// Map the checked spec onto the inventory model.
    fn build(
        &self,
        defaults: &Settings,
        hosts: Vec<HostSpec>,
        roles: Vec<(String, Vec<String>)>,
        vars: Vars,
    ) -> Inventory {
        let mut inv = Inventory::new();
        inv.groups["all"].vars = vars;
        for h in hosts {
            let host = inv.add_host(&h.name, UNGROUPED);
            host.vars = connection_vars(&h, defaults);
            if !h.labels.is_empty() {
                host.vars
                    .insert("cairn_labels".into(), Value::Object(h.labels));
            }
            host.vars.extend(h.vars);
        }
        // Every role is a group, even when empty, so playbooks can always refer to it.
        for role in ROLES {
            inv.add_group(role);
        }
        for (role, members) in roles {
            for m in members {
                inv.add_host(&m, &role);
            }
        }
        inv.reconcile();
        inv
    }
}

/// A host's connection settings (its own, else `defaults`) as the variables
/// `Inventory::target` reads.
fn connection_vars(h: &HostSpec, defaults: &Settings) -> Vars {
    let s = &h.settings;
    let mut v = Vars::new();
    let mut set = |k: &str, value: Value| {
        v.insert(k.to_string(), value);
    };
    set("ansible_host", Value::String(h.address.clone()));
    if let Some(port) = s.port.or(defaults.port) {
        set("ansible_port", Value::Number(Number::from(port)));
    }
    if let Some(user) = s.user.as_ref().or(defaults.user.as_ref()) {
        set("ansible_user", Value::String(user.clone()));
    }
    if let Some(auth) = s.auth.as_ref().or(defaults.auth.as_ref()) {
        match auth.keys.as_slice() {
            [] => {}
            [one] => set("ansible_ssh_private_key_file", Value::String(one.clone())),
            many => set(
                "ansible_ssh_private_key_file",
                Value::Array(many.iter().cloned().map(Value::String).collect()),
            ),
        }
        secret_vars(&mut set, "cairn_key_passphrase", auth.passphrase.as_ref());
        secret_vars(&mut set, "cairn_password", auth.password.as_ref());
        if let Some(agent) = auth.agent {
            set("cairn_ssh_agent", Value::Bool(agent));
        }
    }
    if let Some(become_) = s.become_.or(defaults.become_) {
        set("ansible_become", Value::Bool(become_));
    }
    let become_password = s
        .become_password
        .as_ref()
        .or(defaults.become_password.as_ref());
    secret_vars(&mut set, "cairn_become_password", become_password);
    v
}

fn secret_vars(set: &mut impl FnMut(&str, Value), prefix: &str, secret: Option<&SecretRef>) {
    match secret {
        Some(SecretRef::Env(name)) => set(&format!("{prefix}_env"), Value::String(name.clone())),
        Some(SecretRef::File(path)) => set(&format!("{prefix}_file"), Value::String(path.clone())),
        None => {}
    }
}

/// A scalar as written, for messages: strings quoted, the rest as YAML shows them.
fn shown(node: &Node) -> String {
    match &node.value {
        NodeValue::String(s) => format!("\"{s}\""),
        NodeValue::Seq(_) | NodeValue::Map(_) => node.kind().to_string(),
        _ => node.to_json().to_string(),
    }
}

/// RFC 1123 label, lowercase (Kubernetes' rule for names): 1–63 of `[a-z0-9-]`, alphanumeric
/// at both ends.
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 hostname, lowercase: dot-separated labels, at most 253 characters. Lowercase
/// because host names become Kubernetes node names.
fn is_hostname(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

/// A DNS name to connect to: like a hostname but any case (DNS is case-insensitive).
fn is_dns_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    is_hostname(&s.to_ascii_lowercase())
}

/// [`is_dns_name`] for the install sections.
pub(super) fn is_dns_name_pub(s: &str) -> bool {
    is_dns_name(s)
}

/// The allowed word closest to a misspelt one, if it is close enough to be a likely typo.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    crate::suggest::closest(word, candidates.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::model::ALL;
    use crate::secret::SecretSource;
    use crate::ssh::{Identity, Target};
    use crate::yaml::parse as parse_yaml;
    use serde_json::json;

    /// The example of docs/cluster-yaml.md.
    const LAB: &str = "\
apiVersion: cairn/v1
kind: Cluster
name: lab
defaults:
  user: root
  port: 22
  auth: { key: ~/.ssh/id_ed25519 }
  become: false
hosts:
  - name: lab1
    address: 10.213.0.11
    labels: { rack: r1 }
  - name: lab2
    address: 10.213.0.12
    user: admin
    become: true
    become_password_env: LAB_SUDO
    auth:
      keys: [/keys/a, /keys/b]
      passphrase_file: /run/pp
  - name: lab3
    address: lab3.example.com
    port: 2222
    auth: { password_env: LAB_PW, agent: false }
    vars: { disk: /dev/vdb }
roles:
  etcd: [lab1, lab2, lab3]
  kube_master: [lab1]
  kube_node: [lab2, lab3]
  registry: [lab1]
  ci: [lab1]
  monitoring: [lab1]
vars: { cluster_domain: cluster.local }
";

    fn load(src: &str) -> Result<(Inventory, Vec<Diagnostic>), Diagnostic> {
        parse("cluster.yaml", &parse_yaml(src).unwrap(), None)
    }

    #[test]
    fn lab_example_maps_to_the_model() {
        let (inv, warnings) = load(LAB).unwrap_or_else(|d| panic!("{}", d.render(LAB)));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            inv.hosts.keys().collect::<Vec<_>>(),
            ["lab1", "lab2", "lab3"]
        );
        let groups: Vec<&String> = inv.groups.keys().collect();
        assert_eq!(
            groups,
            [
                "all",
                "ungrouped",
                "etcd",
                "kube_master",
                "kube_node",
                "registry",
                "ci",
                "monitoring"
            ]
        );
        assert_eq!(inv.group_hosts("etcd"), ["lab1", "lab2", "lab3"]);
        assert_eq!(inv.group_hosts("kube_node"), ["lab2", "lab3"]);
        assert_eq!(
            inv.groups_of("lab1"),
            ["ci", "etcd", "kube_master", "monitoring", "registry"]
        );
        assert!(inv.groups[UNGROUPED].hosts.is_empty());
        assert_eq!(inv.groups[ALL].vars["cluster_domain"], "cluster.local");

        assert_eq!(
            Value::Object(inv.hosts["lab1"].vars.clone()),
            json!({
                "ansible_host": "10.213.0.11", "ansible_port": 22, "ansible_user": "root",
                "ansible_ssh_private_key_file": "~/.ssh/id_ed25519", "ansible_become": false,
                "cairn_labels": {"rack": "r1"},
            })
        );
        assert_eq!(
            Value::Object(inv.hosts["lab2"].vars.clone()),
            json!({
                "ansible_host": "10.213.0.12", "ansible_port": 22, "ansible_user": "admin",
                "ansible_ssh_private_key_file": ["/keys/a", "/keys/b"],
                "cairn_key_passphrase_file": "/run/pp", "ansible_become": true,
                "cairn_become_password_env": "LAB_SUDO",
            })
        );
        let vars = inv.host_vars("lab3");
        assert_eq!(vars["disk"], "/dev/vdb");
        assert_eq!(vars["cluster_domain"], "cluster.local");

        let home = std::env::var("HOME").unwrap();
        let lab1 = inv.target("lab1").unwrap();
        assert_eq!(lab1.address, "10.213.0.11");
        assert_eq!(lab1.user, "root");
        assert_eq!(
            lab1.identities,
            [Identity::file(format!("{home}/.ssh/id_ed25519"), None)]
        );
        let pp = Some(SecretSource::File("/run/pp".into()));
        assert_eq!(
            inv.target("lab2").unwrap(),
            Target {
                name: "lab2".into(),
                address: "10.213.0.12".into(),
                port: 22,
                user: "admin".into(),
                identities: vec![
                    Identity::file("/keys/a", pp.clone()),
                    Identity::file("/keys/b", pp),
                ],
                password: None,
                use_agent: true,
                become_password: Some(SecretSource::Env("LAB_SUDO".into())),
            }
        );
        // lab3's own auth replaces defaults.auth whole: no default key.
        let lab3 = inv.target("lab3").unwrap();
        assert_eq!(
            (lab3.address.as_str(), lab3.port, lab3.user.as_str()),
            ("lab3.example.com", 2222, "root")
        );
        assert!(lab3.identities.is_empty());
        assert_eq!(lab3.password, Some(SecretSource::Env("LAB_PW".into())));
        assert!(!lab3.use_agent);
    }

    #[test]
    fn role_entries_ranges_and_globs() {
        let src = "apiVersion: cairn/v1\nkind: Cluster\nname: big\nhosts:\n\
                   \x20 - {name: node01, address: 10.0.0.1}\n\
                   \x20 - {name: node02, address: 10.0.0.2}\n\
                   \x20 - {name: node03, address: 10.0.0.3}\n\
                   \x20 - {name: gpu1, address: 10.0.1.1}\n\
                   roles:\n\
                   \x20 kube_master: [node01]\n\
                   \x20 kube_node:\n\
                   \x20   - node[02:03]\n\
                   \x20   - gpu*\n\
                   \x20   - node03\n\
                   \x20 etcd: ['node0[13]', gpu1]\n\
                   \x20 ci:\n";
        let (inv, warnings) = load(src).unwrap_or_else(|d| panic!("{}", d.render(src)));
        assert_eq!(inv.group_hosts("kube_node"), ["node02", "node03", "gpu1"]);
        // A glob character class, not a range: no ':' inside the brackets.
        assert_eq!(inv.group_hosts("etcd"), ["node01", "node03", "gpu1"]);
        assert!(inv.group_hosts("ci").is_empty());
        assert!(inv.group_hosts("registry").is_empty());
        assert!(warnings.is_empty());
    }

    #[test]
    fn even_etcd_is_a_warning() {
        let src = LAB.replace("etcd: [lab1, lab2, lab3]", "etcd: [lab1, lab2]");
        let (inv, warnings) = load(&src).unwrap();
        assert_eq!(inv.group_hosts("etcd"), ["lab1", "lab2"]);
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            warnings[0].render(&src),
            "warning: etcd should have an odd number of members (1, 3, 5); 2 gives no more fault tolerance than 1\n  \
             --> cluster.yaml:27:3\n   |\n27 |   etcd: [lab1, lab2]\n   |   ^^^^ 2 members\n   \
             = help: add or remove one etcd member\n"
        );
    }

    #[test]
    fn unknown_host_renders_like_the_brief() {
        let src = LAB.replace("etcd: [lab1, lab2, lab3]", "etcd: [lab1, node4]");
        let d = load(&src).unwrap_err();
        assert_eq!(
            d.render(&src),
            "error: unknown host \"node4\" in roles.etcd\n  --> cluster.yaml:27:16\n   |\n\
             27 |   etcd: [lab1, node4]\n   |                ^^^^^ no host named \"node4\" is defined under hosts:\n   \
             = help: define it under hosts:, or fix the name (known hosts: lab1, lab2, lab3)\n"
        );
    }

    #[test]
    fn inline_password_renders() {
        let src = "apiVersion: cairn/v1\nkind: Cluster\nname: x\nhosts:\n  - name: a\n    address: 10.0.0.1\n    auth:\n      password: hunter2\n";
        let d = load(src).unwrap_err();
        assert_eq!(
            d.render(src),
            "error: plain passwords are not allowed in cluster.yaml\n --> cluster.yaml:8:7\n  |\n\
             8 |       password: hunter2\n  |       ^^^^^^^^ a secret written in the file\n  \
             = help: use password_env (an environment variable holding it) or password_file (a file holding it), so the file can be shared without the secret\n"
        );
    }

    #[test]
    fn unknown_key_renders_with_suggestion() {
        let src = "apiVersion: cairn/v1\nkind: Cluster\nname: x\nhosts:\n  - name: a\n    adress: 10.0.0.1\n";
        assert_eq!(
            load(src).unwrap_err().render(src),
            "error: unknown key \"adress\" in hosts[0]\n --> cluster.yaml:6:5\n  |\n\
             6 |     adress: 10.0.0.1\n  |     ^^^^^^ did you mean \"address\"?\n  \
             = help: allowed keys: name, address, port, user, auth, become, become_password_env, become_password_file, labels, vars\n"
        );
    }

    /// Every error: message, line and column. A case is appended to `HEAD` (3 lines); `@`
    /// appends it after `HEAD` and `HOSTS` (3 more lines); `!` means the whole file.
    #[test]
    fn errors() {
        const HEAD: &str = "apiVersion: cairn/v1\nkind: Cluster\nname: lab\n";
        const HOSTS: &str =
            "hosts:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.2}\n";
        let cases: &[(&str, &str, (usize, usize))] = &[
            (
                "!- a\n",
                "cluster.yaml must be a mapping, found a list",
                (1, 1),
            ),
            (
                "!kind: Cluster\nname: x\n",
                "missing required key \"apiVersion\" at the top level",
                (1, 1),
            ),
            (
                "!apiVersion: cairn/v2\nkind: Cluster\n",
                "unsupported apiVersion \"cairn/v2\"",
                (1, 13),
            ),
            ("!apiVersion: 1\n", "unsupported apiVersion 1", (1, 13)),
            (
                "!apiVersion: cairn/v1\nname: x\n",
                "missing required key \"kind\" at the top level",
                (1, 1),
            ),
            (
                "!apiVersion: cairn/v1\nkind: Host\n",
                "kind must be \"Cluster\", found \"Host\"",
                (2, 7),
            ),
            (
                "!apiVersion: cairn/v1\nkind: Cluster\nhosts: []\n",
                "missing required key \"name\" at the top level",
                (1, 1),
            ),
            (
                "!apiVersion: cairn/v1\nkind: Cluster\nname: Lab_1\n",
                "cluster name \"Lab_1\" is not a valid RFC 1123 label",
                (3, 7),
            ),
            (
                "!apiVersion: cairn/v1\nkind: Cluster\nname: 12\n",
                "name must be a string, found an integer",
                (3, 7),
            ),
            (
                "!apiVersion: cairn/v1\nkind: Cluster\nname: x\nname: y\n",
                "duplicate key \"name\" at the top level",
                (4, 1),
            ),
            (
                "extra: 1\n",
                "unknown key \"extra\" at the top level",
                (4, 1),
            ),
            (
                "",
                "missing required key \"hosts\" at the top level",
                (1, 1),
            ),
            (
                "hosts: {a: 1}\n",
                "hosts must be a list of hosts, found a mapping",
                (4, 8),
            ),
            ("hosts: []\n", "hosts must list at least one host", (4, 8)),
            (
                "hosts:\n  - 10.0.0.1\n",
                "hosts[0] must be a mapping, found a string",
                (5, 5),
            ),
            (
                "hosts:\n  - address: 10.0.0.1\n",
                "missing required key \"name\" in hosts[0]",
                (5, 5),
            ),
            (
                "hosts:\n  - name: a\n",
                "missing required key \"address\" in hosts[0]",
                (5, 5),
            ),
            (
                "hosts:\n  - {name: Lab_1, address: 10.0.0.1}\n",
                "host name \"Lab_1\" is not a valid RFC 1123 hostname",
                (5, 12),
            ),
            (
                "hosts:\n  - {name: -a, address: 10.0.0.1}\n",
                "host name \"-a\" is not a valid RFC 1123 hostname",
                (5, 12),
            ),
            (
                "hosts:\n  - {name: a, address: 'ssh://10.0.0.1'}\n",
                "invalid address \"ssh://10.0.0.1\"",
                (5, 24),
            ),
            (
                "hosts:\n  - {name: a, address: ''}\n",
                "hosts[0].address must not be empty",
                (5, 24),
            ),
            (
                "hosts:\n  - {name: a, address: 10.0.0.1, port: 0}\n",
                "hosts[0].port must be a port number from 1 to 65535, found an integer",
                (5, 40),
            ),
            (
                "hosts:\n  - {name: a, address: 10.0.0.1, port: '22'}\n",
                "hosts[0].port must be a port number from 1 to 65535, found a string",
                (5, 40),
            ),
            (
                "hosts:\n  - {name: a, address: 10.0.0.1, become: maybe}\n",
                "hosts[0].become must be true or false, found a string",
                (5, 42),
            ),
            (
                "hosts:\n  - {name: a, address: 10.0.0.1, labels: [x]}\n",
                "hosts[0].labels must be a mapping of label names to values, found a list",
                (5, 42),
            ),
            (
                "hosts:\n  - {name: a, address: 10.0.0.1, labels: {r: [1]}}\n",
                "hosts[0].labels.r must be a string, found a list",
                (5, 46),
            ),
            (
                "hosts:\n  - {name: a, address: 10.0.0.1, vars: [x]}\n",
                "hosts[0].vars must be a mapping of variable names to values, found a list",
                (5, 40),
            ),
            (
                "hosts:\n  - {name: a, address: 10.0.0.1, vars: {ansible_port: 2}}\n",
                "hosts[0].vars.ansible_port is a connection setting and cannot be set in vars",
                (5, 41),
            ),
            (
                "hosts:\n  - {name: a, address: 10.0.0.1}\nvars: {ansible_password: x}\n",
                "vars.ansible_password is a connection setting and cannot be set in vars",
                (6, 8),
            ),
            (
                "hosts:\n  - {name: a, address: 10.0.0.1, password: x}\n",
                "plain passwords are not allowed in cluster.yaml",
                (5, 34),
            ),
            (
                "hosts:\n  - {name: a, address: 10.0.0.1, become_password: x}\n",
                "plain passwords are not allowed in cluster.yaml",
                (5, 34),
            ),
            (
                "defaults: {auth: {passphrase: x}}\n",
                "plain passwords are not allowed in cluster.yaml",
                (4, 19),
            ),
            (
                "defaults: {address: x}\n",
                "unknown key \"address\" in defaults",
                (4, 12),
            ),
            (
                "defaults: {auth: {kee: x}}\n",
                "unknown key \"kee\" in defaults.auth",
                (4, 19),
            ),
            (
                "defaults: {auth: {key: a, keys: [b]}}\n",
                "key and keys are mutually exclusive",
                (4, 27),
            ),
            (
                "defaults: {auth: {keys: []}}\n",
                "defaults.auth.keys must be a non-empty list of key files, found a list",
                (4, 25),
            ),
            (
                "defaults: {auth: {password_env: A, password_file: b}}\n",
                "password_env and password_file are mutually exclusive",
                (4, 36),
            ),
            (
                "defaults: {auth: {password_env: 'hunter 2'}}\n",
                "defaults.auth.password_env: \"hunter 2\" is not an environment variable name",
                (4, 33),
            ),
            (
                "defaults: {become_password_env: A, become_password_file: b}\n",
                "become_password_env and become_password_file are mutually exclusive",
                (4, 36),
            ),
            (
                "defaults: {auth: {agent: 1}}\n",
                "defaults.auth.agent must be true or false, found an integer",
                (4, 26),
            ),
            (
                "defaults: [x]\n",
                "defaults must be a mapping, found a list",
                (4, 11),
            ),
            (
                "hosts:\n  - {name: a, address: 10.0.0.1}\n  - {name: a, address: 10.0.0.2}\n",
                "duplicate host name \"a\"",
                (6, 12),
            ),
            (
                "hosts:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.1}\n",
                "duplicate address \"10.0.0.1\" (port 22)",
                (6, 24),
            ),
            (
                "@roles: {master: [a]}\n",
                "unknown role \"master\" in roles",
                (7, 9),
            ),
            (
                "@roles: [a]\n",
                "roles must be a mapping of roles to host lists, found a list",
                (7, 8),
            ),
            (
                "@roles: {etcd: a}\n",
                "roles.etcd must be a list of host names, found a string",
                (7, 15),
            ),
            (
                "@roles: {etcd: [1]}\n",
                "roles.etcd[0] must be a string, found an integer",
                (7, 16),
            ),
            (
                "@roles: {etcd: [a, c]}\n",
                "unknown host \"c\" in roles.etcd",
                (7, 19),
            ),
            (
                "@roles: {etcd: [a], ci: [etcd]}\n",
                "unknown host \"etcd\" in roles.ci",
                (7, 25),
            ),
            (
                "@roles: {etcd: ['c*']}\n",
                "pattern \"c*\" in roles.etcd matches no host",
                (7, 16),
            ),
            (
                "@roles: {etcd: ['[a:c]']}\n",
                "unknown host \"c\" in roles.etcd",
                (7, 16),
            ),
            (
                "@roles: {etcd: ['n[1:]']}\n",
                "invalid host range \"n[1:]\": the range has no end value",
                (7, 16),
            ),
            (
                "@roles: {kube_node: [a]}\n",
                "kube_node hosts need a kube_master, but roles.kube_master is empty",
                (7, 9),
            ),
            (
                "@roles: {etcd: [a], etcd: [b]}\n",
                "duplicate key \"etcd\" in roles",
                (7, 20),
            ),
        ];
        for (case, message, (line, column)) in cases {
            let src = match (case.strip_prefix('!'), case.strip_prefix('@')) {
                (Some(whole), _) => whole.to_string(),
                (_, Some(rest)) => format!("{HEAD}{HOSTS}{rest}"),
                _ => format!("{HEAD}{case}"),
            };
            let d = load(&src).expect_err(&src);
            assert_eq!(d.message, *message, "{src}");
            assert_eq!((d.line, d.column), (*line, *column), "{message}\n{src}");
            assert!(
                d.help.is_some(),
                "every cluster.yaml error says what to do: {message}"
            );
        }
    }

    #[test]
    fn type_errors_say_how_to_fix_quoting() {
        let head = "apiVersion: cairn/v1\nkind: Cluster\nname: x\nhosts:\n  - {name: a, address: 10.0.0.1, ";
        let cases = [
            (
                "port: '22'}",
                "remove the quotes: YAML reads a quoted value as text",
            ),
            (
                "become: 'yes'}",
                "remove the quotes: YAML reads a quoted value as text",
            ),
            (
                "become: maybe}",
                "docs/cluster-yaml.md describes every field",
            ),
            ("user: 1000}", "quote the value so YAML reads it as text"),
        ];
        for (tail, help) in cases {
            let d = load(&format!("{head}{tail}\n")).unwrap_err();
            assert_eq!(d.help.as_deref(), Some(help), "{tail}");
        }
    }

    #[test]
    fn names() {
        for ok in ["a", "lab1", "a-b", "a.b.c", "1", &"a".repeat(63)] {
            assert!(is_hostname(ok), "{ok}");
        }
        for bad in ["", "A", "a_b", "-a", "a-", "a..b", ".a", &"a".repeat(64)] {
            assert!(!is_hostname(bad), "{bad}");
        }
        assert!(is_dns_name("Lab1.Example.COM."));
        assert!(!is_label("a.b"));
        assert_eq!(closest("adress", HOST_KEYS), Some("address"));
        assert_eq!(closest("zzzz", HOST_KEYS), None);
    }
}
