//! `copy`: put a file (from `content`, a controller `src`, or with `remote_src` a file on the
//! host) at `dest`, or a controller directory tree under it, with Ansible's semantics:
//! sha1 `checksum` idempotency, `force: false` (only if absent), `backup`, `validate` (`%s`),
//! mode/owner/group (kept from the replaced file when not given), `directory_mode` for the
//! directories it creates, a `dest` ending in `/` (or an existing directory) receiving the
//! source's basename, and a `src` directory ending in `/` copying its contents only.
//!
//! Round trips for one file: one script probes `dest` (state and sha1); when the content
//! differs one script uploads, checks, validates, backs up, sets attributes and renames; when
//! only attributes differ one script sets them. They run in one shell on the host, one exec
//! (a [`Session`]): the second script is sent once the first one's output has been read.
//! Also the single-file path `template` uses.
//! Must not: render templates (see `template`) or read anything but the source.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::local_hash;
use super::remote_path::{self, Attrs, ModeSpec, PathState, Probe, Put, Sum};
use super::session::Session;
use super::{Call, ModuleResult, arg_bool, arg_str};
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let args = call.args;
    let Some(dest) = arg_str(args, "dest") else {
        return Ok(ModuleResult::failed("missing required arguments: dest"));
    };
    let attrs = match Attrs::from_args(args) {
        Ok(a) => a,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let opts = match Options::from_args(call) {
        Ok(o) => o,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let content = args.get("content").filter(|v| !v.is_null());
    let src = arg_str(args, "src");
    match (content, src) {
        (Some(_), Some(_)) => Ok(ModuleResult::failed(
            "parameters are mutually exclusive: src, content",
        )),
        (None, None) => Ok(ModuleResult::failed("src (or content) is required")),
        (Some(c), None) => {
            if dest.ends_with('/') {
                return Ok(ModuleResult::failed(
                    "can not use content with a dir as dest",
                ));
            }
            // Ansible writes a non-string content (a mapping, a list) as JSON.
            let data = match c {
                Json::String(s) => s.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            };
            one(call, &dest, None, Data::Bytes(data), &attrs, &opts).await
        }
        (None, Some(src)) if opts.remote_src => {
            one(
                call,
                &dest,
                Some(&src),
                Data::Remote(src.clone()),
                &attrs,
                &opts,
            )
            .await
        }
        (None, Some(src)) => {
            let Some(local) = call.find_src(&src, "files") else {
                return Ok(ModuleResult::failed(not_found(call, &src, "files")));
            };
            if local.is_dir() {
                tree(call, &src, &local, &dest, &attrs, &opts).await
            } else {
                one(call, &dest, Some(&src), Data::Local(local), &attrs, &opts).await
            }
        }
    }
}

/// The message for a `src` that is not on the controller, listing where it was looked for.
pub fn not_found(call: &Call<'_>, src: &str, subdir: &str) -> String {
    not_found_in(call.search, src, subdir)
}

fn not_found_in(search: &[PathBuf], src: &str, subdir: &str) -> String {
    let mut searched = Vec::new();
    if Path::new(src).is_absolute() {
        searched.push(src.to_string());
    } else {
        for dir in search {
            searched.push(dir.join(subdir).join(src).display().to_string());
            searched.push(dir.join(src).display().to_string());
        }
    }
    format!(
        "Could not find or access '{src}' on the controller. Searched in: {}",
        searched.join(", ")
    )
}

/// The arguments that shape how a file is written.
pub struct Options {
    pub backup: bool,
    pub force: bool,
    pub remote_src: bool,
    pub follow: bool,
    pub validate: Option<String>,
    pub directory_mode: Option<ModeSpec>,
    /// `checksum`: the sha1 the source must have.
    pub expect_checksum: Option<String>,
}

impl Options {
    pub fn from_args(call: &Call<'_>) -> Result<Options, String> {
        let args = call.args;
        let directory_mode = match args.get("directory_mode") {
            None | Some(Json::Null) => None,
            Some(v) => Some(remote_path::parse_mode(v)?),
        };
        let validate = arg_str(args, "validate");
        if let Some(v) = &validate
            && !v.contains("%s")
        {
            return Err(format!("validate must contain %s: {v}"));
        }
        Ok(Options {
            backup: arg_bool(args, "backup", false)?,
            force: arg_bool(args, "force", true)?,
            remote_src: arg_bool(args, "remote_src", false)?,
            follow: arg_bool(args, "follow", false)?,
            validate,
            directory_mode,
            expect_checksum: arg_str(args, "checksum"),
        })
    }
}

/// The new content of one file.
pub enum Data {
    Bytes(Vec<u8>),
    Local(PathBuf),
    Remote(String),
}

/// Copy one file to `dest` (which may name a directory to put it in): the probe, and what
/// follows from it, in one shell on the host (a [`Session`]).
pub async fn one(
    call: &Call<'_>,
    dest: &str,
    src: Option<&str>,
    data: Data,
    attrs: &Attrs,
    opts: &Options,
) -> Result<ModuleResult, SshError> {
    let mut s = Session::new(call);
    let r = one_in(call, &mut s, dest, src, data, attrs, opts).await;
    s.close().await;
    r
}

async fn one_in(
    call: &Call<'_>,
    s: &mut Session<'_>,
    dest: &str,
    src: Option<&str>,
    data: Data,
    attrs: &Attrs,
    opts: &Options,
) -> Result<ModuleResult, SshError> {
    // What the new content is: sha1 (Ansible's checksum), sha256 (checked by the host after
    // upload), size.
    let (sha1, sha256, size, src_mode) = match &data {
        Data::Bytes(b) => {
            use sha2::Digest as _;
            (
                remote_path::sha1_hex(b),
                hex::encode(sha2::Sha256::digest(b)),
                b.len() as u64,
                None,
            )
        }
        Data::Local(p) => match local_hash::digests(p) {
            Ok((s1, s2, n)) => {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(p)
                    .ok()
                    .map(|m| m.permissions().mode() & 0o7777);
                (s1, s2, n, mode)
            }
            Err(e) => {
                return Ok(ModuleResult::failed(format!(
                    "could not read {}: {e}",
                    p.display()
                )));
            }
        },
        Data::Remote(_) => (String::new(), String::new(), 0, None),
    };
    let base = src
        .map(|s| basename(s.trim_end_matches('/')))
        .unwrap_or_default();
    let into_dir = dest.trim_end_matches('/').to_string() + "/" + &base;
    let parent = parent_of(dest.trim_end_matches('/'));
    let remote_src_path = match &data {
        Data::Remote(p) => p.clone(),
        _ => "/dev/null".to_string(),
    };
    // Followed: a link to a file with the same content is left alone (Ansible compares the
    // target's checksum whatever `follow` says); `follow` decides where a write goes.
    let probes = [
        Probe {
            path: dest,
            follow: true,
            sum: Sum::Sha1,
        },
        Probe {
            path: &into_dir,
            follow: true,
            sum: Sum::Sha1,
        },
        Probe {
            path: &parent,
            follow: true,
            sum: Sum::None,
        },
        Probe {
            path: &remote_src_path,
            follow: true,
            sum: Sum::Sha1,
        },
        Probe {
            path: remote_path::WHOAMI,
            follow: true,
            sum: Sum::None,
        },
    ];
    let states = remote_path::probe_first(s, &probes).await?;
    let [dest_st, into_st, parent_st, rsrc_st, me]: [PathState; 5] =
        states.try_into().expect("five probes");
    // Who a file written at `dest` or into the directory `dest` would belong to.
    let creators = (
        remote_path::creator(&me, &parent_st),
        remote_path::creator(&me, &dest_st),
    );
    let (sha1, size, src_mode) = match &data {
        Data::Remote(p) => {
            if !rsrc_st.exists {
                return Ok(ModuleResult::failed(format!("Source {p} not found")));
            }
            if rsrc_st.is_dir() {
                return Ok(ModuleResult::failed(format!(
                    "remote_src with a directory ({p}) is not supported by Cairn yet: copy its files one by one"
                )));
            }
            (
                rsrc_st.checksum.clone().unwrap_or_default(),
                rsrc_st.size,
                Some(rsrc_st.mode),
            )
        }
        _ => (sha1, size, src_mode),
    };
    if let Some(want) = &opts.expect_checksum
        && want != &sha1
    {
        return Ok(ModuleResult::failed(format!(
            "Copied file does not match the expected checksum. Transfer failed. (expected {want}, source has {sha1})"
        )));
    }
    let (final_dest, st, mkdir) =
        match placement(dest, &base, opts.follow, [dest_st, into_st, parent_st]) {
            Ok(p) => p,
            Err(e) => return Ok(ModuleResult::failed(e)),
        };
    let same = st.is_file() && st.checksum.as_deref() == Some(sha1.as_str());
    let write = !same && (opts.force || !st.exists);
    let mut r = ModuleResult::default();
    r.extra.insert("dest".into(), final_dest.clone().into());
    if let Some(s) = src {
        r.extra.insert("src".into(), s.into());
    }
    r.extra.insert("checksum".into(), sha1.clone().into());
    r.extra.insert("size".into(), size.into());
    r.extra.insert("state".into(), "file".into());
    if !write {
        // Same content (or force: no): only attributes may need setting.
        let attrs = preserve(attrs, src_mode);
        let changes = attrs.changes(&st);
        let mut mode = st.mode;
        let (mut owner, mut group) = (st.owner.clone(), st.group.clone());
        if !changes.is_empty() {
            r.changed = true;
            if call.diff {
                let (b, a) = changes.diff_maps(&st);
                r.diff.push(remote_path::state_diff(&final_dest, b, a));
            }
            if !call.check
                && let Err(e) = remote_path::apply(s, &final_dest, &changes, false).await?
            {
                return Ok(ModuleResult::failed(e));
            }
            mode = changes.mode.unwrap_or(mode);
            owner = changes.owner.clone().unwrap_or(owner);
            group = changes.group.clone().unwrap_or(group);
        }
        if !same && st.exists {
            // force: no and the file is there: Ansible reports the existing file.
            r.extra.insert(
                "checksum".into(),
                st.checksum.clone().unwrap_or_default().into(),
            );
        }
        r.extra.insert("mode".into(), format!("{mode:04o}").into());
        r.extra.insert("owner".into(), owner.into());
        r.extra.insert("group".into(), group.into());
        r.extra.insert("uid".into(), st.uid.into());
        r.extra.insert("gid".into(), st.gid.into());
        return Ok(r);
    }
    r.changed = true;
    let attrs_now = preserve(attrs, src_mode);
    if call.diff {
        let before = if st.is_file() {
            fetch_small(s, &final_dest, st.size).await?
        } else {
            Some(Vec::new())
        };
        let after = match &data {
            Data::Bytes(b) => Some(b.clone()),
            Data::Local(p) if size <= 104_448 => std::fs::read(p).ok(),
            _ => None,
        };
        if let (Some(b), Some(a)) = (before, after)
            && let Some(d) = remote_path::text_diff(&final_dest, st.exists.then_some(&b[..]), &a)
        {
            r.diff.push(d);
        }
    }
    let creator = if mkdir {
        None
    } else if final_dest == dest {
        creators.0
    } else if final_dest == into_dir {
        creators.1
    } else {
        None // written where a link points: that directory was not probed
    };
    let put = Put {
        dest: &final_dest,
        current: &st,
        attrs: &attrs_now,
        preserve_mode: src_mode,
        backup: opts.backup,
        validate: opts.validate.as_deref(),
        creator,
    };
    if call.check {
        let mode = remote_path::final_mode(&put);
        r.extra.insert("mode".into(), format!("{mode:04o}").into());
        return Ok(r);
    }
    if mkdir {
        let script = mkdir_script(&[dest.trim_end_matches('/').to_string()], attrs, opts);
        let out = s.sh(&script).await?;
        if !out.success() {
            return Ok(ModuleResult::failed(format!(
                "could not create directory {dest}: {}",
                out.stderr_str().trim()
            )));
        }
    }
    let written = match &data {
        Data::Bytes(b) => remote_path::put(s, &put, b).await?,
        // A small file goes inside the write's script, as content does (one `cat` and one
        // `sha256sum` fewer on the host), when it still is what was hashed.
        Data::Local(p) if size <= remote_path::INLINE_MAX as u64 => match std::fs::read(p) {
            Ok(b) if hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&b)) == sha256 => {
                remote_path::put(s, &put, &b).await?
            }
            _ => remote_path::put_file(s, &put, p, &sha256).await?,
        },
        Data::Local(p) => remote_path::put_file(s, &put, p, &sha256).await?,
        Data::Remote(r) => remote_path::put_remote(s, &put, r).await?,
    };
    let w = match written {
        Ok(w) => w,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    if let Some((rc, out, err)) = w.invalid {
        let mut f = ModuleResult::failed(format!("failed to validate: rc:{rc} error:{err}"));
        f.rc = Some(rc);
        f.stdout = Some(out);
        f.stderr = Some(err);
        f.diff = r.diff;
        return Ok(f);
    }
    if let Some(b) = w.backup_file {
        r.extra.insert("backup_file".into(), b.into());
    }
    r.extra
        .insert("mode".into(), format!("{:04o}", w.mode).into());
    r.extra.insert("owner".into(), w.owner.into());
    r.extra.insert("group".into(), w.group.into());
    r.extra.insert("uid".into(), w.uid.into());
    r.extra.insert("gid".into(), w.gid.into());
    Ok(r)
}

/// Where one file really goes, from the probes of `dest`, `dest/BASENAME` and `dest`'s
/// parent: the path, its state, and whether `dest` (a directory to be) must be created.
fn placement(
    dest: &str,
    base: &str,
    follow: bool,
    [dest_st, into_st, parent_st]: [PathState; 3],
) -> Result<(String, PathState, bool), String> {
    let (path, st, mkdir) = if dest.ends_with('/') || dest_st.is_dir() {
        if base.is_empty() {
            return Err("can not use content with a dir as dest".into());
        }
        let into = format!("{}/{base}", dest.trim_end_matches('/'));
        (into, into_st, !dest_st.exists)
    } else {
        if !parent_st.is_dir() {
            return Err(format!(
                "Destination directory {} does not exist",
                parent_of(dest)
            ));
        }
        (dest.to_string(), dest_st, false)
    };
    // follow: true writes through a link to where it points; otherwise the link is replaced.
    let path = match (&st.real, follow) {
        (Some(real), true) => real.clone(),
        _ => path,
    };
    if st.exists && !st.is_file() {
        return Err(format!("dest {path} exists and is not a regular file"));
    }
    Ok((path, st, mkdir))
}

/// `mode: preserve` means the source's mode.
fn preserve(attrs: &Attrs, src_mode: Option<u32>) -> Attrs {
    let mut a = attrs.clone();
    if a.mode == Some(ModeSpec::Preserve) {
        a.mode = src_mode.map(ModeSpec::Octal);
    }
    a
}

/// A file's content for a diff, when small enough to show.
async fn fetch_small(
    s: &mut Session<'_>,
    path: &str,
    size: u64,
) -> Result<Option<Vec<u8>>, SshError> {
    if size > 104_448 {
        return Ok(None);
    }
    let out = s.sh(&format!("cat -- {}", shell_quote(path))).await?;
    Ok(out.success().then_some(out.stdout))
}

/// `mkdir -p` each directory, setting `directory_mode` (else the umask's default) and the
/// owner/group on those it creates.
fn mkdir_script(dirs: &[String], attrs: &Attrs, opts: &Options) -> String {
    let mut s = String::new();
    for d in dirs {
        let q = shell_quote(d);
        let mut set = remote_path::AttrChanges {
            mode: match &opts.directory_mode {
                Some(ModeSpec::Octal(m)) => Some(*m),
                Some(ModeSpec::Symbolic(sym)) => remote_path::apply_symbolic(0o755, sym, true).ok(),
                _ => None,
            },
            owner: attrs.owner.clone(),
            group: attrs.group.clone(),
        }
        .script(d, false);
        if set.is_empty() {
            set = ":\n".into();
        }
        s.push_str(&format!(
            "if [ ! -d {q} ]; then mkdir -p -- {q} || exit 3\n{set}fi\n"
        ));
    }
    s
}

/// Copy a controller directory: `src/` copies what is inside, `src` the directory itself.
async fn tree(
    call: &Call<'_>,
    src: &str,
    local: &Path,
    dest: &str,
    attrs: &Attrs,
    opts: &Options,
) -> Result<ModuleResult, SshError> {
    let mut s = Session::new(call);
    let r = tree_in(call, &mut s, src, local, dest, attrs, opts).await;
    s.close().await;
    r
}

/// [`tree`] in its session: the probe, the directories and the first upload in one shell;
/// further uploads each in their own exec (an upload's data ends the shell's stdin).
async fn tree_in(
    call: &Call<'_>,
    s: &mut Session<'_>,
    src: &str,
    local: &Path,
    dest: &str,
    attrs: &Attrs,
    opts: &Options,
) -> Result<ModuleResult, SshError> {
    let root = if src.ends_with('/') {
        dest.trim_end_matches('/').to_string()
    } else {
        format!("{}/{}", dest.trim_end_matches('/'), basename(src))
    };
    let mut entries = Vec::new();
    if let Err(e) = walk(local, Path::new(""), &mut entries) {
        return Ok(ModuleResult::failed(format!(
            "could not read {}: {e}",
            local.display()
        )));
    }
    let remote = |rel: &Path| {
        if rel.as_os_str().is_empty() {
            root.clone()
        } else {
            format!("{root}/{}", rel.display())
        }
    };
    let paths: Vec<String> = entries.iter().map(|(rel, _)| remote(rel)).collect();
    let mut probes = vec![Probe {
        path: &root,
        follow: true,
        sum: Sum::None,
    }];
    for (p, (_, is_dir)) in paths.iter().zip(&entries) {
        probes.push(Probe {
            path: p,
            follow: opts.follow,
            sum: if *is_dir { Sum::None } else { Sum::Sha1 },
        });
    }
    let states = remote_path::probe_first(s, &probes).await?;
    let mut r = ModuleResult::default();
    r.extra.insert("dest".into(), dest.into());
    r.extra.insert("src".into(), src.into());
    // Directories to create (the root included).
    let mut dirs = Vec::new();
    if !states[0].exists {
        dirs.push(root.clone());
    } else if !states[0].is_dir() {
        return Ok(ModuleResult::failed(format!(
            "dest {root} exists and is not a directory"
        )));
    }
    for ((p, (_, is_dir)), st) in paths.iter().zip(&entries).zip(&states[1..]) {
        if *is_dir && !st.exists {
            dirs.push(p.clone());
        }
    }
    if !dirs.is_empty() {
        r.changed = true;
        if !call.check {
            let out = s.sh(&mkdir_script(&dirs, attrs, opts)).await?;
            if !out.success() {
                return Ok(ModuleResult::failed(format!(
                    "could not create directories under {root}: {}",
                    out.stderr_str().trim()
                )));
            }
        }
    }
    let mut attr_script = String::new();
    for ((p, (rel, is_dir)), st) in paths.iter().zip(&entries).zip(&states[1..]) {
        if *is_dir {
            continue;
        }
        let file = local.join(rel);
        let (sha1, sha256, _) = match local_hash::digests(&file) {
            Ok(h) => h,
            Err(e) => {
                return Ok(ModuleResult::failed(format!(
                    "could not read {}: {e}",
                    file.display()
                )));
            }
        };
        let src_mode = {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::metadata(&file)
                .ok()
                .map(|m| m.permissions().mode() & 0o7777)
        };
        let attrs_now = preserve(attrs, src_mode);
        if st.exists && !st.is_file() {
            return Ok(ModuleResult::failed(format!(
                "dest {p} exists and is not a regular file"
            )));
        }
        let same = st.checksum.as_deref() == Some(sha1.as_str());
        if same || (st.exists && !opts.force) {
            let changes = attrs_now.changes(st);
            if !changes.is_empty() {
                r.changed = true;
                attr_script.push_str(&changes.script(p, false));
            }
            continue;
        }
        r.changed = true;
        if call.diff
            && let Ok(after) = std::fs::read(&file)
        {
            let before = if st.is_file() {
                fetch_small(s, p, st.size).await?
            } else {
                Some(Vec::new())
            };
            if let Some(b) = before
                && let Some(d) = remote_path::text_diff(p, st.exists.then_some(&b[..]), &after)
            {
                r.diff.push(d);
            }
        }
        if call.check {
            continue;
        }
        let put = Put {
            dest: p,
            current: st,
            attrs: &attrs_now,
            preserve_mode: src_mode,
            backup: opts.backup,
            validate: opts.validate.as_deref(),
            creator: None,
        };
        match remote_path::put_file(s, &put, &file, &sha256).await? {
            Ok(w) if w.invalid.is_some() => {
                let (rc, _, err) = w.invalid.unwrap_or_default();
                return Ok(ModuleResult::failed(format!(
                    "failed to validate {p}: rc:{rc} error:{err}"
                )));
            }
            Ok(_) => {}
            Err(e) => return Ok(ModuleResult::failed(e)),
        }
    }
    if !attr_script.is_empty() && !call.check {
        let out = s.sh(&attr_script).await?;
        if !out.success() {
            return Ok(ModuleResult::failed(format!(
                "setting ownership or permissions under {root} failed: {}",
                out.stderr_str().trim()
            )));
        }
    }
    Ok(r)
}

/// Every file and directory under `dir`, relative, directories before what they hold;
/// symbolic links followed (Ansible's `local_follow: true`).
fn walk(dir: &Path, rel: &Path, out: &mut Vec<(PathBuf, bool)>) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir.join(rel))?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let r = rel.join(&name);
        let meta = std::fs::metadata(dir.join(&r))?;
        if meta.is_dir() {
            out.push((r.clone(), true));
            walk(dir, &r, out)?;
        } else {
            out.push((r, false));
        }
    }
    Ok(())
}

pub fn basename(p: &str) -> String {
    p.rsplit('/').next().unwrap_or(p).to_string()
}

pub fn parent_of(p: &str) -> String {
    match p.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => p[..i].into(),
        None => ".".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(basename("/a/b.txt"), "b.txt");
        assert_eq!(basename("b"), "b");
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("a"), ".");
    }

    #[test]
    fn a_missing_src_says_where_it_was_looked_for() {
        let search = [PathBuf::from("/r/roles/web"), PathBuf::from("/r")];
        assert_eq!(
            not_found_in(&search, "a.conf", "files"),
            "Could not find or access 'a.conf' on the controller. Searched in: \
             /r/roles/web/files/a.conf, /r/roles/web/a.conf, /r/files/a.conf, /r/a.conf"
        );
        assert_eq!(
            not_found_in(&search, "/abs/t.j2", "templates"),
            "Could not find or access '/abs/t.j2' on the controller. Searched in: /abs/t.j2"
        );
    }

    #[test]
    fn where_a_file_goes_and_why_not() {
        let parse = |probe: &str| remote_path::parse_probes(probe, 1).remove(0);
        let dir = || parse("P 0 41ed 0 0 4096 1 2 3 2 rwx root root\n");
        let file = || parse("P 0 81a4 0 0 6 1 2 3 1 rw root root\n");
        let link = || parse("P 0 81a4 0 0 6 1 2 3 1 rw root root\nL 0 t\nR 0 /d/t\n");
        let none = PathState::default;
        let shown = |r: Result<(String, PathState, bool), String>| r.map(|(p, _, m)| (p, m));
        type Case = (
            &'static str,
            &'static str,
            bool,
            [PathState; 3],
            Result<(String, bool), String>,
        );
        let cases: Vec<Case> = vec![
            (
                "/d/f",
                "src",
                false,
                [none(), none(), dir()],
                Ok(("/d/f".into(), false)),
            ),
            (
                "/d",
                "src",
                false,
                [dir(), none(), dir()],
                Ok(("/d/src".into(), false)),
            ),
            (
                "/new/",
                "src",
                false,
                [none(), none(), dir()],
                Ok(("/new/src".into(), true)),
            ),
            (
                "/d/l",
                "",
                false,
                [link(), none(), dir()],
                Ok(("/d/l".into(), false)),
            ),
            (
                "/d/l",
                "",
                true,
                [link(), none(), dir()],
                Ok(("/d/t".into(), false)),
            ),
            (
                "/no/f",
                "src",
                false,
                [none(), none(), none()],
                Err("Destination directory /no does not exist".into()),
            ),
            (
                "/d/",
                "",
                false,
                [dir(), none(), dir()],
                Err("can not use content with a dir as dest".into()),
            ),
            (
                "/d",
                "src",
                false,
                [dir(), dir(), dir()],
                Err("dest /d/src exists and is not a regular file".into()),
            ),
            (
                "/d/f",
                "src",
                false,
                [file(), none(), dir()],
                Ok(("/d/f".into(), false)),
            ),
        ];
        for (dest, base, follow, states, want) in cases {
            assert_eq!(shown(placement(dest, base, follow, states)), want, "{dest}");
        }
    }

    #[test]
    fn walk_lists_directories_before_their_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("x/y")).unwrap();
        std::fs::write(d.path().join("x/y/f"), "1").unwrap();
        std::fs::write(d.path().join("a"), "2").unwrap();
        let mut out = Vec::new();
        walk(d.path(), Path::new(""), &mut out).unwrap();
        let shown: Vec<(String, bool)> = out
            .into_iter()
            .map(|(p, d)| (p.display().to_string(), d))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("a".into(), false),
                ("x".into(), true),
                ("x/y".into(), true),
                ("x/y/f".into(), false)
            ]
        );
    }

    #[test]
    fn mkdir_sets_directory_mode_only_on_new_directories() {
        let attrs = Attrs {
            owner: Some("cairn".into()),
            ..Attrs::default()
        };
        let opts = Options {
            backup: false,
            force: true,
            remote_src: false,
            follow: false,
            validate: None,
            directory_mode: Some(ModeSpec::Octal(0o750)),
            expect_checksum: None,
        };
        assert_eq!(
            mkdir_script(&["/t/d".into()], &attrs, &opts),
            "if [ ! -d /t/d ]; then mkdir -p -- /t/d || exit 3\nchown cairn -- /t/d || exit 3\nchmod 750 -- /t/d || exit 3\nfi\n"
        );
    }
}
