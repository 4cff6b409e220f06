//! `GET`/`PUT /api/roles`: which hosts play which role, and what is wrong with that, checked
//! on every change so the wizard shows problems as they appear.
//!
//! Owns the rules: roles are cluster.yaml's; every named host must exist; etcd needs an odd
//! number of members (1, 3, 5: a quorum survives (n-1)/2 losses; an even count adds a member
//! without adding tolerance); at least one kube_master. An invalid assignment is saved anyway
//! (the operator is mid-edit); pre-flight and install refuse it. Must not: connect anywhere.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use cairn_engine::inventory::ROLES;
use cairn_protocol::api::{RoleProblem, RolesRequest, RolesView};

use super::Api;
use super::error::Result;
use super::wizard::Saved;

fn problem(role: &str, severity: &str, message: String) -> RoleProblem {
    RoleProblem {
        role: role.into(),
        severity: severity.into(),
        message,
    }
}

pub fn validate(hosts: &[String], roles: &BTreeMap<String, Vec<String>>) -> Vec<RoleProblem> {
    let mut out = Vec::new();
    for (role, members) in roles {
        if !ROLES.contains(&role.as_str()) {
            out.push(problem(
                role,
                "error",
                format!("unknown role {role:?} (roles: {})", ROLES.join(", ")),
            ));
        }
        for m in members {
            if !hosts.contains(m) {
                out.push(problem(
                    role,
                    "error",
                    format!("unknown host {m:?}: add it under Hosts first"),
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for m in members {
            if !seen.insert(m) {
                out.push(problem(
                    role,
                    "error",
                    format!("host {m:?} is listed twice"),
                ));
            }
        }
    }
    let count = |r: &str| roles.get(r).map_or(0, Vec::len);
    match count("etcd") {
        0 => out.push(problem(
            "etcd",
            "error",
            "no etcd member: assign 1, 3 or 5 hosts".into(),
        )),
        n if n % 2 == 0 => out.push(problem(
            "etcd",
            "error",
            format!(
                "{n} etcd members: use an odd number (1, 3, 5): {n} tolerates no more failures than {}",
                n - 1
            ),
        )),
        n if n > 7 => out.push(problem(
            "etcd",
            "warning",
            format!("{n} etcd members: more than 7 slows every write; 3 or 5 is usual"),
        )),
        _ => {}
    }
    if count("kube_master") == 0 {
        out.push(problem(
            "kube_master",
            "error",
            "no kube_master: assign at least one host".into(),
        ));
    }
    if count("kube_node") == 0 {
        out.push(problem(
            "kube_node",
            "warning",
            "no kube_node: workloads will have nowhere to run unless masters take them".into(),
        ));
    }
    for h in hosts {
        if !roles.values().any(|m| m.contains(h)) {
            out.push(problem(
                "",
                "warning",
                format!("host {h:?} has no role: it will not be installed"),
            ));
        }
    }
    out
}

pub fn view(s: &Saved) -> RolesView {
    let hosts: Vec<String> = s.hosts.iter().map(|h| h.id.clone()).collect();
    let problems = validate(&hosts, &s.roles);
    RolesView {
        roles: s.roles.clone(),
        valid: !problems.iter().any(|p| p.severity == "error"),
        problems,
    }
}

pub async fn get(State(api): State<Arc<Api>>) -> Json<RolesView> {
    Json(view(&api.wizard.snapshot()))
}

pub async fn put(
    State(api): State<Arc<Api>>,
    Json(req): Json<RolesRequest>,
) -> Result<Json<RolesView>> {
    let roles: BTreeMap<String, Vec<String>> = req
        .roles
        .into_iter()
        .filter(|(_, m)| !m.is_empty())
        .collect();
    api.wizard.update(&api, |s| {
        s.roles = roles;
        Ok(())
    })?;
    Ok(Json(view(&api.wizard.snapshot())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_rules() {
        let hosts: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let r = |pairs: &[(&str, &[&str])]| -> BTreeMap<String, Vec<String>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        type Case = (
            &'static [(&'static str, &'static [&'static str])],
            &'static [&'static str],
        );
        let cases: &[Case] = &[
            (
                &[
                    ("etcd", &["a", "b", "c"]),
                    ("kube_master", &["a"]),
                    ("kube_node", &["b", "c"]),
                ],
                &[],
            ),
            (
                &[
                    ("etcd", &["a", "b"]),
                    ("kube_master", &["a"]),
                    ("kube_node", &["c"]),
                ],
                &["2 etcd members: use an odd number"],
            ),
            (
                &[("kube_node", &["a", "b", "c"])],
                &["no etcd member", "no kube_master"],
            ),
            (
                &[
                    ("etcd", &["z"]),
                    ("kube_master", &["a"]),
                    ("kube_node", &["b", "c"]),
                    ("dns", &["a"]),
                ],
                &["unknown host \"z\"", "unknown role \"dns\""],
            ),
        ];
        for (roles, want) in cases {
            let errors: Vec<String> = validate(&hosts, &r(roles))
                .into_iter()
                .filter(|p| p.severity == "error")
                .map(|p| p.message)
                .collect();
            assert_eq!(errors.len(), want.len(), "{roles:?}: {errors:?}");
            for w in *want {
                assert!(
                    errors.iter().any(|e| e.contains(w)),
                    "{roles:?}: {errors:?} lacks {w}"
                );
            }
        }
    }
}
