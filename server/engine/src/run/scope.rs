//! What a task inherits from the play, roles, blocks and includes around it.
//!
//! Owns inheritance, as Ansible's: `when` conditions and tags accumulate, the nearest
//! `become`/`ignore_errors`/`check_mode`/... wins, `vars` merge (inner wins), `environment`s
//! stack, role defaults sit below everything. Must not: evaluate anything (the walker and
//! the host task do).

use std::sync::Arc;

use serde_json::Value as Json;

use crate::playbook::{Common, Flag, Role, Vars};

/// Keywords a task inherits from the play and the roles, blocks and includes around it.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub when: Vec<String>,
    pub tags: Vec<String>,
    pub r#become: Option<Flag>,
    pub become_user: Option<String>,
    pub remote_user: Option<String>,
    pub ignore_errors: Option<Flag>,
    pub ignore_unreachable: Option<Flag>,
    pub any_errors_fatal: Option<Flag>,
    pub no_log: Option<Flag>,
    pub check_mode: Option<Flag>,
    pub diff: Option<Flag>,
    pub run_once: Option<Flag>,
    pub delegate_to: Option<String>,
    /// `environment:` values, outermost first (templated and merged per task).
    pub environment: Vec<Json>,
    /// Play, vars_files, role vars and params, block, include and task `vars` merged.
    pub vars: Vars,
    /// Role defaults in effect: the weakest variables of all.
    pub defaults: Vars,
    /// The role whose tasks these are (for `role : task` names and `src` lookups).
    pub role: Option<Arc<Role>>,
    /// Inside the `block:` of a block that has a `rescue:`: a failure here is rescued (counted
    /// as `rescued`, not `failed`).
    pub rescuable: bool,
}

impl Scope {
    /// The scope of something written with keywords `c` inside this one.
    pub fn child(&self, c: &Common) -> Scope {
        let mut s = self.clone();
        s.when.extend(c.when.iter().cloned());
        s.inherit(c);
        s
    }

    /// Like [`Scope::child`] without `when` (a dynamic include's condition decides whether
    /// the include happens; the included tasks do not inherit it).
    pub fn child_without_when(&self, c: &Common) -> Scope {
        let mut s = self.clone();
        s.inherit(c);
        s
    }

    fn inherit(&mut self, c: &Common) {
        let pick = |mine: &Option<Flag>, theirs: &Option<Flag>| mine.clone().or(theirs.clone());
        for t in &c.tags {
            if !self.tags.contains(t) {
                self.tags.push(t.clone());
            }
        }
        self.r#become = pick(&c.r#become, &self.r#become);
        self.become_user = c.become_user.clone().or(self.become_user.take());
        self.remote_user = c.remote_user.clone().or(self.remote_user.take());
        self.ignore_errors = pick(&c.ignore_errors, &self.ignore_errors);
        self.ignore_unreachable = pick(&c.ignore_unreachable, &self.ignore_unreachable);
        self.any_errors_fatal = pick(&c.any_errors_fatal, &self.any_errors_fatal);
        self.no_log = pick(&c.no_log, &self.no_log);
        self.check_mode = pick(&c.check_mode, &self.check_mode);
        self.diff = pick(&c.diff, &self.diff);
        self.run_once = pick(&c.run_once, &self.run_once);
        self.delegate_to = c.delegate_to.clone().or(self.delegate_to.take());
        if let Some(env) = &c.environment {
            self.environment.push(env.clone());
        }
        for (k, v) in &c.vars {
            self.vars.insert(k.clone(), v.clone());
        }
    }

    /// The scope of a role's tasks: the role reference's keywords, then its vars and
    /// parameters above the play's, its defaults below everything.
    pub fn role(&self, role: &Arc<Role>, common: &Common, params: &Vars) -> Scope {
        let mut s = self.clone();
        // Role vars sit above play vars but below the role reference's own `vars:`.
        for (k, v) in &role.vars {
            s.vars.insert(k.clone(), v.clone());
        }
        let mut s = s.child(common);
        for (k, v) in params {
            s.vars.insert(k.clone(), v.clone());
        }
        let mut defaults = role.defaults.clone();
        for (k, v) in &self.defaults {
            defaults.entry(k.clone()).or_insert_with(|| v.clone());
        }
        s.defaults = defaults;
        s.role = Some(role.clone());
        s.rescuable = self.rescuable;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nearest_wins_conditions_and_tags_accumulate() {
        let play = Common {
            when: vec!["a".into()],
            tags: vec!["p".into()],
            ignore_errors: Some(Flag::Value(true)),
            environment: Some(json!({"X": "1"})),
            vars: json!({"v": 1, "w": 1}).as_object().cloned().unwrap(),
            ..Common::default()
        };
        let task = Common {
            when: vec!["b".into()],
            tags: vec!["t".into(), "p".into()],
            ignore_errors: Some(Flag::Value(false)),
            environment: Some(json!({"Y": "2"})),
            vars: json!({"v": 2}).as_object().cloned().unwrap(),
            ..Common::default()
        };
        let s = Scope::default().child(&play).child(&task);
        assert_eq!(s.when, vec!["a", "b"]);
        assert_eq!(s.tags, vec!["p", "t"]);
        assert_eq!(s.ignore_errors, Some(Flag::Value(false)));
        assert_eq!(s.environment.len(), 2);
        assert_eq!(s.vars["v"], 2);
        assert_eq!(s.vars["w"], 1);
        let s = Scope::default().child(&play).child_without_when(&task);
        assert_eq!(s.when, vec!["a"]);
    }
}
