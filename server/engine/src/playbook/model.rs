//! The parsed playbook: plays, tasks, blocks, roles, as the loader understood them.
//!
//! Owns the types only. Values that Ansible templates at run time (conditions, loop sources,
//! module arguments) are kept as written (strings or JSON values): nothing here evaluates
//! anything. Every element carries the [`Location`] it was read from, so later error messages
//! and the event stream can point at it. Must not: read files or report errors (the loader does).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

/// Variables as written (`vars:`, role defaults): name → value, in file order.
pub type Vars = serde_json::Map<String, Value>;

/// Where an element was written: file as shown to the user, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: Arc<str>,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A playbook file with its imported playbooks already spliced in (as Ansible does).
#[derive(Clone, Debug)]
pub struct Playbook {
    pub path: PathBuf,
    pub plays: Vec<Play>,
}

/// A boolean keyword: a literal, or a template decided at run time (`become: "{{ x }}"`).
#[derive(Clone, Debug, PartialEq)]
pub enum Flag {
    Value(bool),
    Template(String),
}

/// An integer keyword: a literal, or a template decided at run time.
#[derive(Clone, Debug, PartialEq)]
pub enum Count {
    Value(u64),
    Template(String),
}

/// One `serial` batch size.
#[derive(Clone, Debug, PartialEq)]
pub enum Batch {
    Hosts(u64),
    /// `"30%"`: a share of the play's hosts.
    Percent(f64),
    Template(String),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    #[default]
    Linear,
    Free,
}

/// Keywords that plays, roles, blocks and tasks share and that children inherit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Common {
    /// Conditions, all of which must hold (`when:` as a string, bool or list).
    pub when: Vec<String>,
    pub tags: Vec<String>,
    pub r#become: Option<Flag>,
    pub become_user: Option<String>,
    pub remote_user: Option<String>,
    pub ignore_errors: Option<Flag>,
    pub ignore_unreachable: Option<Flag>,
    pub any_errors_fatal: Option<Flag>,
    pub environment: Option<Value>,
    pub vars: Vars,
    pub run_once: Option<Flag>,
    pub delegate_to: Option<String>,
    pub no_log: Option<Flag>,
    pub check_mode: Option<Flag>,
    pub diff: Option<Flag>,
}

#[derive(Clone, Debug)]
pub struct Play {
    pub location: Location,
    pub name: Option<String>,
    /// The host pattern (a list is joined with `,`, as Ansible does).
    pub hosts: String,
    pub common: Common,
    /// Each entry: a file name, or alternatives (a nested list: the first that exists).
    pub vars_files: Vec<Vec<String>>,
    pub gather_facts: Option<Flag>,
    /// Batch sizes; empty means all hosts at once. The last size repeats.
    pub serial: Vec<Batch>,
    pub max_fail_percentage: Option<f64>,
    pub strategy: Strategy,
    pub pre_tasks: Vec<Task>,
    pub roles: Vec<RoleRef>,
    pub tasks: Vec<Task>,
    pub post_tasks: Vec<Task>,
    pub handlers: Vec<Task>,
    /// The playbook file this play was written in (differs from the top one under
    /// `import_playbook`).
    pub file: PathBuf,
}

impl Play {
    /// The name Ansible shows: `name:`, or the host pattern.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.hosts)
    }
}

/// A role used by a play (`roles:`), a role dependency (`meta/main.yml`) or `import_role`.
#[derive(Clone, Debug)]
pub struct RoleRef {
    pub location: Location,
    pub name: String,
    pub common: Common,
    /// Role parameters written beside `role:` (old style) — they act as role vars.
    pub params: Vars,
    pub role: Arc<Role>,
}

/// A role directory, loaded.
#[derive(Clone, Debug)]
pub struct Role {
    pub name: String,
    pub path: PathBuf,
    pub tasks: Vec<Task>,
    pub handlers: Vec<Task>,
    pub defaults: Vars,
    pub vars: Vars,
    pub dependencies: Vec<RoleRef>,
    /// `allow_duplicates` in `meta/main.yml`: the role may run more than once in a play
    /// with the same parameters.
    pub allow_duplicates: bool,
    /// `templates/` and `files/`, when present: where `template` and `copy` look first.
    pub templates_dir: Option<PathBuf>,
    pub files_dir: Option<PathBuf>,
}

/// How a task iterates.
#[derive(Clone, Debug, PartialEq)]
pub struct Loop {
    /// `loop`, or the lookup of `with_<lookup>` (`items`, `dict`, `fileglob`, ...).
    pub kind: String,
    /// A list, a mapping (`with_dict`) or a template string.
    pub source: Value,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoopControl {
    pub loop_var: Option<String>,
    pub index_var: Option<String>,
    pub label: Option<String>,
    pub pause: Option<Count>,
    pub extended: Option<Flag>,
}

/// A module call: the module's short name (FQCN normalised) and its arguments. Free-form text
/// (`command: ls -l chdir=/tmp`) is split into `k=v` arguments, the rest in `_raw_params`, as
/// Ansible does.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub module: String,
    /// The name as written (`ansible.builtin.copy`), for messages.
    pub written: String,
    pub args: Vars,
}

/// What a task does.
#[derive(Clone, Debug)]
pub enum TaskKind {
    Action(Action),
    Block {
        block: Vec<Task>,
        rescue: Vec<Task>,
        always: Vec<Task>,
    },
    /// `import_tasks`: resolved when loading; `tasks` is the file's content.
    ImportTasks {
        file: String,
        tasks: Vec<Task>,
    },
    /// `include_tasks`: read at run time (its name may be a template).
    IncludeTasks {
        file: String,
        args: Vars,
    },
    /// `import_role`: resolved when loading (boxed: a role reference is much larger than the
    /// other variants).
    ImportRole(Box<RoleRef>),
    /// `include_role`: read at run time; `tasks_from` etc. stay in `args`.
    IncludeRole {
        name: String,
        args: Vars,
    },
    /// `meta: flush_handlers` and friends.
    Meta(String),
}

#[derive(Clone, Debug)]
pub struct Task {
    pub location: Location,
    pub name: Option<String>,
    /// The module or statement key as written (`ansible.builtin.copy`, `import_tasks`), or
    /// `block`.
    pub action: String,
    pub kind: TaskKind,
    pub common: Common,
    /// The role this task comes from, for `role : task` display.
    pub role: Option<String>,
    pub r#loop: Option<Loop>,
    pub loop_control: Option<LoopControl>,
    pub register: Option<String>,
    pub notify: Vec<String>,
    /// Where `notify:`'s value was written, to point at a handler name that does not exist.
    pub notify_location: Option<Location>,
    /// Handler topics (`listen:`), handlers only.
    pub listen: Vec<String>,
    pub changed_when: Vec<String>,
    pub failed_when: Vec<String>,
    pub until: Vec<String>,
    pub retries: Option<Count>,
    pub delay: Option<Count>,
}

impl Task {
    /// The name Ansible shows: `name:`, or the action as written (`ansible.builtin.copy`,
    /// `include_tasks`, `block`).
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.action)
    }
}
