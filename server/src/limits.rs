//! Process limits a run over many hosts needs: the open-files limit, raised from its soft value
//! to the hard one at start.
//!
//! Each host holds a TCP socket for the whole run and more descriptors while a file streams
//! to it (~2 per host measured at 200 hosts, see docs/benchmarks.md "Scale"); the usual soft
//! limit of 1024 would fail connections past ~500 hosts with "Too many open files", while the
//! hard limit (often 524288 under systemd) allows far more. Raising the soft limit up to the
//! hard one needs no privilege. Must not: lower a limit, or fail the command when it cannot
//! raise one (the run then goes as far as the old limit lets it).

/// The most descriptors asked for: enough for tens of thousands of hosts, far below what
/// would make `select`-style code elsewhere misbehave if the hard limit is "unlimited".
const WANTED: u64 = 1 << 20;

/// Raise the soft `RLIMIT_NOFILE` to the hard limit (at most [`WANTED`]). Returns the soft
/// limit now in force, or `None` when it could not be read.
pub fn raise_open_files() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    let target = lim.rlim_max.min(WANTED);
    if lim.rlim_cur < target {
        let new = libc::rlimit {
            rlim_cur: target,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own; raising the soft limit up to the hard
        // one is always allowed. On failure the old limit stays, which is fine.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            lim.rlim_cur = target;
        }
    }
    Some(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_the_hard_one() {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        let hard = lim.rlim_max;
        // start from a low soft limit, as a default login has
        let low = libc::rlimit {
            rlim_cur: 256.min(hard),
            rlim_max: hard,
        };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
        assert_eq!(raise_open_files(), Some(hard.min(WANTED)));
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, hard.min(WANTED));
        // and again: nothing to do, nothing lowered
        assert_eq!(raise_open_files(), Some(hard.min(WANTED)));
    }
}
