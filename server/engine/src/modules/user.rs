//! `user`: a local account (present or absent) and its uid, primary group, supplementary
//! groups, shell, home, comment and password hash.
//!
//! One exec reads the account (`getent passwd`, `id -Gn`, the shadow hash only when a
//! `password` is given); the `useradd`/`usermod`/`userdel` command is decided here, in Rust,
//! where it is unit-tested; a second exec runs it only when something differs (never in check
//! mode). The password is a crypt hash, as in Ansible; it travels on stdin to `chpasswd -e`,
//! never on a command line, and never appears in a result, event or message.

use std::collections::BTreeSet;

use serde_json::json;

use super::params::Params;
use super::sh::{self, Report};
use super::{Call, ModuleResult};
use crate::playbook::Vars;
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

#[derive(Debug, Default)]
pub struct Want {
    pub name: String,
    pub present: bool,
    pub uid: Option<i64>,
    pub group: Option<String>,
    pub groups: Option<Vec<String>>,
    pub append: bool,
    pub shell: Option<String>,
    pub home: Option<String>,
    pub comment: Option<String>,
    pub create_home: bool,
    pub move_home: bool,
    pub system: bool,
    pub non_unique: bool,
    pub password: Option<String>,
    pub update_always: bool,
    pub remove: bool,
    pub force: bool,
}

pub fn want(args: &Vars) -> Result<Want, String> {
    let p = Params(args);
    Ok(Want {
        name: p.required(&["name"])?,
        present: p.choice(&["state"], &["present", "absent"])? == "present",
        uid: p.int(&["uid"])?,
        group: p.str(&["group"]),
        groups: args
            .get("groups")
            .filter(|v| !v.is_null())
            .map(|_| p.list(&["groups"])),
        append: p.flag(&["append"], false)?,
        shell: p.str(&["shell"]),
        home: p.str(&["home"]),
        comment: p.str(&["comment"]),
        create_home: p.flag(&["create_home", "createhome"], true)?,
        move_home: p.flag(&["move_home"], false)?,
        system: p.flag(&["system"], false)?,
        non_unique: p.flag(&["non_unique"], false)?,
        password: p.str(&["password"]).filter(|s| !s.is_empty()),
        update_always: p.choice(&["update_password"], &["always", "on_create"])? == "always",
        remove: p.flag(&["remove"], false)?,
        force: p.flag(&["force"], false)?,
    })
}

/// The account as the probe saw it.
#[derive(Debug, Default, PartialEq)]
pub struct Account {
    pub uid: i64,
    pub gid: i64,
    pub comment: String,
    pub home: String,
    pub shell: String,
    /// Supplementary groups (the primary group left out).
    pub groups: BTreeSet<String>,
}

/// What the probe saw: the account (if any), the gid of the requested primary group, whether a
/// group named like the user exists, and the shadow hash when a password was asked for.
#[derive(Debug, Default)]
pub struct Seen {
    pub account: Option<Account>,
    pub group_gid: Option<i64>,
    pub own_group: bool,
    pub hash: Option<String>,
}

pub fn probe(w: &Want) -> String {
    let mut s = format!(
        "n={}\nif p=$(getent passwd \"$n\"); then echo \"@passwd=$p\"; echo \"@groups=$(id -Gn \"$n\")\"; \
         echo \"@pgroup=$(id -gn \"$n\")\"; fi\n\
         getent group \"$n\" >/dev/null && echo @own_group=1\n",
        shell_quote(&w.name)
    );
    if let Some(g) = &w.group {
        s.push_str(&format!(
            "echo \"@group_gid=$(getent group {} | cut -d: -f3)\"\n",
            shell_quote(g)
        ));
    }
    if w.password.is_some() {
        s.push_str("echo \"@hash=$(getent shadow \"$n\" | cut -d: -f2)\"\n");
    }
    s.push_str("true\n");
    s
}

pub fn seen(rep: &Report) -> Seen {
    let account = rep.get("passwd").and_then(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        let primary = rep.get("pgroup").unwrap_or("");
        Some(Account {
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            comment: f[4].to_string(),
            home: f[5].to_string(),
            shell: f[6].to_string(),
            groups: rep
                .get("groups")
                .unwrap_or("")
                .split_whitespace()
                .filter(|g| *g != primary)
                .map(str::to_string)
                .collect(),
        })
    });
    Seen {
        account,
        group_gid: rep.get("group_gid").and_then(|g| g.parse().ok()),
        own_group: rep.is("own_group", "1"),
        hash: rep.get("hash").map(str::to_string),
    }
}

/// The commands to run (each an argv; the last may be `chpasswd`, fed the hash on stdin).
pub fn plan(w: &Want, s: &Seen) -> Vec<Vec<String>> {
    let o = |v: &str| v.to_string();
    let mut cmds = Vec::new();
    let set_password = |cmds: &mut Vec<Vec<String>>| cmds.push(vec![o("chpasswd"), o("-e")]);
    match (&s.account, w.present) {
        (None, false) => {}
        (Some(_), false) => {
            let mut c = vec![o("userdel")];
            if w.force {
                c.push(o("-f"));
            }
            if w.remove {
                c.push(o("-r"));
            }
            c.push(w.name.clone());
            cmds.push(c);
        }
        (None, true) => {
            let mut c = vec![o("useradd")];
            if let Some(u) = w.uid {
                c.extend([o("-u"), u.to_string()]);
                if w.non_unique {
                    c.push(o("-o"));
                }
            }
            match &w.group {
                Some(g) => c.extend([o("-g"), g.clone()]),
                // useradd refuses to create a user group that exists already.
                None if s.own_group => c.extend([o("-g"), w.name.clone()]),
                None => {}
            }
            if let Some(gs) = w.groups.as_ref().filter(|g| !g.is_empty()) {
                c.extend([o("-G"), gs.join(",")]);
            }
            for (flag, v) in [("-s", &w.shell), ("-d", &w.home), ("-c", &w.comment)] {
                if let Some(v) = v {
                    c.extend([o(flag), v.clone()]);
                }
            }
            if w.system {
                c.push(o("-r"));
            }
            c.push(o(if w.create_home { "-m" } else { "-M" }));
            c.push(w.name.clone());
            cmds.push(c);
            if w.password.is_some() {
                set_password(&mut cmds);
            }
        }
        (Some(a), true) => {
            let mut c = vec![o("usermod")];
            if let Some(u) = w.uid.filter(|u| *u != a.uid) {
                c.extend([o("-u"), u.to_string()]);
                if w.non_unique {
                    c.push(o("-o"));
                }
            }
            if let Some(g) = &w.group {
                let differs = match s.group_gid {
                    Some(gid) => gid != a.gid,
                    None => g.parse::<i64>().ok() != Some(a.gid),
                };
                if differs {
                    c.extend([o("-g"), g.clone()]);
                }
            }
            if let Some(gs) = &w.groups {
                let want: BTreeSet<String> = gs.iter().cloned().collect();
                if w.append {
                    if !want.is_subset(&a.groups) {
                        c.extend([o("-a"), o("-G"), gs.join(",")]);
                    }
                } else if want != a.groups {
                    c.extend([o("-G"), gs.join(",")]);
                }
            }
            if let Some(sh) = w.shell.as_ref().filter(|v| **v != a.shell) {
                c.extend([o("-s"), sh.clone()]);
            }
            if let Some(h) = w.home.as_ref().filter(|v| **v != a.home) {
                c.extend([o("-d"), h.clone()]);
                if w.move_home {
                    c.push(o("-m"));
                }
            }
            if let Some(cm) = w.comment.as_ref().filter(|v| **v != a.comment) {
                c.extend([o("-c"), cm.clone()]);
            }
            if c.len() > 1 {
                c.push(w.name.clone());
                cmds.push(c);
            }
            if w.update_always && w.password.is_some() && s.hash != w.password {
                set_password(&mut cmds);
            }
        }
    }
    cmds
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let w = match want(call.args) {
        Ok(w) => w,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let (out, rep) = sh::report(call, &probe(&w), None).await?;
    if !out.success() {
        return Ok(sh::failure(
            &out,
            &rep,
            "could not read the account on the host",
        ));
    }
    let s = seen(&rep);
    let cmds = plan(&w, &s);
    let mut r = ModuleResult {
        changed: !cmds.is_empty(),
        ..ModuleResult::default()
    };
    let mut after = None;
    if !cmds.is_empty() && !call.check {
        let mut script = String::new();
        for c in &cmds {
            let line: Vec<String> = c.iter().map(|a| shell_quote(a)).collect();
            let line = line.join(" ");
            if c[0] == "chpasswd" {
                // The hash arrives on stdin; only the user name is added in front of it.
                script.push_str(&format!(
                    "{{ printf '%s:' {}; cat; }} | chpasswd -e 2>&1 || {{ echo @failed=chpasswd; exit 1; }}\n",
                    shell_quote(&w.name)
                ));
            } else {
                script.push_str(&format!(
                    "{line} 2>&1 || {{ echo @failed={}; exit 1; }}\n",
                    c[0]
                ));
            }
        }
        script.push_str(&format!(
            "getent passwd {n} | sed 's/^/@passwd=/'; echo \"@groups=$(id -Gn {n} 2>/dev/null)\"; echo \"@pgroup=$(id -gn {n} 2>/dev/null)\"\n",
            n = shell_quote(&w.name)
        ));
        let stdin = w.password.clone().unwrap_or_default();
        let out = sh::run(call, &script, Some(stdin.as_bytes()), None).await?;
        let rep = Report::parse(&out.stdout_str());
        if let Some(failed) = act_failure(&out, &rep) {
            return Ok(failed);
        }
        after = seen(&rep).account;
    }
    let account = after.or(s.account);
    r.extra.insert("name".into(), json!(w.name));
    r.extra.insert(
        "state".into(),
        json!(if w.present { "present" } else { "absent" }),
    );
    if w.present {
        if let Some(a) = &account {
            r.extra.insert("uid".into(), json!(a.uid));
            r.extra.insert("group".into(), json!(a.gid));
            r.extra.insert(
                "groups".into(),
                json!(a.groups.iter().cloned().collect::<Vec<_>>().join(",")),
            );
            r.extra.insert("home".into(), json!(a.home));
            r.extra.insert("shell".into(), json!(a.shell));
            r.extra.insert("comment".into(), json!(a.comment));
        }
        r.extra.insert("system".into(), json!(w.system));
        r.extra.insert("create_home".into(), json!(w.create_home));
        r.extra.insert("append".into(), json!(w.append));
        if w.password.is_some() {
            r.extra
                .insert("password".into(), json!("NOT_LOGGING_PASSWORD"));
        }
    } else {
        r.extra.insert("force".into(), json!(w.force));
        r.extra.insert("remove".into(), json!(w.remove));
    }
    Ok(r)
}

/// The failure of the command step, if one failed (the password is never in its output:
/// chpasswd reads it from stdin and does not echo it).
fn act_failure(out: &crate::ssh::ExecOutput, rep: &Report) -> Option<ModuleResult> {
    let cmd = rep.get("failed")?;
    Some(sh::failure(
        out,
        rep,
        format!("{cmd} failed: {}", rep.text.trim()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: serde_json::Value) -> Want {
        want(v.as_object().unwrap()).unwrap()
    }

    fn existing() -> Seen {
        seen(&Report::parse(
            "@passwd=alice:x:1500:1500:Alice:/home/alice:/bin/sh\n@groups=alice sudo adm\n\
             @pgroup=alice\n@group_gid=1500\n@hash=$6$salt$abc\n",
        ))
    }

    #[test]
    fn probe_parses() {
        let s = existing();
        let a = s.account.unwrap();
        assert_eq!((a.uid, a.gid, a.shell.as_str()), (1500, 1500, "/bin/sh"));
        assert_eq!(a.groups.iter().collect::<Vec<_>>(), vec!["adm", "sudo"]);
        assert_eq!(s.hash.as_deref(), Some("$6$salt$abc"));
        assert!(seen(&Report::parse("@own_group=1\n")).account.is_none());
    }

    #[test]
    fn plans() {
        let none = Seen::default();
        let existing = existing();
        // (args, seen, commands)
        let cases: Vec<(serde_json::Value, &Seen, Vec<&str>)> = vec![
            (
                json!({"name": "alice", "uid": 1500, "groups": ["sudo"], "shell": "/bin/bash", "system": true}),
                &none,
                vec!["useradd -u 1500 -G sudo -s /bin/bash -r -m alice"],
            ),
            (
                json!({"name": "alice", "create_home": false, "password": "$6$x"}),
                &none,
                vec!["useradd -M alice", "chpasswd -e"],
            ),
            (
                json!({"name": "alice", "uid": 1500, "shell": "/bin/sh"}),
                &existing,
                vec![],
            ),
            (
                json!({"name": "alice", "shell": "/bin/bash", "groups": "adm", "append": true}),
                &existing,
                vec!["usermod -s /bin/bash alice"],
            ),
            (
                json!({"name": "alice", "groups": ["adm", "video"], "append": true}),
                &existing,
                vec!["usermod -a -G adm,video alice"],
            ),
            (
                json!({"name": "alice", "groups": ["adm"]}),
                &existing,
                vec!["usermod -G adm alice"],
            ),
            (
                json!({"name": "alice", "groups": [], "append": false}),
                &existing,
                vec!["usermod -G  alice"],
            ),
            (
                json!({"name": "alice", "password": "$6$salt$abc"}),
                &existing,
                vec![],
            ),
            (
                json!({"name": "alice", "password": "$6$salt$new"}),
                &existing,
                vec!["chpasswd -e"],
            ),
            (
                json!({"name": "alice", "password": "$6$salt$new", "update_password": "on_create"}),
                &existing,
                vec![],
            ),
            (
                json!({"name": "alice", "state": "absent", "remove": true}),
                &existing,
                vec!["userdel -r alice"],
            ),
            (json!({"name": "alice", "state": "absent"}), &none, vec![]),
        ];
        for (args, s, want_cmds) in cases {
            let got: Vec<String> = plan(&w(args.clone()), s)
                .iter()
                .map(|c| c.join(" "))
                .collect();
            assert_eq!(got, want_cmds, "{args}");
        }
        let own = Seen {
            own_group: true,
            ..Seen::default()
        };
        assert_eq!(
            plan(&w(json!({"name": "bob"})), &own)[0].join(" "),
            "useradd -g bob -m bob"
        );
    }

    #[test]
    fn failure_messages() {
        let out = crate::ssh::ExecOutput {
            exit_status: Some(1),
            ..Default::default()
        };
        let rep = Report::parse("useradd: group 'nope' does not exist\n@failed=useradd\n");
        assert_eq!(
            act_failure(&out, &rep).unwrap().msg.as_deref(),
            Some("useradd failed: useradd: group 'nope' does not exist")
        );
        assert!(act_failure(&out, &Report::parse("@passwd=a:x:1:1::/:/bin/sh\n")).is_none());
    }

    #[test]
    fn probe_reads_the_hash_only_for_a_password() {
        assert!(!probe(&w(json!({"name": "a"}))).contains("shadow"));
        assert!(probe(&w(json!({"name": "a", "password": "$6$x"}))).contains("getent shadow"));
    }
}
