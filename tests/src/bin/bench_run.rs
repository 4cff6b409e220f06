//! `bench_run`: runs one command and measures what it cost, for `scripts/bench-vs-ansible`.
//!
//! Measures, for the command's whole process tree:
//! - wall time, from spawning the command to its exit;
//! - controller CPU (user and system): `wait4`'s rusage of every process this helper reaps. It
//!   makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`) first, so processes that detach
//!   from the tree (OpenSSH's `ControlPersist` masters daemonize) are re-parented to it instead
//!   of to init; when the command has exited, the helper sends those leftovers SIGTERM and reaps
//!   them too, so their CPU is counted. A process's rusage includes its own reaped
//!   descendants', so every process of the tree is counted exactly once;
//! - the command's own process (not its children): peak resident memory (`ru_maxrss` from
//!   `wait4`), and the peak number of open file descriptors and of threads, sampled from
//!   `/proc/PID/fd` and `/proc/PID/status` every 50 ms by a thread (a peak shorter than that
//!   can be missed);
//! - target CPU: the sum of the lab hosts' cgroup v2 `cpu.stat` `usage_usec` (`cairn-lab/labN`,
//!   as `scripts/lab` sets them up; see `bench_ssh.rs`) before and after, read after a short
//!   settle pause, so everything the hosts did for the command (sshd, shells, Python, journald's
//!   share) is in it.
//!
//! Prints one JSON object on stdout. It judges nothing: the caller checks the exit status and
//! the command's output. The command's stdin is /dev/null; its stdout and stderr go to `--log`.

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("bench_run runs on Linux only (/proc, cgroups, subreaper)");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
fn main() {
    match imp::main() {
        Ok(()) => {}
        Err(e) => {
            eprintln!("bench_run: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use clap::Parser;
    use serde::Serialize;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    type Res<T> = Result<T, String>;

    /// Run a command and print its wall time, process-tree CPU and the lab hosts' CPU as JSON.
    #[derive(Parser)]
    #[command(name = "bench_run")]
    struct Args {
        /// Lab hosts whose cgroup CPU is summed (comma-separated names, e.g. lab10,lab11).
        #[arg(long, value_delimiter = ',', required = true)]
        hosts: Vec<String>,
        /// Pause (ms) after the command before the hosts' CPU is read.
        #[arg(long, default_value_t = 300)]
        settle_ms: u64,
        /// File that receives the command's stdout and stderr (default: inherited).
        #[arg(long)]
        log: Option<PathBuf>,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    }

    #[derive(Serialize)]
    struct Report {
        /// The command's exit code; -1 when a signal ended it.
        rc: i32,
        wall_s: f64,
        /// Controller CPU of the whole process tree, user and system.
        ctl_user_s: f64,
        ctl_sys_s: f64,
        /// Processes reaped that were not the command itself (re-parented leftovers).
        leftovers: usize,
        /// Sum of the hosts' cgroup `usage_usec` deltas.
        host_s: f64,
        /// The command's own peak resident set (MiB), from its `ru_maxrss`.
        rss_mb: f64,
        /// The command's own peak open file descriptors and threads, sampled.
        fds_max: usize,
        threads_max: usize,
        /// 1-minute load average before and after.
        load_before: f64,
        load_after: f64,
    }

    fn cgroup_root() -> Res<PathBuf> {
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            Ok(PathBuf::from("/sys/fs/cgroup"))
        } else if Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
            Ok(PathBuf::from("/sys/fs/cgroup/unified"))
        } else {
            Err("no cgroup v2 hierarchy (/sys/fs/cgroup or /sys/fs/cgroup/unified)".into())
        }
    }

    /// Sum of `usage_usec` over the hosts' cgroups; every host must have one (a partial sum
    /// would be a wrong number, not a smaller one).
    fn host_usec(dirs: &[PathBuf]) -> Res<u64> {
        let mut sum = 0;
        for d in dirs {
            let f = d.join("cpu.stat");
            let s = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let v: u64 = s
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| format!("{}: no usage_usec line", f.display()))?;
            sum += v;
        }
        Ok(sum)
    }

    fn load1() -> f64 {
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(f64::NAN)
    }

    fn tv(t: libc::timeval) -> f64 {
        t.tv_sec as f64 + t.tv_usec as f64 / 1e6
    }

    /// Pids whose parent is `me` (the re-parented leftovers, once the command has exited).
    fn children_of(me: u32) -> Vec<i32> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return out;
        };
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(me) {
                out.push(pid);
            }
        }
        out
    }

    /// Open file descriptors and threads of `pid` now (`None` once it is gone).
    fn fds_threads(pid: i32) -> Option<(usize, usize)> {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let threads = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok())?;
        Some((fds, threads))
    }

    /// Samples `pid` every 50 ms until `stop` is set; returns the peaks.
    fn sampler(
        pid: i32,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> std::thread::JoinHandle<(usize, usize)> {
        std::thread::spawn(move || {
            let mut peak = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some((f, t)) = fds_threads(pid) {
                    peak = (peak.0.max(f), peak.1.max(t));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    }

    pub fn main() -> Res<()> {
        let args = Args::parse();
        let root = cgroup_root()?;
        let dirs: Vec<PathBuf> = args
            .hosts
            .iter()
            .map(|h| root.join("cairn-lab").join(h))
            .collect();
        // SAFETY: prctl with integer arguments only changes this process's own attributes.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            return Err(format!(
                "prctl(PR_SET_CHILD_SUBREAPER): {}",
                std::io::Error::last_os_error()
            ));
        }
        let load_before = load1();
        let host0 = host_usec(&dirs)?;
        let t0 = Instant::now();
        let mut cmd = Command::new(&args.command[0]);
        cmd.args(&args.command[1..]).stdin(Stdio::null());
        if let Some(log) = &args.log {
            let f = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
            let g = f.try_clone().map_err(|e| e.to_string())?;
            cmd.stdout(f).stderr(g);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", args.command[0]))?;
        let main_pid = child.id() as i32;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let peaks = sampler(main_pid, stop.clone());
        let mut rss_mb = 0.0;
        let (mut user, mut sys) = (0.0, 0.0);
        let mut rc = None;
        let mut wall = 0.0;
        let mut leftovers = 0;
        // Phase 1: until the command exits (reaping whatever else exits meanwhile). Phase 2:
        // what is left are detached processes it started (ControlPersist masters): SIGTERM
        // them (SIGKILL after 10 s) until none is left, so their CPU is reaped and counted.
        let mut deadline = None;
        loop {
            let mut status = 0;
            // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            let flags = if rc.is_some() { libc::WNOHANG } else { 0 };
            // SAFETY: valid pointers to locals; -1 waits for any child.
            let pid = unsafe { libc::wait4(-1, &mut status, flags, &mut ru) };
            if pid < 0 {
                let e = std::io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::ECHILD) => break,
                    _ => return Err(format!("wait4: {e}")),
                }
            }
            if pid == 0 {
                // phase 2, nothing exited yet: (re)signal the leftovers, then look again
                let started: &mut Instant = deadline.get_or_insert_with(Instant::now);
                let sig = if started.elapsed() > Duration::from_secs(10) {
                    libc::SIGKILL
                } else {
                    libc::SIGTERM
                };
                for p in children_of(std::process::id()) {
                    // SAFETY: sending a signal to a pid that is our own child.
                    unsafe { libc::kill(p, sig) };
                }
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            user += tv(ru.ru_utime);
            sys += tv(ru.ru_stime);
            if pid == main_pid {
                wall = t0.elapsed().as_secs_f64();
                // ru_maxrss is in KiB on Linux
                rss_mb = ru.ru_maxrss as f64 / 1024.0;
                rc = Some(if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    -1
                });
            } else {
                leftovers += 1;
            }
        }
        std::mem::forget(child); // reaped above by wait4
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (fds_max, threads_max) = peaks.join().map_err(|_| "the sampler panicked")?;
        std::thread::sleep(Duration::from_millis(args.settle_ms));
        let host1 = host_usec(&dirs)?;
        let report = Report {
            rc: rc.ok_or("the command was never reaped")?,
            wall_s: wall,
            ctl_user_s: user,
            ctl_sys_s: sys,
            leftovers,
            host_s: host1.saturating_sub(host0) as f64 / 1e6,
            rss_mb,
            fds_max,
            threads_max,
            load_before,
            load_after: load1(),
        };
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
        Ok(())
    }
}
