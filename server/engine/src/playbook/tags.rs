//! Which tasks `--tags` and `--skip-tags` select, with Ansible's special tags.
//!
//! Owns [`TagFilter`] and Ansible's rule (`Taggable.evaluate_tags`): `always` runs unless
//! skipped by name, `never` runs only when asked for by another of its tags, `all`, `tagged`
//! and `untagged` select by whether a task has tags. Must not: compute a task's tags (they are
//! inherited from plays, roles and blocks by whoever walks the tasks).

/// `--tags` (`only`, default `all`) and `--skip-tags` (`skip`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagFilter {
    pub only: Vec<String>,
    pub skip: Vec<String>,
}

impl Default for TagFilter {
    fn default() -> Self {
        TagFilter {
            only: vec!["all".to_string()],
            skip: Vec::new(),
        }
    }
}

impl TagFilter {
    /// Build from command-line values, each possibly comma-separated (`--tags a,b --tags c`).
    /// No `--tags` means `all`.
    pub fn new(only: &[String], skip: &[String]) -> Self {
        let split = |v: &[String]| -> Vec<String> {
            v.iter()
                .flat_map(|s| s.split(','))
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect()
        };
        let only = split(only);
        TagFilter {
            only: if only.is_empty() {
                vec!["all".to_string()]
            } else {
                only
            },
            skip: split(skip),
        }
    }

    /// Whether a task with these effective tags is selected.
    pub fn selects(&self, tags: &[String]) -> bool {
        let untagged = ["untagged".to_string()];
        let tags: &[String] = if tags.is_empty() { &untagged } else { tags };
        let has = |t: &str| tags.iter().any(|x| x == t);
        let any_in = |list: &[String]| tags.iter().any(|t| list.contains(t));
        let is_untagged = tags == untagged;
        let only = |t: &str| self.only.iter().any(|x| x == t);
        let skip = |t: &str| self.skip.iter().any(|x| x == t);

        let mut run = has("always")
            || (only("all") && !has("never"))
            || any_in(&self.only)
            || (only("tagged") && !is_untagged && !has("never"));
        if run && !self.skip.is_empty() {
            if skip("all") {
                run = has("always") && !skip("always");
            } else if any_in(&self.skip) || (skip("tagged") && !is_untagged) {
                run = false;
            }
        }
        run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn selects_like_ansible() {
        /// (--tags, --skip-tags, task tags, selected)
        type Case = (
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
            bool,
        );
        let cases: &[Case] = &[
            (&[], &[], &[], true),
            (&[], &[], &["a"], true),
            (&[], &[], &["never"], false),
            (&[], &[], &["never", "debug"], false),
            (&["debug"], &[], &["never", "debug"], true),
            (&["never"], &[], &["never"], true),
            (&["a"], &[], &["b"], false),
            (&["a"], &[], &["always"], true),
            (&["a"], &[], &[], false),
            (&["untagged"], &[], &[], true),
            (&["tagged"], &[], &["b"], true),
            (&["tagged"], &[], &[], false),
            (&[], &["a"], &["a", "b"], false),
            (&[], &["a"], &["always"], true),
            (&[], &["always"], &["always"], false),
            (&[], &["all"], &["always"], true),
            (&[], &["all", "always"], &["always"], false),
            (&[], &["all"], &["x"], false),
            (&[], &["tagged"], &["x"], false),
            (&[], &["tagged"], &[], true),
            (&[], &["untagged"], &[], false),
        ];
        for (only, skip, task, want) in cases {
            let f = TagFilter::new(&tags(only), &tags(skip));
            assert_eq!(
                f.selects(&tags(task)),
                *want,
                "--tags {only:?} --skip-tags {skip:?} task {task:?}"
            );
        }
        assert_eq!(
            TagFilter::new(&tags(&["a,b", " c "]), &[]).only,
            tags(&["a", "b", "c"])
        );
    }
}
