//! `group`: a local group (present with an optional `gid`, or absent), through `groupadd`,
//! `groupmod` and `groupdel`.
//!
//! One exec: the script reads `getent group`, runs only the command needed (reported, not run,
//! in check mode) and reports the group's gid afterwards.

use serde_json::json;

use super::params::Params;
use super::sh::{self, ACT, Report, bit};
use super::{Call, ModuleResult};
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

pub struct Want {
    pub name: String,
    pub present: bool,
    pub gid: Option<i64>,
    pub system: bool,
    pub non_unique: bool,
}

pub fn want(args: &crate::playbook::Vars) -> Result<Want, String> {
    let p = Params(args);
    Ok(Want {
        name: p.required(&["name"])?,
        present: p.choice(&["state"], &["present", "absent"])? == "present",
        gid: p.int(&["gid"])?,
        system: p.flag(&["system"], false)?,
        non_unique: p.flag(&["non_unique"], false)?,
    })
}

pub fn script(w: &Want, check: bool) -> String {
    let mut add = String::from("groupadd");
    if let Some(g) = w.gid {
        add.push_str(&format!(" -g {g}"));
        if w.non_unique {
            add.push_str(" -o");
        }
    }
    if w.system {
        add.push_str(" -r");
    }
    let modify = match w.gid {
        Some(g) => format!(
            "elif [ \"$cur\" != {g} ]; then act groupmod -g {g}{} \"$n\"; ",
            if w.non_unique { " -o" } else { "" }
        ),
        None => String::new(),
    };
    let body = if w.present {
        format!("if [ -z \"$line\" ]; then act {add} \"$n\"; {modify}fi")
    } else {
        "[ -n \"$line\" ] && act groupdel \"$n\"".to_string()
    };
    format!(
        "n={n}; check={check}\n{ACT}line=$(getent group \"$n\"); cur=$(printf '%s' \"$line\" | cut -d: -f3)\n\
         echo \"@before=$cur\"\n{body}\necho \"@gid=$(getent group \"$n\" | cut -d: -f3)\"\n",
        n = shell_quote(&w.name),
        check = bit(check),
    )
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let w = match want(call.args) {
        Ok(w) => w,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let (out, rep) = sh::report(call, &script(&w, call.check), None).await?;
    Ok(result(&w, &out, &rep))
}

pub fn result(w: &Want, out: &crate::ssh::ExecOutput, rep: &Report) -> ModuleResult {
    if let Some(cmd) = rep.get("failed") {
        return sh::failure(out, rep, format!("{cmd} failed: {}", rep.text.trim()));
    }
    let mut r = ModuleResult {
        changed: !rep.all("did").is_empty(),
        ..ModuleResult::default()
    };
    r.extra.insert("name".into(), json!(w.name));
    r.extra.insert(
        "state".into(),
        json!(if w.present { "present" } else { "absent" }),
    );
    if w.present {
        let gid = rep.get("gid").and_then(|g| g.parse::<i64>().ok()).or(w.gid);
        r.extra.insert("gid".into(), json!(gid));
        r.extra.insert("system".into(), json!(w.system));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::ExecOutput;

    #[test]
    fn commands() {
        let w = want(
            json!({"name": "g1", "gid": 1500, "system": true})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let s = script(&w, false);
        assert!(s.contains("act groupadd -g 1500 -r \"$n\""), "{s}");
        assert!(
            s.contains("elif [ \"$cur\" != 1500 ]; then act groupmod -g 1500 \"$n\"; fi"),
            "{s}"
        );
        let w = want(
            json!({"name": "g1", "state": "absent"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert!(script(&w, true).contains("act groupdel \"$n\""));
        let w = want(json!({"name": "g1"}).as_object().unwrap()).unwrap();
        assert!(script(&w, true).contains("then act groupadd \"$n\"; fi"));
    }

    #[test]
    fn results() {
        let w = want(json!({"name": "g1"}).as_object().unwrap()).unwrap();
        let ok = ExecOutput {
            exit_status: Some(0),
            ..Default::default()
        };
        let r = result(
            &w,
            &ok,
            &Report::parse("@before=\n@did=groupadd g1\n@gid=1002\n"),
        );
        assert!(r.changed);
        assert_eq!(r.extra["gid"], 1002);
        let bad = Report::parse("groupadd: GID '0' already exists\n@failed=groupadd\n");
        let r = result(&w, &ok, &bad);
        assert_eq!(
            r.msg.as_deref(),
            Some("groupadd failed: groupadd: GID '0' already exists")
        );
    }
}
