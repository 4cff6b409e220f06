//! The progress bar of a playbook run in a terminal: one bar per play, on stderr under the
//! Ansible-style lines, showing the play's tasks started out of its tasks, the time spent in
//! the play and an estimate of the time left.
//!
//! The number of tasks of a play is what `--list-tasks` counts (its static tasks, roles and
//! imports, the tag filter applied); tasks of a dynamic `include_tasks` and `serial` batches
//! add to it as they start, so the bar's end moves out rather than overflowing, and the
//! estimate (indicatif's, from the pace so far) is a guess, shown as `~`.
//!
//! Owns: the bar's lifecycle and drawing. Must not: print the run's lines (the renderer does,
//! through [`PlayProgress::suspend`] so they never cut through the bar).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct PlayProgress {
    /// The tasks of each play, in the order they run.
    plays: Vec<u64>,
    /// Plays started so far.
    started_plays: usize,
    /// Tasks started in the current play.
    tasks: u64,
    bar: Option<ProgressBar>,
}

impl PlayProgress {
    /// A bar for plays of these task counts, or None when stderr is not a terminal (a log,
    /// CI, a pipe: there a redrawn line would be noise).
    pub fn for_terminal(plays: Vec<u64>) -> Option<PlayProgress> {
        use std::io::IsTerminal as _;
        std::io::stderr().is_terminal().then_some(PlayProgress {
            plays,
            started_plays: 0,
            tasks: 0,
            bar: None,
        })
    }

    pub fn play_started(&mut self, name: &str) {
        self.finish();
        let total = self
            .plays
            .get(self.started_plays)
            .copied()
            .unwrap_or(1)
            .max(1);
        self.started_plays += 1;
        self.tasks = 0;
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:25}] {pos}/{len} tasks, {elapsed} in this play, ~{eta} left  {wide_msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        let mut prefix: String = name.chars().take(30).collect();
        if prefix.len() < name.len() {
            prefix.push('…');
        }
        bar.set_prefix(format!(
            "play {}/{}: {prefix}",
            self.started_plays,
            self.plays.len()
        ));
        // The time keeps moving during a long task (a package install), not only at events.
        bar.enable_steady_tick(std::time::Duration::from_secs(1));
        self.bar = Some(bar);
    }

    pub fn task_started(&mut self, name: &str) {
        let Some(bar) = &self.bar else { return };
        self.tasks += 1;
        if self.tasks > bar.length().unwrap_or(0) {
            bar.set_length(self.tasks);
        }
        // Tasks done: those started before this one.
        bar.set_position(self.tasks - 1);
        bar.set_message(name.to_string());
    }

    /// Runs `print` with the bar taken off the screen, then draws it again.
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(b) => b.suspend(print),
            None => print(),
        }
    }

    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bar exactly when stderr is a terminal (in CI it is not: no bar at all).
    #[test]
    fn a_bar_only_on_a_terminal() {
        use std::io::IsTerminal as _;
        assert_eq!(
            PlayProgress::for_terminal(vec![3]).is_some(),
            std::io::stderr().is_terminal()
        );
    }

    /// The bar's end moves out when more tasks start than were counted (includes, batches).
    #[test]
    fn more_tasks_than_counted_extend_the_bar() {
        let mut p = PlayProgress {
            plays: vec![2, 5],
            started_plays: 0,
            tasks: 0,
            bar: None,
        };
        p.play_started("first");
        let hidden = ProgressBar::with_draw_target(Some(2), ProgressDrawTarget::hidden());
        p.bar = Some(hidden);
        for t in ["a", "b", "c"] {
            p.task_started(t);
        }
        let bar = p.bar.as_ref().unwrap();
        assert_eq!((bar.position(), bar.length()), (2, Some(3)));
        p.play_started("second");
        assert_eq!(p.bar.as_ref().unwrap().length(), Some(5));
        p.finish();
        assert!(p.bar.is_none());
    }
}
