//! What the file modules share about paths on the host: reading a path's state (type, mode,
//! owner, group, size, checksum, link target) in one exec, the `mode`/`owner`/`group`
//! arguments (octal or symbolic modes, names or ids), and writing a file atomically with its
//! attributes, backup and validation in the same exec as the upload.
//!
//! Everything runs through POSIX `sh` and coreutils (`stat -c`, `sha1sum`, `sha256sum`,
//! `chmod`, `chown`, `mv`): no Python on the host. Decisions (does it differ, what mode does a
//! symbolic spec give) are made here in Rust, where they are unit-tested.
//! Must not: decide what a module reports (messages, `changed`) beyond the attributes' part.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::Call;
use super::session::Session;
use crate::playbook::Vars;
use crate::ssh::quote::shell_quote;
use crate::ssh::{ExecOutput, ExecRequest, SshError, Stdin};

/// What kind of thing a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Link,
    Other,
}

/// A path's state on the host. `exists == false` leaves the other fields at their defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PathState {
    pub exists: bool,
    pub kind: Option<Kind>,
    /// Permission bits with setuid/setgid/sticky (`& 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    pub mtime: i64,
    pub inode: u64,
    pub dev: u64,
    pub nlink: u64,
    /// Where a symbolic link points (as `readlink` prints it).
    pub link_target: Option<String>,
    /// What a symbolic link finally resolves to (`readlink -f`).
    pub real: Option<String>,
    /// Hex checksum of a regular file, when asked for.
    pub checksum: Option<String>,
    /// Whether the current user may read/write/execute it (`test -r/-w/-x`).
    pub readable: bool,
    pub writeable: bool,
    pub executable: bool,
}

impl PathState {
    pub fn is_dir(&self) -> bool {
        self.kind == Some(Kind::Dir)
    }
    pub fn is_file(&self) -> bool {
        self.kind == Some(Kind::File)
    }
    pub fn is_link(&self) -> bool {
        self.kind == Some(Kind::Link)
    }
    /// Ansible's name for the state (`file`, `directory`, `link`, `absent`...).
    pub fn state_name(&self) -> &'static str {
        match (self.exists, self.kind) {
            (false, _) => "absent",
            (_, Some(Kind::Dir)) => "directory",
            (_, Some(Kind::Link)) => "link",
            (_, Some(Kind::File)) if self.nlink > 1 => "hard",
            (_, Some(Kind::File)) => "file",
            _ => "file",
        }
    }
}

/// Checksum algorithms the host computes with coreutils.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sum {
    None,
    Sha1,
    Sha256,
}

impl Sum {
    fn tool(self) -> &'static str {
        match self {
            Sum::None => "none",
            Sum::Sha1 => "sha1sum",
            Sum::Sha256 => "sha256sum",
        }
    }
}

/// One path to probe.
#[derive(Clone, Debug)]
pub struct Probe<'a> {
    pub path: &'a str,
    /// Follow a symbolic link (report what it points to).
    pub follow: bool,
    pub sum: Sum,
}

/// What [`probe_script`] prints. All paths are stat'ed by at most two `stat` processes (one
/// for the paths not followed, one with `-L` for the followed ones), each path's record being
/// `<raw mode hex> uid gid size mtime inode dev nlink owner group` NUL name NUL, between the
/// lines `CAIRN-STAT-N`/`CAIRN-STAT-F` and `CAIRN-STAT-END` (a missing path has no record).
/// Then, tagged with the probe's index: `A i rwx` (access), `L i <link target>`, `R i <real
/// path>` for links, `C i <checksum>` for files asked for.
///
/// Every process started on the host costs it 1-3 ms of CPU (fork, exec, dynamic linking),
/// the main part of what a file task costs there (docs/benchmarks.md, "Playbooks"), so the
/// probe starts as few as it can: access, type and link tests are shell builtins, and only
/// links start `readlink`, only files asked for start a checksum.
const PROBE_FN: &str = r#"cairn_more() {
p=; [ -r "$2" ] && p=${p}r; [ -w "$2" ] && p=${p}w; [ -x "$2" ] && p=${p}x; echo "A $1 ${p:--}"
if [ -L "$2" ]; then printf 'L %s ' "$1"; readlink -- "$2"; printf 'R %s ' "$1"; readlink -f -- "$2"; fi
if [ "$4" != none ] && [ -f "$2" ] && { [ "$3" = 1 ] || [ ! -L "$2" ]; }; then
c=$($4 < "$2" 2>/dev/null) && echo "C $1 ${c%% *}"; fi
return 0
}
"#;

/// The stat format of a record (see [`PROBE_FN`]).
const STAT_FMT: &str = r"%f %u %g %s %Y %i %d %h %U %G\0%n\0";
const STAT_END: &str = "\nCAIRN-STAT-END\n";

/// A script printing the state of each probe (see [`parse_probes`]).
pub fn probe_script(probes: &[Probe<'_>]) -> String {
    let mut s = String::from(PROBE_FN);
    for follow in [false, true] {
        let paths: Vec<String> = probes
            .iter()
            .filter(|p| p.follow == follow)
            .map(|p| shell_quote(p.path))
            .collect();
        if paths.is_empty() {
            continue;
        }
        let (tag, flag) = if follow { ("F", "-L ") } else { ("N", "") };
        let _ = writeln!(
            s,
            "echo CAIRN-STAT-{tag}\nstat {flag}--printf '{STAT_FMT}' -- {} 2>/dev/null\nprintf '\\nCAIRN-STAT-END\\n'",
            paths.join(" ")
        );
    }
    for (i, p) in probes.iter().enumerate() {
        // Who the user is comes from the stat record alone; `/proc/self` being a link, the
        // access and link tests would start two `readlink`s for nothing.
        if p.path == WHOAMI {
            continue;
        }
        let _ = writeln!(
            s,
            "cairn_more {i} {} {} {}",
            shell_quote(p.path),
            u8::from(p.follow),
            p.sum.tool()
        );
    }
    s
}

/// The stat records of a probe's output: (followed, fields, name).
fn stat_records(out: &str) -> Vec<(bool, &str, &str)> {
    let mut recs = Vec::new();
    let mut rest = out;
    loop {
        let (n, f) = (rest.find("CAIRN-STAT-N\n"), rest.find("CAIRN-STAT-F\n"));
        let (at, follow) = match (n, f) {
            (Some(a), Some(b)) if a < b => (a, false),
            (Some(a), None) => (a, false),
            (_, Some(b)) => (b, true),
            (None, None) => break,
        };
        rest = &rest[at + "CAIRN-STAT-N\n".len()..];
        loop {
            if rest.is_empty() || rest.starts_with(STAT_END) || rest.starts_with('\n') {
                break;
            }
            let Some(a) = rest.find('\0') else {
                rest = "";
                break;
            };
            let fields = &rest[..a];
            let Some(b) = rest[a + 1..].find('\0') else {
                rest = "";
                break;
            };
            let name = &rest[a + 1..a + 1 + b];
            recs.push((follow, fields, name));
            rest = &rest[a + 1 + b + 1..];
        }
    }
    recs
}

/// Fill a state from `<raw mode hex> uid gid size mtime inode dev nlink [rwx] owner group`.
fn fill(st: &mut PathState, f: &[&str], with_access: bool) {
    let raw = u32::from_str_radix(f[0], 16).unwrap_or(0);
    st.exists = true;
    st.kind = Some(match raw & 0o170000 {
        0o100000 => Kind::File,
        0o040000 => Kind::Dir,
        0o120000 => Kind::Link,
        _ => Kind::Other,
    });
    st.mode = raw & 0o7777;
    st.uid = f[1].parse().unwrap_or(0);
    st.gid = f[2].parse().unwrap_or(0);
    st.size = f[3].parse().unwrap_or(0);
    st.mtime = f[4].parse().unwrap_or(0);
    st.inode = f[5].parse().unwrap_or(0);
    st.dev = f[6].parse().unwrap_or(0);
    st.nlink = f[7].parse().unwrap_or(0);
    let names = if with_access {
        set_access(st, f[8]);
        9
    } else {
        8
    };
    st.owner = f.get(names).unwrap_or(&"").to_string();
    st.group = f.get(names + 1).unwrap_or(&"").to_string();
}

fn set_access(st: &mut PathState, rwx: &str) {
    st.readable = rwx.contains('r');
    st.writeable = rwx.contains('w');
    st.executable = rwx.contains('x');
}

/// Parse what [`probe_script`] printed for `probes`; lines of other commands are ignored.
pub fn parse_probe_output(out: &str, probes: &[Probe<'_>]) -> Vec<PathState> {
    let mut states = parse_probes(out, probes.len());
    let recs = stat_records(out);
    for (st, p) in states.iter_mut().zip(probes) {
        if let Some((_, fields, _)) = recs
            .iter()
            .find(|(follow, _, name)| *follow == p.follow && *name == p.path)
        {
            let f: Vec<&str> = fields.split(' ').collect();
            if f.len() >= 8 {
                let access = (st.readable, st.writeable, st.executable);
                fill(st, &f, false);
                (st.readable, st.writeable, st.executable) = access;
            }
        }
    }
    states
}

/// Parse the index-tagged lines of a probe's output (`A`, `L`, `R`, `C`, and the one-line
/// `P i <fields with rwx>` form tests build states with). The stat records need the probes
/// themselves: see [`parse_probe_output`].
pub fn parse_probes(out: &str, n: usize) -> Vec<PathState> {
    let mut states = vec![PathState::default(); n];
    for line in out.lines() {
        let mut it = line.splitn(3, ' ');
        let (Some(tag), Some(idx), Some(rest)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let Ok(i) = idx.parse::<usize>() else {
            continue;
        };
        let Some(st) = states.get_mut(i) else {
            continue;
        };
        match tag {
            "P" => {
                if rest == "absent" {
                    continue;
                }
                let f: Vec<&str> = rest.split(' ').collect();
                if f.len() < 9 {
                    continue;
                }
                fill(st, &f, true);
            }
            "A" => set_access(st, rest),
            "L" => st.link_target = Some(rest.to_string()),
            "R" if !rest.is_empty() => st.real = Some(rest.to_string()),
            "C" if !rest.is_empty() => st.checksum = Some(rest.to_string()),
            _ => {}
        }
    }
    states
}

/// Run a script with `/bin/sh` on the host (under become when the task asks for it).
pub async fn sh(call: &Call<'_>, script: &str) -> Result<ExecOutput, SshError> {
    sh_stdin(call, script, Stdin::None).await
}

pub async fn sh_stdin(
    call: &Call<'_>,
    script: &str,
    stdin: Stdin<'_>,
) -> Result<ExecOutput, SshError> {
    // The login shell may be anything: the scripts here are POSIX sh.
    let command = format!("/bin/sh -c {}", shell_quote(script));
    let mut req = ExecRequest::new(&command).stdin(stdin);
    if let Some(u) = call.become_user {
        req = req.become_user(u);
    }
    call.conn.exec(req).await
}

/// Probe paths in one exec.
pub async fn probe(call: &Call<'_>, probes: &[Probe<'_>]) -> Result<Vec<PathState>, SshError> {
    let out = sh(call, &probe_script(probes)).await?;
    Ok(parse_probe_output(&out.stdout_str(), probes))
}

/// Probe paths as the first script of a task's [`Session`]: what the task decides from the
/// probe runs in the same shell.
pub async fn probe_first(
    s: &mut Session<'_>,
    probes: &[Probe<'_>],
) -> Result<Vec<PathState>, SshError> {
    let out = s.first(&probe_script(probes)).await?;
    Ok(parse_probe_output(&out.stdout_str(), probes))
}

/// A path's state and, for a regular file, its content: one exec.
pub async fn read(call: &Call<'_>, path: &str) -> Result<(PathState, Option<Vec<u8>>), SshError> {
    let marker = format!("CAIRN-CONTENT-{:08x}", rand::random::<u32>());
    let script = format!(
        "{}\necho {marker}\n[ -f {q} ] && cat -- {q}; exit 0\n",
        probe_script(&[Probe {
            path,
            follow: true,
            sum: Sum::None,
        }]),
        q = shell_quote(path)
    );
    let out = sh(call, &script).await?;
    let needle = format!("{marker}\n");
    let pos = out
        .stdout
        .windows(needle.len())
        .position(|w| w == needle.as_bytes());
    let (head, body) = match pos {
        Some(p) => (
            &out.stdout[..p],
            Some(out.stdout[p + needle.len()..].to_vec()),
        ),
        None => (&out.stdout[..], None),
    };
    let state = parse_probe_output(
        &String::from_utf8_lossy(head),
        &[Probe {
            path,
            follow: true,
            sum: Sum::None,
        }],
    )
    .remove(0);
    let body = if state.is_file() { body } else { None };
    Ok((state, body))
}

/// How `mode` was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModeSpec {
    Octal(u32),
    Symbolic(String),
    /// `preserve` (copy/template): the source's mode.
    Preserve,
}

/// Parse a `mode` argument as Ansible reads it: a string of octal digits (`'0644'`, `'644'`),
/// an integer taken as the mode's value (YAML 1.1 reads an unquoted `0644` as the octal 420,
/// which is right; `644` unquoted is the decimal 644, as in Ansible), `preserve`, or a
/// symbolic mode (`u=rw,g=r,o=r`, `u+x`, `a-w`).
pub fn parse_mode(v: &Json) -> Result<ModeSpec, String> {
    match v {
        Json::Number(n) => match n.as_u64() {
            Some(m) if m <= 0o7777 => Ok(ModeSpec::Octal(m as u32)),
            _ => Err(format!("mode must be in octal or symbolic form, got {n}")),
        },
        Json::String(s) if s == "preserve" => Ok(ModeSpec::Preserve),
        Json::String(s) if !s.is_empty() && s.bytes().all(|b| (b'0'..=b'7').contains(&b)) => {
            match u32::from_str_radix(s, 8) {
                Ok(m) if m <= 0o7777 => Ok(ModeSpec::Octal(m)),
                _ => Err(format!("mode must be in octal or symbolic form, got {s:?}")),
            }
        }
        Json::String(s) => {
            // Validate now so a typo is an error before anything changes.
            apply_symbolic(0, s, false)?;
            Ok(ModeSpec::Symbolic(s.clone()))
        }
        other => Err(format!(
            "mode must be in octal or symbolic form, got {other}"
        )),
    }
}

/// Apply a symbolic mode (chmod's syntax, as Ansible implements it: no umask for an empty
/// "who", which means `a`) to `current`.
pub fn apply_symbolic(current: u32, spec: &str, is_dir: bool) -> Result<u32, String> {
    let bad = || {
        format!("bad symbolic permission for mode: {spec} (write clauses like u=rw,g=r,o=r or u+x)")
    };
    let mut mode = current & 0o7777;
    for clause in spec.split(',') {
        let who_end = clause.find(|c: char| !"ugoa".contains(c)).ok_or_else(bad)?;
        let who = &clause[..who_end];
        let who = if who.is_empty() { "a" } else { who };
        let mut users_mask = 0u32;
        for c in who.chars() {
            users_mask |= match c {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                _ => 0o7777,
            };
        }
        let mut rest = &clause[who_end..];
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let op = rest.chars().next().unwrap();
            if !"+-=".contains(op) {
                return Err(bad());
            }
            rest = &rest[1..];
            let perm_end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
            let perms = &rest[..perm_end];
            rest = &rest[perm_end..];
            let mut bits = 0u32;
            for p in perms.chars() {
                bits |= match p {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' if is_dir || mode & 0o111 != 0 => 0o111,
                    'X' => 0,
                    's' => 0o6000,
                    't' => 0o1000,
                    'u' => copy_class((mode >> 6) & 7),
                    'g' => copy_class((mode >> 3) & 7),
                    'o' => copy_class(mode & 7),
                    _ => return Err(bad()),
                };
            }
            let bits = bits & users_mask;
            mode = match op {
                '+' => mode | bits,
                '-' => mode & !bits,
                _ => (mode & !(users_mask & 0o7777 & !stickiness(who))) | bits,
            };
        }
    }
    Ok(mode)
}

/// `=` on `o` alone must not clear setuid/setgid, nor `u=` the sticky bit: only the bits of
/// the classes named are reset.
fn stickiness(who: &str) -> u32 {
    let mut keep = 0;
    if !who.contains('u') && !who.contains('a') {
        keep |= 0o4000;
    }
    if !who.contains('g') && !who.contains('a') {
        keep |= 0o2000;
    }
    if !who.contains('o') && !who.contains('a') {
        keep |= 0o1000;
    }
    keep
}

fn copy_class(rwx: u32) -> u32 {
    rwx * 0o111
}

/// The `mode`, `owner` and `group` arguments.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attrs {
    pub mode: Option<ModeSpec>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl Attrs {
    pub fn from_args(args: &Vars) -> Result<Attrs, String> {
        let text = |k: &str| match args.get(k) {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        let mode = match args.get("mode") {
            None | Some(Json::Null) => None,
            Some(v) => Some(parse_mode(v)?),
        };
        Ok(Attrs {
            mode,
            owner: text("owner"),
            group: text("group"),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }

    /// The permission bits wanted for a path whose bits are now `current` (`None`: leave).
    pub fn wanted_mode(&self, current: u32, is_dir: bool) -> Option<u32> {
        match &self.mode {
            Some(ModeSpec::Octal(m)) => Some(*m),
            Some(ModeSpec::Symbolic(s)) => apply_symbolic(current, s, is_dir).ok(),
            Some(ModeSpec::Preserve) | None => None,
        }
    }

    /// What differs between `state` and these attributes.
    pub fn changes(&self, state: &PathState) -> AttrChanges {
        let mut c = AttrChanges::default();
        if let Some(m) = self.wanted_mode(state.mode, state.is_dir())
            && (!state.exists || m != state.mode)
        {
            c.mode = Some(m);
        }
        if let Some(o) = &self.owner
            && (!state.exists || !same_principal(o, &state.owner, state.uid))
        {
            c.owner = Some(o.clone());
        }
        if let Some(g) = &self.group
            && (!state.exists || !same_principal(g, &state.group, state.gid))
        {
            c.group = Some(g.clone());
        }
        c
    }
}

fn same_principal(wanted: &str, name: &str, id: u32) -> bool {
    wanted == name || wanted.parse::<u32>().is_ok_and(|n| n == id)
}

/// The attribute changes to make on one path.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttrChanges {
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl AttrChanges {
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }

    /// Shell commands applying the changes to `path` (`-h`: the link itself, not its target).
    /// Ownership first: `chown` clears setuid bits, so the mode comes after.
    pub fn script(&self, path: &str, no_deref: bool) -> String {
        let q = shell_quote(path);
        let h = if no_deref { "-h " } else { "" };
        let mut s = String::new();
        match (&self.owner, &self.group) {
            (Some(o), Some(g)) => {
                let _ = writeln!(
                    s,
                    "chown {h}{} -- {q} || exit 3",
                    shell_quote(&format!("{o}:{g}"))
                );
            }
            (Some(o), None) => {
                let _ = writeln!(s, "chown {h}{} -- {q} || exit 3", shell_quote(o));
            }
            (None, Some(g)) => {
                let _ = writeln!(s, "chgrp {h}{} -- {q} || exit 3", shell_quote(g));
            }
            (None, None) => {}
        }
        // chmod on a link changes its target: links' modes are not set (as Ansible on Linux).
        if let Some(m) = self.mode
            && !no_deref
        {
            let _ = writeln!(s, "chmod {m:o} -- {q} || exit 3");
        }
        s
    }

    /// Ansible's `diff` entries for attributes: the changed keys before and after.
    pub fn diff_maps(&self, state: &PathState) -> (Vars, Vars) {
        let mut before = Vars::new();
        let mut after = Vars::new();
        if let Some(m) = self.mode {
            before.insert("mode".into(), format!("{:04o}", state.mode).into());
            after.insert("mode".into(), format!("{m:04o}").into());
        }
        if let Some(o) = &self.owner {
            before.insert("owner".into(), state.uid.into());
            after.insert("owner".into(), o.clone().into());
        }
        if let Some(g) = &self.group {
            before.insert("group".into(), state.gid.into());
            after.insert("group".into(), g.clone().into());
        }
        (before, after)
    }
}

/// Apply attribute changes in one script; `Err(message)` when the host refused them.
pub async fn apply(
    s: &mut Session<'_>,
    path: &str,
    changes: &AttrChanges,
    no_deref: bool,
) -> Result<Result<(), String>, SshError> {
    if changes.is_empty() {
        return Ok(Ok(()));
    }
    let out = s.sh(&changes.script(path, no_deref)).await?;
    Ok(if out.success() {
        Ok(())
    } else {
        Err(format!(
            "setting ownership or permissions of {path} failed: {}",
            out.stderr_str().trim()
        ))
    })
}

/// Writing a file: content, where, and what else happens in the same exec.
pub struct Put<'a> {
    pub dest: &'a str,
    /// The current state of `dest` (from a probe): its mode and owner are kept when the
    /// arguments do not say otherwise, as Ansible's atomic move does.
    pub current: &'a PathState,
    pub attrs: &'a Attrs,
    /// The mode `preserve` stands for (the source's).
    pub preserve_mode: Option<u32>,
    pub backup: bool,
    /// `validate`: a command with `%s` for the temporary file.
    pub validate: Option<&'a str>,
    /// Who a file newly created in `dest`'s directory belongs to (see [`creator`]), when the
    /// caller probed it: a write that needs no `chown` then starts neither `chown` nor a
    /// `stat` to read the owner back.
    pub creator: Option<Owner>,
}

/// A file's owner and group, by id and name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
}

/// The path whose probe (followed) tells who the probing user is: `/proc/self` is the `stat`
/// process's own directory, owned by its effective user and group, so the probe's one `stat`
/// says it without starting `id`.
pub const WHOAMI: &str = "/proc/self";

/// Who a file created in directory `dir` by the user `me` (the probe of [`WHOAMI`]) belongs
/// to: `me`, with the directory's group when it is setgid. `None` when either is unknown.
pub fn creator(me: &PathState, dir: &PathState) -> Option<Owner> {
    if !me.exists || !dir.is_dir() {
        return None;
    }
    let (gid, group) = if dir.mode & 0o2000 != 0 {
        (dir.gid, dir.group.clone())
    } else {
        (me.gid, me.group.clone())
    };
    Some(Owner {
        uid: me.uid,
        gid,
        owner: me.owner.clone(),
        group,
    })
}

/// The outcome of [`put`].
#[derive(Debug, Default)]
pub struct Written {
    pub backup_file: Option<String>,
    /// `validate` failed: its exit status and output; nothing was written.
    pub invalid: Option<(i64, String, String)>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
}

/// The marker lines the put script prints.
const BACKUP_TAG: &str = "CAIRN-BACKUP ";
const STAT_TAG: &str = "CAIRN-STAT ";
const EXIT_VALIDATE: u32 = 91;

/// The mode a written file ends with.
pub fn final_mode(put: &Put<'_>) -> u32 {
    let base = if put.current.exists {
        put.current.mode
    } else {
        0o644
    };
    match &put.attrs.mode {
        Some(ModeSpec::Preserve) => put.preserve_mode.unwrap_or(base),
        _ => put.attrs.wanted_mode(base, false).unwrap_or(base),
    }
}

/// Where the new content comes from.
pub enum Source<'a> {
    /// Standard input, with its sha256 (checked on the host before the rename).
    Stdin(&'a str),
    /// Inside the script itself (small text, see [`INLINE_MAX`]), written by the shell's
    /// `printf`: no `cat` and no `sha256sum`, as the script (and the content in it) reaches
    /// the shell whole or not at all, like the path or any other word of the script.
    Inline(&'a str),
    /// A file already on the host (`remote_src`).
    Remote(&'a str),
}

/// The script that writes the content to `dest`: into a temporary file beside it, checked
/// with sha256, validated, ownership and mode set, the old file backed up, then renamed.
/// It prints `CAIRN-STAT uid gid owner group` for the result.
pub fn put_script(put: &Put<'_>, source: &Source<'_>) -> String {
    let dest = put.dest;
    let (dir, name) = match dest.rfind('/') {
        Some(0) => ("/", &dest[1..]),
        Some(i) => (&dest[..i], &dest[i + 1..]),
        None => (".", dest),
    };
    let tmp = format!(
        "{}/.{name}.cairn-tmp-{:08x}",
        dir.trim_end_matches('/'),
        rand::random::<u32>()
    );
    let (qd, qt) = (shell_quote(dest), shell_quote(&tmp));
    // Keep the replaced file's owner unless told otherwise (only root may give files away:
    // a failure there is not an error, as with Ansible's atomic move).
    let mut owner = put.attrs.owner.clone();
    let mut group = put.attrs.group.clone();
    if put.current.exists {
        owner.get_or_insert_with(|| put.current.uid.to_string());
        group.get_or_insert_with(|| put.current.gid.to_string());
    }
    // When the new file will already belong to whom it should, no chown (and no stat to read
    // the owner back, see [`finish`]).
    let need_chown = match &put.creator {
        Some(c) => {
            owner
                .as_deref()
                .is_some_and(|o| !same_principal(o, &c.owner, c.uid))
                || group
                    .as_deref()
                    .is_some_and(|g| !same_principal(g, &c.group, c.gid))
        }
        None => owner.is_some() || group.is_some(),
    };
    let mode = final_mode(put);
    // A mode without execute or special bits is set by the umask the file is created with
    // (the shell creates with 0666 & ~umask): one process (chmod) less per write. Otherwise
    // the file is private (077) until chown and chmod have run.
    let by_umask =
        !need_chown && mode & !0o666 == 0 && matches!(source, Source::Stdin(_) | Source::Inline(_));
    let umask = if by_umask { 0o777 & !mode } else { 0o077 };
    let mut s = match source {
        // A name with a newline cannot be a here-document line.
        Source::Stdin(sha256) if tmp.contains('\n') => format!(
            "umask {umask:03o}\ncat > {qt} || {{ rc=$?; rm -f {qt}; exit $rc; }}\n\
             echo '{sha256}  '{qt} | sha256sum -c --status - || {{ rm -f {qt}; \
             echo 'content check failed after upload (sha256 mismatch)' >&2; exit 90; }}\n"
        ),
        Source::Stdin(sha256) => format!(
            "umask {umask:03o}\ncat > {qt} || {{ rc=$?; rm -f {qt}; exit $rc; }}\n\
             sha256sum -c --status - <<'CAIRN_SUM' || {{ rm -f {qt}; \
             echo 'content check failed after upload (sha256 mismatch)' >&2; exit 90; }}\n\
             {sha256}  {tmp}\nCAIRN_SUM\n"
        ),
        // A failed write (a full disk) makes printf fail, as it would cat.
        Source::Inline(text) => format!(
            "umask {umask:03o}\nprintf '%s' {} > {qt} || {{ rc=$?; rm -f {qt}; exit $rc; }}\n",
            shell_quote(text)
        ),
        Source::Remote(src) => format!(
            "umask 077\ncp -- {} {qt} || {{ rc=$?; rm -f {qt}; exit $rc; }}\n",
            shell_quote(src)
        ),
    };
    if let Some(v) = put.validate {
        let cmd = v.replace("%s", &qt);
        let _ = writeln!(
            s,
            "( {cmd} ) || {{ rc=$?; rm -f {qt}; echo \"CAIRN-VALIDATE $rc\"; exit {EXIT_VALIDATE}; }}"
        );
    }
    let changes = AttrChanges {
        mode: (!by_umask).then_some(mode),
        owner: if need_chown { owner } else { None },
        group: if need_chown { group } else { None },
    };
    let explicit = put.attrs.owner.is_some() || put.attrs.group.is_some();
    let chown = changes.script(&tmp, false);
    for line in chown.lines() {
        if line.starts_with("chmod") || explicit {
            let _ = writeln!(
                s,
                "{} {{ rm -f {qt}; exit 3; }}",
                line.trim_end_matches("exit 3")
            );
        } else {
            let _ = writeln!(
                s,
                "{} 2>/dev/null || true",
                line.trim_end_matches(" || exit 3")
            );
        }
    }
    if put.backup && put.current.exists {
        let _ = writeln!(
            s,
            "b={qd}.$$.$(date +%Y-%m-%d@%H:%M:%S)~; cp -p -- {qd} \"$b\" || {{ rm -f {qt}; exit 4; }}; echo \"{BACKUP_TAG}$b\""
        );
    }
    let _ = writeln!(
        s,
        "mv -f -- {qt} {qd} || {{ rc=$?; rm -f {qt}; exit $rc; }}"
    );
    if need_chown || put.creator.is_none() {
        let _ = writeln!(s, "echo \"{STAT_TAG}$(stat -c '%u %g %U %G' -- {qd})\"");
    }
    s
}

/// Write `data` to the host as [`Put`] says, in one script (the session's last). `Err(message)`
/// for a refusal by the host (permissions, missing directory), `Ok(Written { invalid:
/// Some(..) })` when `validate` rejected the content.
pub async fn put(
    s: &mut Session<'_>,
    put: &Put<'_>,
    data: &[u8],
) -> Result<Result<Written, String>, SshError> {
    if let Some(text) = inline_into(s.is_open(), data) {
        let out = s.sh(&put_script(put, &Source::Inline(text))).await?;
        return Ok(finish(put, &out));
    }
    let sha256 = hex::encode(Sha256::digest(data));
    let script = put_script(put, &Source::Stdin(&sha256));
    let out = s.sh_stdin(&script, Stdin::Bytes(data)).await?;
    Ok(finish(put, &out))
}

/// Content up to this size goes inside the write's script (when it is text without NUL,
/// which a shell word cannot hold). The shell reads a script sent into a session a byte at a
/// time (`read` may not read past a line on a pipe): about 0.3 µs per byte, so 4 KiB cost
/// ~1 ms of the host's CPU against 2-3 ms for each of the `cat` and `sha256sum` it saves.
pub const INLINE_MAX: usize = 4096;

/// `data` as text for [`Source::Inline`], when it may go inside the script: only into an open
/// session, whose scripts go over stdin. A script run as an exec of its own is its command
/// line, which the host shows in `ps` and sudo writes to its log, and the content may be a
/// secret (a `no_log` template, a key).
fn inline_into(session_open: bool, data: &[u8]) -> Option<&str> {
    if session_open {
        inline_text(data)
    } else {
        None
    }
}

/// `data` as text for [`Source::Inline`], when it may be.
fn inline_text(data: &[u8]) -> Option<&str> {
    if data.len() > INLINE_MAX || data.contains(&0) {
        return None;
    }
    std::str::from_utf8(data).ok()
}

/// Like [`put`] with a file already on the host.
pub async fn put_remote(
    s: &mut Session<'_>,
    put: &Put<'_>,
    src: &str,
) -> Result<Result<Written, String>, SshError> {
    let out = s.sh(&put_script(put, &Source::Remote(src))).await?;
    Ok(finish(put, &out))
}

/// Like [`put`] with a controller file streamed (large files are never held in memory).
pub async fn put_file(
    s: &mut Session<'_>,
    put: &Put<'_>,
    local: &std::path::Path,
    sha256: &str,
) -> Result<Result<Written, String>, SshError> {
    let script = put_script(put, &Source::Stdin(sha256));
    let file = match tokio::fs::File::open(local).await {
        Ok(f) => f,
        Err(e) => return Ok(Err(format!("could not read {}: {e}", local.display()))),
    };
    let reader = tokio::io::BufReader::with_capacity(256 * 1024, file);
    let out = s.sh_stdin(&script, Stdin::Reader(Box::new(reader))).await?;
    Ok(finish(put, &out))
}

fn finish(put: &Put<'_>, out: &ExecOutput) -> Result<Written, String> {
    let stdout = out.stdout_str();
    let mut w = Written {
        mode: final_mode(put),
        ..Written::default()
    };
    // No stat was printed when the file was created by, and left with, the creator.
    if let Some(c) = &put.creator {
        (w.uid, w.gid, w.owner, w.group) = (c.uid, c.gid, c.owner.clone(), c.group.clone());
    }
    for line in stdout.lines() {
        if let Some(b) = line.strip_prefix(BACKUP_TAG) {
            w.backup_file = Some(b.to_string());
        }
        if let Some(st) = line.strip_prefix(STAT_TAG) {
            let f: Vec<&str> = st.split(' ').collect();
            if f.len() == 4 {
                w.uid = f[0].parse().unwrap_or(0);
                w.gid = f[1].parse().unwrap_or(0);
                w.owner = f[2].to_string();
                w.group = f[3].to_string();
            }
        }
    }
    if out.exit_status == Some(EXIT_VALIDATE) {
        let rc = stdout
            .lines()
            .find_map(|l| l.strip_prefix("CAIRN-VALIDATE "))
            .and_then(|r| r.trim().parse().ok())
            .unwrap_or(1);
        let shown: String = stdout
            .lines()
            .filter(|l| !l.starts_with("CAIRN-"))
            .collect::<Vec<_>>()
            .join("\n");
        w.invalid = Some((rc, shown, out.stderr_str().trim_end().to_string()));
        return Ok(w);
    }
    if !out.success() {
        let why = out.stderr_str().trim().to_string();
        return Err(format!(
            "writing {} failed: {}",
            put.dest,
            if why.is_empty() {
                format!("exit status {:?}", out.exit_status)
            } else {
                why
            }
        ));
    }
    Ok(w)
}

/// Hex sha1 of bytes (Ansible's `checksum`).
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(data))
}

/// sha1 and sha256 of a controller file, streamed.
pub fn hash_local(path: &std::path::Path) -> std::io::Result<(String, String, u64)> {
    use sha1::Digest as _;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut s1 = sha1::Sha1::new();
    let mut s2 = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf)?;
        if r == 0 {
            break;
        }
        s1.update(&buf[..r]);
        s2.update(&buf[..r]);
        n += r as u64;
    }
    Ok((hex::encode(s1.finalize()), hex::encode(s2.finalize()), n))
}

/// Texts of a file change for `--diff`, when both sides are text and not too large (Ansible
/// shows "Binary file" or a size note instead; Cairn leaves such a diff out).
pub fn text_diff(path: &str, before: Option<&[u8]>, after: &[u8]) -> Option<super::Diff> {
    const MAX: usize = 104_448; // Ansible's DEFAULT max_diff_size
    let text = |b: &[u8]| {
        (b.len() <= MAX && !b.contains(&0))
            .then(|| String::from_utf8(b.to_vec()).ok())
            .flatten()
    };
    Some(super::Diff {
        before_header: path.to_string(),
        after_header: path.to_string(),
        before: match before {
            Some(b) => text(b)?,
            None => String::new(),
        },
        after: text(after)?,
    })
}

/// Ansible's `diff` for a change of state or attributes: two JSON maps (its callback prints
/// them as sorted, indented JSON).
pub fn state_diff(path: &str, mut before: Vars, mut after: Vars) -> super::Diff {
    before.insert("path".into(), path.into());
    after.insert("path".into(), path.into());
    let show = |m: Vars| {
        let sorted: std::collections::BTreeMap<String, Json> = m.into_iter().collect();
        // Ansible's callback: json.dumps(sort_keys=True, indent=4).
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        let _ = serde::Serialize::serialize(&sorted, &mut ser);
        String::from_utf8(buf).unwrap_or_default() + "\n"
    };
    // No headers: Ansible's callback then prints plain `--- before` / `+++ after`.
    super::Diff {
        before_header: String::new(),
        after_header: String::new(),
        before: show(before),
        after: show(after),
    }
}

/// Every tag's state by probe order, keyed for convenience.
pub fn by_path<'a>(probes: &[Probe<'a>], states: Vec<PathState>) -> HashMap<&'a str, PathState> {
    probes.iter().map(|p| p.path).zip(states).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modes_parse_as_ansible_reads_them() {
        let cases = [
            (json!("0644"), Ok(ModeSpec::Octal(0o644))),
            (json!("644"), Ok(ModeSpec::Octal(0o644))),
            (json!("01777"), Ok(ModeSpec::Octal(0o1777))),
            // YAML 1.1: unquoted 0644 is the octal number 420.
            (json!(420), Ok(ModeSpec::Octal(0o644))),
            (json!("preserve"), Ok(ModeSpec::Preserve)),
            (json!("u=rw,g=r,o=r"), Ok(ModeSpec::Symbolic("u=rw,g=r,o=r".into()))),
            (
                json!("0999"),
                Err("bad symbolic permission for mode: 0999 (write clauses like u=rw,g=r,o=r or u+x)".to_string()),
            ),
            (
                json!("u=rwz"),
                Err("bad symbolic permission for mode: u=rwz (write clauses like u=rw,g=r,o=r or u+x)".to_string()),
            ),
            (json!(99999), Err("mode must be in octal or symbolic form, got 99999".to_string())),
            (json!(true), Err("mode must be in octal or symbolic form, got true".to_string())),
        ];
        for (input, want) in cases {
            assert_eq!(parse_mode(&input), want, "{input}");
        }
    }

    #[test]
    fn symbolic_modes() {
        let cases = [
            (0o000, "u=rw,g=r,o=r", false, 0o644),
            (0o644, "u+x", false, 0o744),
            (0o755, "a-w", false, 0o555),
            (0o644, "+x", false, 0o755),
            (0o640, "o=g", false, 0o644),
            (0o600, "a+X", false, 0o600),
            (0o700, "a+X", false, 0o711),
            (0o600, "a+X", true, 0o711),
            (0o644, "u+s", false, 0o4644),
            (0o4755, "o=rx", false, 0o4755),
            (0o755, "o+t", true, 0o1755),
            (0o777, "go-w,u-x", false, 0o655),
            (0o644, "u=rwx,g=rx,o=", false, 0o750),
            (0o644, "u+x-w", false, 0o544),
        ];
        for (cur, spec, dir, want) in cases {
            assert_eq!(apply_symbolic(cur, spec, dir), Ok(want), "{cur:o} {spec}");
        }
        assert!(apply_symbolic(0, "u", false).is_err());
        assert!(apply_symbolic(0, "q=r", false).is_err());
    }

    #[test]
    fn probe_output_parses() {
        let out = "P 0 81a4 0 0 12 1700000000 42 2049 1 rw root root\nC 0 abc\n\
                   P 1 absent\nP 2 a1ff 1000 1000 4 1700000001 43 2049 1 rwx cairn cairn\nL 2 /etc/x\n\
                   P 3 41ed 0 0 4096 1 2 3 2 rx root adm\n";
        let s = parse_probes(out, 4);
        assert!(s[0].exists && s[0].is_file());
        assert_eq!(
            (s[0].mode, s[0].size, s[0].checksum.as_deref()),
            (0o644, 12, Some("abc"))
        );
        assert_eq!((s[0].owner.as_str(), s[0].group.as_str()), ("root", "root"));
        assert!(!s[1].exists);
        assert_eq!(s[1].state_name(), "absent");
        assert!(s[2].is_link());
        assert_eq!(s[2].link_target.as_deref(), Some("/etc/x"));
        assert_eq!((s[2].uid, s[2].owner.as_str()), (1000, "cairn"));
        assert!(s[3].is_dir() && s[3].readable && !s[3].writeable);
        assert_eq!((s[3].mode, s[3].state_name()), (0o755, "directory"));
    }

    #[test]
    fn the_probe_script_runs_under_local_sh() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a file");
        std::fs::write(&f, "hello\n").unwrap();
        let l = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        let (fs, ls) = (f.to_str().unwrap(), l.to_str().unwrap());
        let probes = [
            Probe {
                path: fs,
                follow: false,
                sum: Sum::Sha1,
            },
            Probe {
                path: ls,
                follow: false,
                sum: Sum::Sha1,
            },
            Probe {
                path: ls,
                follow: true,
                sum: Sum::Sha256,
            },
            Probe {
                path: "/nonexistent/x",
                follow: true,
                sum: Sum::Sha1,
            },
        ];
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(probe_script(&probes))
            .output()
            .unwrap();
        let s = parse_probe_output(&String::from_utf8_lossy(&out.stdout), &probes);
        assert!(s[0].is_file());
        // numbers and names come from one stat: both halves must land in their fields
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(&f).unwrap();
        let id = |flag: &str| {
            let o = std::process::Command::new("id").arg(flag).output().unwrap();
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        assert_eq!(
            (s[0].mode, s[0].uid, s[0].gid, s[0].nlink),
            (md.mode() & 0o7777, md.uid(), md.gid(), 1)
        );
        assert_eq!(
            (s[0].owner.clone(), s[0].group.clone()),
            (id("-un"), id("-gn"))
        );
        assert!(s[0].readable && s[0].writeable && !s[0].executable);
        assert_eq!(
            s[0].checksum.as_deref(),
            Some(sha1_hex(b"hello\n").as_str())
        );
        assert!(s[1].is_link());
        assert_eq!(s[1].link_target.as_deref(), Some(fs));
        assert_eq!(s[1].real.as_deref(), Some(fs));
        assert_eq!(
            s[2].real.as_deref(),
            Some(fs),
            "followed, still says it was a link"
        );
        assert_eq!(s[1].checksum, None);
        assert!(s[2].is_file());
        assert_eq!(s[2].size, 6);
        assert_eq!(
            s[2].checksum.as_deref(),
            Some(hex::encode(Sha256::digest(b"hello\n")).as_str())
        );
        assert!(!s[3].exists);
    }

    #[test]
    fn state_diffs_are_sorted_json_indented_by_four() {
        let mut b = Vars::new();
        b.insert("state".into(), "absent".into());
        let mut a = Vars::new();
        a.insert("state".into(), "directory".into());
        let d = state_diff("/x", b, a);
        assert_eq!(
            d.before,
            "{\n    \"path\": \"/x\",\n    \"state\": \"absent\"\n}\n"
        );
        assert_eq!(
            (d.before_header.as_str(), d.after_header.as_str()),
            ("", "")
        );
    }

    #[test]
    fn attribute_changes() {
        let st = PathState {
            exists: true,
            kind: Some(Kind::File),
            mode: 0o644,
            uid: 0,
            gid: 0,
            owner: "root".into(),
            group: "root".into(),
            ..PathState::default()
        };
        let a = Attrs::from_args(
            json!({"mode": "0644", "owner": "0", "group": "root"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert!(a.changes(&st).is_empty());
        let a = Attrs::from_args(
            json!({"mode": "u+x", "owner": "cairn"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let c = a.changes(&st);
        assert_eq!(c.mode, Some(0o744));
        assert_eq!(c.owner.as_deref(), Some("cairn"));
        assert_eq!(
            c.script("/x y", false),
            "chown cairn -- '/x y' || exit 3\nchmod 744 -- '/x y' || exit 3\n"
        );
        assert_eq!(
            Attrs::from_args(json!({"mode": "abc"}).as_object().unwrap()).unwrap_err(),
            "bad symbolic permission for mode: abc (write clauses like u=rw,g=r,o=r or u+x)"
        );
    }

    /// Names with spaces, newlines and quotes come back on the right probe; `/proc/self`
    /// says who the probing user is; all paths of one kind take one `stat`.
    #[test]
    fn odd_names_and_whoami_through_one_stat() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a b\nc'd");
        std::fs::write(&odd, "x").unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "yy").unwrap();
        let (o, p) = (odd.to_str().unwrap(), plain.to_str().unwrap());
        let probes = [
            Probe {
                path: p,
                follow: true,
                sum: Sum::None,
            },
            Probe {
                path: o,
                follow: true,
                sum: Sum::Sha1,
            },
            Probe {
                path: "/nonexistent/y",
                follow: true,
                sum: Sum::None,
            },
            Probe {
                path: WHOAMI,
                follow: true,
                sum: Sum::None,
            },
        ];
        let script = probe_script(&probes);
        assert_eq!(script.matches("stat ").count(), 1, "{script}");
        // No access or link tests (and so no `readlink`) for the whoami probe.
        assert_eq!(script.matches("\ncairn_more ").count(), 3, "{script}");
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let s = parse_probe_output(&String::from_utf8_lossy(&out.stdout), &probes);
        assert_eq!((s[0].size, s[1].size), (2, 1));
        assert_eq!(s[1].checksum.as_deref(), Some(sha1_hex(b"x").as_str()));
        assert!(!s[2].exists);
        use std::os::unix::fs::MetadataExt;
        let mine = std::fs::metadata(&plain).unwrap();
        assert_eq!((s[3].uid, s[3].gid), (mine.uid(), mine.gid()));
        let me = creator(
            &s[3],
            &PathState {
                exists: true,
                kind: Some(Kind::Dir),
                mode: 0o755,
                ..Default::default()
            },
        );
        assert_eq!(me.map(|c| c.uid), Some(mine.uid()));
        // A setgid directory gives its group.
        let sgid = PathState {
            exists: true,
            kind: Some(Kind::Dir),
            mode: 0o2775,
            gid: 4242,
            group: "shared".into(),
            ..Default::default()
        };
        let c = creator(&s[3], &sgid).unwrap();
        assert_eq!((c.gid, c.group.as_str()), (4242, "shared"));
        assert_eq!(creator(&PathState::default(), &sgid), None);
    }

    /// Small text goes inside the script: no `cat`, no `sha256sum`; quotes, `$`, backslashes
    /// and a missing final newline arrive exactly; the mode comes from the umask.
    #[test]
    fn inline_content_is_written_exactly_by_the_shell() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("in line");
        let d = dest.to_str().unwrap();
        let absent = PathState::default();
        let attrs = Attrs {
            mode: Some(ModeSpec::Octal(0o600)),
            owner: None,
            group: None,
        };
        let me = {
            use std::os::unix::fs::MetadataExt;
            let md = std::fs::metadata(dir.path()).unwrap();
            Owner {
                uid: md.uid(),
                gid: md.gid(),
                owner: "me".into(),
                group: "us".into(),
            }
        };
        let put = Put {
            dest: d,
            current: &absent,
            attrs: &attrs,
            preserve_mode: None,
            backup: false,
            validate: None,
            creator: Some(me),
        };
        let text = "a 'b' \"c\" $d `e` \\f\n\nlast";
        assert_eq!(inline_text(text.as_bytes()), Some(text));
        assert_eq!(inline_text(b"a\0b"), None);
        assert_eq!(inline_text(&vec![b'a'; INLINE_MAX + 1]), None);
        // Never on a command line: without an open session the content goes over stdin.
        assert_eq!(inline_into(true, text.as_bytes()), Some(text));
        assert_eq!(inline_into(false, text.as_bytes()), None);
        let script = put_script(&put, &Source::Inline(text));
        for absent_cmd in ["cat", "sha256sum", "chmod", "stat -c"] {
            assert!(!script.contains(absent_cmd), "{absent_cmd} in {script}");
        }
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), text);
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
            0o600
        );
    }

    /// A write whose owner is already right and whose mode has no execute bit starts no
    /// chown, chmod or stat; one that needs them still does. Both write the right file.
    #[test]
    fn the_put_script_starts_only_what_it_needs_and_writes_right() {
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let md = std::fs::metadata(dir.path()).unwrap();
        let me = Owner {
            uid: md.uid(),
            gid: md.gid(),
            owner: "me".into(),
            group: "us".into(),
        };
        let run = |put: &Put<'_>, data: &[u8]| {
            let sha = hex::encode(Sha256::digest(data));
            let script = put_script(put, &Source::Stdin(&sha));
            let mut child = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&script)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(data).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{script}");
            let eo = ExecOutput {
                exit_status: Some(0),
                exit_signal: None,
                stdout: out.stdout,
                stderr: out.stderr,
                duration: std::time::Duration::ZERO,
            };
            (script, finish(put, &eo))
        };
        let dest = dir.path().join("f.conf");
        let d = dest.to_str().unwrap();
        let absent = PathState::default();
        let attrs = Attrs {
            mode: Some(ModeSpec::Octal(0o640)),
            owner: None,
            group: None,
        };
        let put = Put {
            dest: d,
            current: &absent,
            attrs: &attrs,
            preserve_mode: None,
            backup: false,
            validate: None,
            creator: Some(me.clone()),
        };
        let (script, w) = run(&put, b"one\n");
        for absent_cmd in ["chown", "chgrp", "chmod", "stat -c"] {
            assert!(!script.contains(absent_cmd), "{absent_cmd} in {script}");
        }
        assert_eq!(std::fs::read(&dest).unwrap(), b"one\n");
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        let w = w.unwrap();
        assert_eq!((w.uid, w.owner.as_str(), w.mode), (me.uid, "me", 0o640));
        // An executable mode needs chmod; an unknown creator needs the stat read-back.
        let attrs = Attrs {
            mode: Some(ModeSpec::Octal(0o755)),
            owner: None,
            group: None,
        };
        let put = Put {
            dest: d,
            current: &absent,
            attrs: &attrs,
            preserve_mode: None,
            backup: false,
            validate: None,
            creator: None,
        };
        let (script, w) = run(&put, b"two\n");
        assert!(
            script.contains("chmod 755") && script.contains("stat -c"),
            "{script}"
        );
        assert_eq!(std::fs::read(&dest).unwrap(), b"two\n");
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
            0o755
        );
        assert_eq!(w.unwrap().uid, me.uid);
    }
}
