//! `bench_ssh`: the SSH transport benchmark. Run it through `scripts/bench-ssh`, which builds it,
//! starts the lab hosts it uses and exports the lab environment (`scripts/lab env`).
//!
//! Compares Cairn's transport (russh: one connection per host, one channel per command) with
//! OpenSSH multiplexing (one ControlMaster per host, then one `ssh` client process per command),
//! against the same lab hosts, in the same run, alternating the tools:
//! - `seq`: M sequential commands over one connection to one host;
//! - `par`: N hosts × M commands, one connection per host, the hosts in parallel and the
//!   commands sequential on each host.
//!
//! It reports numbers and asserts nothing about them (a benchmark, not a test).
//!
//! Connections are opened first (their setup is measured on its own), then a few warm-up
//! commands run, then the measured commands. CPU is read before and after the measured
//! commands only:
//! - controller: this process (`getrusage(RUSAGE_SELF)`), its reaped children
//!   (`RUSAGE_CHILDREN`: the `ssh` client processes) and the ControlMaster processes, which
//!   daemonize and so are nobody's reaped children (`/proc/PID/schedstat`);
//! - hosts: the lab hosts' cgroups (`cpu.stat` `usage_usec` of `cairn-lab/labN`), i.e. everything
//!   each host ran: sshd, the user's shell, and systemd/logind/journald's share.

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("bench_ssh runs on Linux only (/proc, cgroups)");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
fn main() {
    if let Err(e) = imp::main() {
        eprintln!("bench_ssh: {e}");
        std::process::exit(1);
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use cairn_engine::ssh::{Connection, Connector, ExecOutput, SshOptions, fanout};
    use cairn_tests::Lab;
    use clap::Parser;
    use clap::builder::RangedU64ValueParser;
    use serde::Serialize;
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    type Res<T> = Result<T, String>;

    const USER: &str = "root";
    /// Pause before reading the hosts' CPU, so sshd has finished with the last command.
    const SETTLE: Duration = Duration::from_millis(300);

    /// SSH transport benchmark: Cairn's transport (russh) against OpenSSH multiplexing, on lab hosts.
    #[derive(Parser)]
    #[command(
        name = "bench_ssh",
        after_help = "Needs the lab environment (eval \"$(scripts/lab env)\") and the hosts \
                      running: use scripts/bench-ssh."
    )]
    struct Config {
        /// First lab host: labK; the hosts are labK..lab(K+N-1)
        #[arg(long, value_name = "K", default_value_t = 7, value_parser = positive())]
        first: usize,
        /// Hosts in the parallel scenario; the sequential one uses labK
        #[arg(long, value_name = "N", default_value_t = 10, value_parser = positive())]
        hosts: usize,
        /// Measured commands per host and scenario
        #[arg(long, value_name = "M", default_value_t = 200, value_parser = positive())]
        commands: usize,
        /// Repetitions of the alternating sequence; medians are reported
        #[arg(long, value_name = "R", default_value_t = 3, value_parser = positive())]
        rounds: usize,
        /// Unmeasured commands per connection before measuring
        #[arg(long, value_name = "W", default_value_t = 10)]
        warmup: usize,
        /// Remote command (the default's output is checked; other commands only need exit 0)
        #[arg(long, value_name = "CMD", default_value = "echo x")]
        command: String,
        /// Also write every raw number as JSON to FILE
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    }

    /// A number >= 1.
    fn positive() -> RangedU64ValueParser<usize> {
        RangedU64ValueParser::new().range(1..)
    }

    impl Config {
        fn names(&self) -> Vec<String> {
            (0..self.hosts)
                .map(|i| format!("lab{}", self.first + i))
                .collect()
        }

        /// The output the default command must produce; other commands only need exit 0.
        fn expected_stdout(&self) -> Option<&'static [u8]> {
            (self.command == "echo x").then_some(b"x\n".as_slice())
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
    enum Tool {
        #[serde(rename = "cairn")]
        Cairn,
        #[serde(rename = "openssh-mux")]
        OpenSsh,
    }

    impl Tool {
        const ALL: [Tool; 2] = [Tool::Cairn, Tool::OpenSsh];

        fn name(self) -> &'static str {
            match self {
                Tool::Cairn => "cairn",
                Tool::OpenSsh => "openssh-mux",
            }
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
    #[serde(rename_all = "lowercase")]
    enum Scenario {
        Seq,
        Par,
    }

    impl Scenario {
        const ALL: [Scenario; 2] = [Scenario::Seq, Scenario::Par];

        fn name(self) -> &'static str {
            match self {
                Scenario::Seq => "seq",
                Scenario::Par => "par",
            }
        }
    }

    // ------------------------------------------------------------------ CPU accounting

    /// User + system CPU of this process (all its threads) or of its reaped children, in µs.
    fn rusage_us(who: libc::c_int) -> u64 {
        // SAFETY: `struct rusage` is plain integers, for which all zeroes is a valid value.
        let mut r: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `r` is a valid `struct rusage` for getrusage to fill in.
        let rc = unsafe { libc::getrusage(who, &mut r) };
        assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        us(r.ru_utime) + us(r.ru_stime)
    }

    /// CPU time a (single-threaded) process has run, in µs, from `/proc/PID/schedstat` (ns).
    fn proc_cpu_us(pid: u32) -> Res<u64> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
            .map_err(|e| format!("/proc/{pid}/schedstat: {e} (did the ControlMaster exit?)"))?;
        let ns: u64 = s
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or(format!("/proc/{pid}/schedstat: unexpected content {s:?}"))?;
        Ok(ns / 1000)
    }

    /// CPU of the ControlMaster processes `pids`, in µs.
    fn masters_us(pids: &[u32]) -> Res<u64> {
        pids.iter().map(|&pid| proc_cpu_us(pid)).sum()
    }

    /// A cumulative CPU reading in µs; `since` turns two into what was used in between.
    #[derive(Clone, Copy, Debug, Serialize)]
    struct Cpu {
        /// This process (Cairn's transport, or the driver spawning `ssh` clients).
        self_us: u64,
        /// Reaped children: the `ssh` client processes.
        children_us: u64,
        /// ControlMaster processes.
        masters_us: u64,
        /// The controller side: self + children + masters.
        controller_us: u64,
        /// The hosts' whole cgroups; None when cgroup v2 accounting is not available.
        host_us: Option<u64>,
        /// The part of `host_us` in the hosts' sshd service and user sessions.
        host_sshd_us: Option<u64>,
    }

    impl Cpu {
        fn new(
            self_us: u64,
            children_us: u64,
            masters_us: u64,
            host_us: Option<u64>,
            host_sshd_us: Option<u64>,
        ) -> Cpu {
            Cpu {
                self_us,
                children_us,
                masters_us,
                controller_us: self_us + children_us + masters_us,
                host_us,
                host_sshd_us,
            }
        }

        fn since(self, before: Cpu) -> Cpu {
            let d = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
            Cpu::new(
                self.self_us.saturating_sub(before.self_us),
                self.children_us.saturating_sub(before.children_us),
                self.masters_us.saturating_sub(before.masters_us),
                d(self.host_us, before.host_us),
                d(self.host_sshd_us, before.host_sshd_us),
            )
        }
    }

    /// `us` µs of CPU spread over `n` (commands, connections), in ms each.
    fn per_ms(us: u64, n: usize) -> f64 {
        us as f64 / 1000.0 / n as f64
    }

    /// Reads the hosts' cgroup CPU counters (scripts/lab puts host labN, everything it runs,
    /// into `cairn-lab/labN` in the cgroup v2 hierarchy: `/sys/fs/cgroup` on a pure v2 system,
    /// `/sys/fs/cgroup/unified` on a hybrid one).
    struct HostCpu {
        dirs: Vec<PathBuf>,
    }

    impl HostCpu {
        fn new(names: &[String]) -> HostCpu {
            let root = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
                Some(PathBuf::from("/sys/fs/cgroup"))
            } else if Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
                Some(PathBuf::from("/sys/fs/cgroup/unified"))
            } else {
                None
            };
            let dirs = match root {
                Some(r) => names
                    .iter()
                    .map(|n| r.join("cairn-lab").join(n))
                    .filter(|d| d.join("cpu.stat").exists())
                    .collect::<Vec<_>>(),
                None => Vec::new(),
            };
            HostCpu {
                // all or nothing: a partial sum would be a wrong number, not a smaller one
                dirs: if dirs.len() == names.len() {
                    dirs
                } else {
                    Vec::new()
                },
            }
        }

        fn available(&self) -> bool {
            !self.dirs.is_empty()
        }

        fn usage(dir: &Path) -> Option<u64> {
            let s = std::fs::read_to_string(dir.join("cpu.stat")).ok()?;
            s.lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse().ok())
        }

        /// (whole hosts, sshd service + user sessions) in µs, summed over `hosts` (indexes).
        fn read(&self, hosts: &[usize]) -> (Option<u64>, Option<u64>) {
            if !self.available() {
                return (None, None);
            }
            let (mut all, mut sshd) = (Some(0u64), Some(0u64));
            for &i in hosts {
                let d = &self.dirs[i];
                all = all.and_then(|a| Some(a + HostCpu::usage(d)?));
                // inside the host: systemd-nspawn's payload/, then the host's own systemd units;
                // logind moves each SSH login into user.slice/user-UID.slice/session-N.scope
                let p = d.join("payload");
                sshd = sshd.and_then(|s| {
                    let svc = HostCpu::usage(&p.join("system.slice/ssh.service")).unwrap_or(0);
                    Some(s + svc + HostCpu::usage(&p.join("user.slice"))?)
                });
            }
            (all, sshd)
        }
    }

    /// Everything a measurement needs.
    struct Bench {
        lab: Lab,
        cfg: Config,
        hosts: HostCpu,
        ssh: OpenSsh,
        names: Vec<String>,
        /// Indexes of `names`, for `HostCpu::read`.
        all: Vec<usize>,
    }

    impl Bench {
        /// The hosts a scenario uses: the first one, or all.
        fn set(&self, scenario: Scenario) -> (&[String], &[usize]) {
            match scenario {
                Scenario::Seq => (&self.names[..1], &self.all[..1]),
                Scenario::Par => (&self.names, &self.all),
            }
        }

        /// A CPU reading: this process, its children, the given masters, the given hosts.
        fn read(&self, host_idx: &[usize], masters: &[u32]) -> Res<Cpu> {
            let masters_us = masters_us(masters)?;
            let (host_us, host_sshd_us) = self.hosts.read(host_idx);
            Ok(Cpu::new(
                rusage_us(libc::RUSAGE_SELF),
                rusage_us(libc::RUSAGE_CHILDREN),
                masters_us,
                host_us,
                host_sshd_us,
            ))
        }
    }

    // ------------------------------------------------------------------ one measurement

    /// What one tool measured in one scenario, before any statistics.
    struct Run {
        /// Opening all connections (in parallel), until each is authenticated.
        setup_wall: Duration,
        setup_cpu: Cpu,
        /// The measured commands, first start to last end.
        wall: Duration,
        /// Every measured command's latency, in no particular order.
        latencies: Vec<Duration>,
        cpu: Cpu,
        /// Time between the two CPU readings (includes SETTLE).
        cpu_window: Duration,
    }

    /// One run with its figures; serialized as is into the JSON `samples`.
    #[derive(Serialize)]
    struct Sample {
        round: usize,
        scenario: Scenario,
        tool: Tool,
        hosts: usize,
        commands_per_host: usize,
        setup_wall_ms: f64,
        setup_cpu: Cpu,
        wall_s: f64,
        commands_per_s: f64,
        p50_ms: f64,
        p90_ms: f64,
        p99_ms: f64,
        max_ms: f64,
        cpu: Cpu,
        cpu_window_s: f64,
        controller_ms_per_cmd_host: f64,
        host_ms_per_cmd_host: Option<f64>,
        total_ms_per_cmd_host: Option<f64>,
        /// Every measured command's latency, sorted.
        latencies_ms: Vec<f64>,
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    impl Sample {
        fn new(
            tool: Tool,
            scenario: Scenario,
            round: usize,
            hosts: usize,
            commands: usize,
            run: Run,
        ) -> Sample {
            let mut latencies = run.latencies;
            latencies.sort();
            let n = latencies.len();
            let pct_ms = |p: f64| {
                let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
                ms(latencies[rank.min(n) - 1])
            };
            let executions = hosts * commands;
            let controller = per_ms(run.cpu.controller_us, executions);
            let host = run.cpu.host_us.map(|us| per_ms(us, executions));
            Sample {
                round,
                scenario,
                tool,
                hosts,
                commands_per_host: commands,
                setup_wall_ms: ms(run.setup_wall),
                setup_cpu: run.setup_cpu,
                wall_s: run.wall.as_secs_f64(),
                commands_per_s: executions as f64 / run.wall.as_secs_f64(),
                p50_ms: pct_ms(50.0),
                p90_ms: pct_ms(90.0),
                p99_ms: pct_ms(99.0),
                max_ms: pct_ms(100.0),
                cpu: run.cpu,
                cpu_window_s: run.cpu_window.as_secs_f64(),
                controller_ms_per_cmd_host: controller,
                host_ms_per_cmd_host: host,
                total_ms_per_cmd_host: host.map(|h| controller + h),
                latencies_ms: latencies.iter().map(|&d| ms(d)).collect(),
            }
        }
    }

    fn check(host: &str, out: &ExecOutput, expect: Option<&[u8]>) -> Res<()> {
        if !out.success() {
            return Err(format!(
                "{host}: command failed: status {:?} signal {:?} stderr {:?}",
                out.exit_status,
                out.exit_signal,
                out.stderr_str()
            ));
        }
        if let Some(e) = expect
            && out.stdout != e
        {
            return Err(format!("{host}: unexpected output {:?}", out.stdout_str()));
        }
        Ok(())
    }

    /// Each host's latencies, or the first error, as one list.
    fn merge(per_host: Vec<Res<Vec<Duration>>>) -> Res<Vec<Duration>> {
        Ok(per_host.into_iter().collect::<Res<Vec<_>>>()?.concat())
    }

    // ------------------------------------------------------------------ Cairn

    async fn run_cairn(b: &Bench, scenario: Scenario) -> Res<Run> {
        let (lab, cfg) = (&b.lab, &b.cfg);
        let (names, idx) = b.set(scenario);
        let connector = Connector::new(SshOptions::default(), &lab.known_hosts)
            .map_err(|e| format!("{}: {e}", lab.known_hosts.display()))?;
        let targets: Vec<_> = names.iter().map(|h| lab.target(h, USER)).collect();
        let expect = cfg.expected_stdout();
        let cmd = cfg.command.as_str();

        let c0 = b.read(idx, &[])?;
        let t0 = Instant::now();
        let conns = fanout::bounded(targets, names.len(), |t| {
            let connector = &connector;
            async move { connector.connect(&t).await }
        })
        .await;
        let setup_wall = t0.elapsed();
        let conns: Vec<Connection> = conns
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| format!("cairn connect: {e}"))?;
        tokio::time::sleep(SETTLE).await;
        let c1 = b.read(idx, &[])?;

        for c in &conns {
            for _ in 0..cfg.warmup {
                let out = c.run(cmd).await.map_err(|e| e.to_string())?;
                check(c.host(), &out, expect)?;
            }
        }
        tokio::time::sleep(SETTLE).await;

        let c2 = b.read(idx, &[])?;
        let w0 = Instant::now();
        let per_host = fanout::bounded(conns.iter().collect(), conns.len(), |c| async move {
            let mut lat = Vec::with_capacity(cfg.commands);
            for _ in 0..cfg.commands {
                let t = Instant::now();
                let out = c.run(cmd).await.map_err(|e| e.to_string())?;
                lat.push(t.elapsed());
                check(c.host(), &out, expect)?;
            }
            Ok::<_, String>(lat)
        })
        .await;
        let wall = w0.elapsed();
        tokio::time::sleep(SETTLE).await;
        let c3 = b.read(idx, &[])?;
        let cpu_window = w0.elapsed();

        for c in &conns {
            c.close().await;
        }
        Ok(Run {
            setup_wall,
            setup_cpu: c1.since(c0),
            wall,
            latencies: merge(per_host)?,
            cpu: c3.since(c2),
            cpu_window,
        })
    }

    // ------------------------------------------------------------------ OpenSSH

    struct OpenSsh {
        key: PathBuf,
        known_hosts: PathBuf,
        control_dir: PathBuf,
    }

    impl OpenSsh {
        /// What every `ssh` gets: only the lab key, strict host keys against the lab's
        /// known_hosts, no ssh_config files, and the multiplexing options.
        fn command(&self) -> Command {
            let mut c = Command::new("ssh");
            c.arg("-F").arg("/dev/null");
            c.arg("-i").arg(&self.key);
            for o in [
                "IdentitiesOnly=yes".to_string(),
                "BatchMode=yes".into(),
                "StrictHostKeyChecking=yes".into(),
                format!("UserKnownHostsFile={}", self.known_hosts.display()),
                "GlobalKnownHostsFile=/dev/null".into(),
                "LogLevel=ERROR".into(),
                "ConnectTimeout=10".into(),
                "ControlMaster=auto".into(),
                format!("ControlPath={}/%C", self.control_dir.display()),
                "ControlPersist=60".into(),
            ] {
                c.arg("-o").arg(o);
            }
            c.stdin(Stdio::null());
            c
        }

        fn dest(address: &str) -> String {
            format!("{USER}@{address}")
        }

        /// Open the master for `address` (`ssh -fN`: returns once authenticated, the master
        /// stays in the background).
        fn open(&self, address: &str) -> Res<()> {
            let out = self
                .command()
                .args(["-f", "-N"])
                .arg(OpenSsh::dest(address))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .map_err(|e| format!("ssh: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "ssh -fN {address}: {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(())
        }

        /// The master's pid (`ssh -O check` says "Master running (pid=N)").
        fn master_pid(&self, address: &str) -> Res<u32> {
            let out = self
                .command()
                .args(["-O", "check"])
                .arg(OpenSsh::dest(address))
                .output()
                .map_err(|e| format!("ssh: {e}"))?;
            let text = String::from_utf8_lossy(&out.stderr);
            text.split("pid=")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .and_then(|p| p.parse().ok())
                .ok_or(format!("ssh -O check {address}: {}", text.trim()))
        }

        fn close(&self, address: &str, pid: Option<u32>) {
            let _ = self
                .command()
                .args(["-O", "exit"])
                .arg(OpenSsh::dest(address))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Some(pid) = pid {
                for _ in 0..100 {
                    if !Path::new(&format!("/proc/{pid}")).exists() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }

        /// One command as a new `ssh` client process, multiplexed over the master.
        fn exec(&self, address: &str, cmd: &str, expect: Option<&[u8]>) -> Res<Duration> {
            let t = Instant::now();
            let out = self
                .command()
                .arg(OpenSsh::dest(address))
                .arg(cmd)
                .output()
                .map_err(|e| format!("ssh: {e}"))?;
            let took = t.elapsed();
            let as_exec = ExecOutput {
                exit_status: out.status.code().map(|c| c as u32),
                exit_signal: None,
                stdout: out.stdout,
                stderr: out.stderr,
                duration: took,
            };
            check(address, &as_exec, expect)?;
            Ok(took)
        }
    }

    /// Closes the masters whatever happens (ControlPersist=60 would end them anyway).
    struct Masters<'a> {
        ssh: &'a OpenSsh,
        addresses: &'a [String],
        pids: Vec<u32>,
    }

    impl Drop for Masters<'_> {
        fn drop(&mut self) {
            for (i, a) in self.addresses.iter().enumerate() {
                self.ssh.close(a, self.pids.get(i).copied());
            }
        }
    }

    /// `f(address)` for every address, each in a thread of its own; the results in order.
    fn on_each<T: Send>(addresses: &[String], f: impl Fn(&str) -> T + Sync) -> Vec<T> {
        let f = &f;
        std::thread::scope(|s| {
            let hs: Vec<_> = addresses.iter().map(|a| s.spawn(move || f(a))).collect();
            hs.into_iter()
                .map(|h| h.join().expect("ssh thread"))
                .collect()
        })
    }

    fn run_openssh(b: &Bench, scenario: Scenario) -> Res<Run> {
        let (lab, cfg, ssh) = (&b.lab, &b.cfg, &b.ssh);
        let (names, idx) = b.set(scenario);
        let addresses: Vec<String> = names.iter().map(|h| lab.address(h)).collect();
        let expect = cfg.expected_stdout();
        let cmd = cfg.command.as_str();
        let mut masters = Masters {
            ssh,
            addresses: &addresses,
            pids: Vec::new(),
        };

        let c0 = b.read(idx, &[])?;
        let t0 = Instant::now();
        let opened = on_each(&addresses, |a| ssh.open(a));
        let setup_wall = t0.elapsed();
        opened.into_iter().collect::<Res<Vec<()>>>()?;
        std::thread::sleep(SETTLE);
        // setup CPU: the `ssh -fN` processes (reaped: kex + auth), the hosts, and what the
        // masters did after they forked off (read once their pids are known, by `ssh -O check`
        // processes that must not count as children of the setup; c0 had no masters: 0)
        let c1 = b.read(idx, &[])?;
        for a in &addresses {
            masters.pids.push(ssh.master_pid(a)?);
        }
        let setup_cpu = Cpu {
            masters_us: masters_us(&masters.pids)?,
            ..c1
        }
        .since(c0);

        for a in &addresses {
            for _ in 0..cfg.warmup {
                ssh.exec(a, cmd, expect)?;
            }
        }
        std::thread::sleep(SETTLE);

        let c2 = b.read(idx, &masters.pids)?;
        let w0 = Instant::now();
        let per_host = on_each(&addresses, |a| {
            (0..cfg.commands)
                .map(|_| ssh.exec(a, cmd, expect))
                .collect::<Res<Vec<_>>>()
        });
        let wall = w0.elapsed();
        std::thread::sleep(SETTLE);
        let c3 = b.read(idx, &masters.pids)?;
        let cpu_window = w0.elapsed();

        // every command must have gone through the master we measured, not a new connection
        for (a, pid) in addresses.iter().zip(&masters.pids) {
            let now = ssh.master_pid(a)?;
            if now != *pid {
                return Err(format!("{a}: the ControlMaster changed ({pid} -> {now})"));
            }
        }
        drop(masters);

        Ok(Run {
            setup_wall,
            setup_cpu,
            wall,
            latencies: merge(per_host)?,
            cpu: c3.since(c2),
            cpu_window,
        })
    }

    // ------------------------------------------------------------------ report

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }

    fn median_opt(v: Vec<Option<f64>>) -> Option<f64> {
        let v: Option<Vec<f64>> = v.into_iter().collect();
        v.map(median)
    }

    /// Medians over the rounds of one scenario × tool.
    #[derive(Serialize)]
    struct Summary {
        scenario: Scenario,
        tool: Tool,
        hosts: usize,
        commands_per_host: usize,
        setup_wall_ms: f64,
        setup_controller_ms_per_conn: f64,
        setup_host_ms_per_conn: Option<f64>,
        wall_s: f64,
        commands_per_s: f64,
        p50_ms: f64,
        p90_ms: f64,
        p99_ms: f64,
        controller_ms_per_cmd_host: f64,
        host_ms_per_cmd_host: Option<f64>,
        host_sshd_ms_per_cmd_host: Option<f64>,
        total_ms_per_cmd_host: Option<f64>,
    }

    fn summarize(samples: &[Sample], scenario: Scenario, tool: Tool) -> Summary {
        let s: Vec<&Sample> = samples
            .iter()
            .filter(|x| x.scenario == scenario && x.tool == tool)
            .collect();
        let m = |f: fn(&Sample) -> f64| median(s.iter().map(|x| f(x)).collect());
        let mo = |f: fn(&Sample) -> Option<f64>| median_opt(s.iter().map(|x| f(x)).collect());
        Summary {
            scenario,
            tool,
            hosts: s[0].hosts,
            commands_per_host: s[0].commands_per_host,
            setup_wall_ms: m(|x| x.setup_wall_ms),
            setup_controller_ms_per_conn: m(|x| per_ms(x.setup_cpu.controller_us, x.hosts)),
            setup_host_ms_per_conn: mo(|x| Some(per_ms(x.setup_cpu.host_us?, x.hosts))),
            wall_s: m(|x| x.wall_s),
            commands_per_s: m(|x| x.commands_per_s),
            p50_ms: m(|x| x.p50_ms),
            p90_ms: m(|x| x.p90_ms),
            p99_ms: m(|x| x.p99_ms),
            controller_ms_per_cmd_host: m(|x| x.controller_ms_per_cmd_host),
            host_ms_per_cmd_host: mo(|x| x.host_ms_per_cmd_host),
            host_sshd_ms_per_cmd_host: mo(|x| {
                Some(per_ms(x.cpu.host_sshd_us?, x.hosts * x.commands_per_host))
            }),
            total_ms_per_cmd_host: mo(|x| x.total_ms_per_cmd_host),
        }
    }

    fn find(sums: &[Summary], scenario: Scenario, tool: Tool) -> Option<&Summary> {
        sums.iter()
            .find(|s| s.scenario == scenario && s.tool == tool)
    }

    fn opt(v: Option<f64>, prec: usize) -> String {
        v.map_or("n/a".into(), |v| format!("{v:.prec$}"))
    }

    fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
        match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        }
    }

    fn label(s: &Summary) -> String {
        match s.scenario {
            Scenario::Seq => format!("seq: 1 host x {}", s.commands_per_host),
            Scenario::Par => format!("par: {} hosts x {}", s.hosts, s.commands_per_host),
        }
    }

    fn table(sums: &[Summary]) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<22} {:<12} {:>8} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9}",
            "scenario",
            "tool",
            "wall s",
            "cmd/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "ctl CPU",
            "host CPU",
            "total CPU"
        );
        for s in sums {
            let _ = writeln!(
                t,
                "{:<22} {:<12} {:>8.3} {:>7.0} {:>7.2} {:>7.2} {:>7.2} {:>9.2} {:>9} {:>9}",
                label(s),
                s.tool.name(),
                s.wall_s,
                s.commands_per_s,
                s.p50_ms,
                s.p90_ms,
                s.p99_ms,
                s.controller_ms_per_cmd_host,
                opt(s.host_ms_per_cmd_host, 2),
                opt(s.total_ms_per_cmd_host, 2)
            );
        }
        let _ = writeln!(
            t,
            "(CPU columns: ms per command·host; ctl = controller side, host = the hosts' cgroups)"
        );
        t
    }

    fn setup_table(sums: &[Summary]) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<22} {:<12} {:>14} {:>16} {:>16}",
            "connection setup", "tool", "wall ms (all)", "ctl CPU ms/conn", "host CPU ms/conn"
        );
        for s in sums {
            let _ = writeln!(
                t,
                "{:<22} {:<12} {:>14.1} {:>16.1} {:>16}",
                label(s),
                s.tool.name(),
                s.setup_wall_ms,
                s.setup_controller_ms_per_conn,
                opt(s.setup_host_ms_per_conn, 1)
            );
        }
        t
    }

    /// Cairn's figures divided by OpenSSH's, for one scenario.
    #[derive(Serialize)]
    struct Ratios {
        scenario: Scenario,
        wall: f64,
        p50: f64,
        p99: f64,
        controller_cpu: f64,
        host_cpu: Option<f64>,
        total_cpu: Option<f64>,
    }

    fn ratios(sums: &[Summary]) -> Vec<Ratios> {
        Scenario::ALL
            .into_iter()
            .filter_map(|sc| {
                let c = find(sums, sc, Tool::Cairn)?;
                let o = find(sums, sc, Tool::OpenSsh)?;
                Some(Ratios {
                    scenario: sc,
                    wall: c.wall_s / o.wall_s,
                    p50: c.p50_ms / o.p50_ms,
                    p99: c.p99_ms / o.p99_ms,
                    controller_cpu: c.controller_ms_per_cmd_host / o.controller_ms_per_cmd_host,
                    host_cpu: ratio(c.host_ms_per_cmd_host, o.host_ms_per_cmd_host),
                    total_cpu: ratio(c.total_ms_per_cmd_host, o.total_ms_per_cmd_host),
                })
            })
            .collect()
    }

    // ------------------------------------------------------------------ machine facts

    fn loadavg() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }

    fn cpu_model() -> String {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_default()
    }

    fn openssh_version() -> String {
        Command::new("ssh")
            .arg("-V")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
            .unwrap_or_else(|e| format!("ssh -V: {e}"))
    }

    // ------------------------------------------------------------------ main

    pub fn main() -> Res<()> {
        let cfg = Config::parse();
        let lab = Lab::from_env();
        let names = cfg.names();
        let hosts = HostCpu::new(&names);
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let (model, client) = (cpu_model(), openssh_version());
        let control_dir =
            std::env::temp_dir().join(format!("cairn-bench-ssh.{}", std::process::id()));
        std::fs::create_dir_all(&control_dir)
            .map_err(|e| format!("{}: {e}", control_dir.display()))?;
        let ssh = OpenSsh {
            key: lab.key("id_ed25519"),
            known_hosts: lab.known_hosts.clone(),
            control_dir: control_dir.clone(),
        };
        let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let load_start = loadavg();

        println!(
            "SSH transport benchmark: {} hosts ({}..{}), {} commands per host, command {:?}, {} round(s), {} warm-up",
            names.len(),
            names[0],
            names[names.len() - 1],
            cfg.commands,
            cfg.command,
            cfg.rounds,
            cfg.warmup
        );
        println!("machine: {cpus} CPUs ({model}), load average {load_start}; client {client}");
        if !hosts.available() {
            println!("host CPU: no cgroup v2 accounting for the lab hosts: host columns are n/a");
        }

        // The hosts' background CPU (systemd, journald...) while nothing talks to them.
        let all: Vec<usize> = (0..names.len()).collect();
        let idle = (|| {
            let (a, _) = hosts.read(&all);
            let t = Instant::now();
            std::thread::sleep(Duration::from_secs(2));
            let (b, _) = hosts.read(&all);
            Some(b?.saturating_sub(a?) as f64 / 1000.0 / t.elapsed().as_secs_f64())
        })();
        println!(
            "hosts idle: {} ms CPU per second, all {} together (included in the host columns, not subtracted)",
            opt(idle, 2),
            names.len()
        );

        let b = Bench {
            lab,
            cfg,
            hosts,
            ssh,
            names,
            all,
        };
        let (cfg, names) = (&b.cfg, &b.names);
        let mut samples = Vec::new();
        for round in 1..=cfg.rounds {
            // ABBA: the tool that goes first alternates from round to round
            let mut order = Tool::ALL;
            if round % 2 == 0 {
                order.reverse();
            }
            for scenario in Scenario::ALL {
                for tool in order {
                    let run = match tool {
                        Tool::Cairn => rt.block_on(run_cairn(&b, scenario))?,
                        Tool::OpenSsh => run_openssh(&b, scenario)?,
                    };
                    let hosts = b.set(scenario).0.len();
                    let s = Sample::new(tool, scenario, round, hosts, cfg.commands, run);
                    println!(
                        "round {round} {:<3} {:<12} wall {:>7.3} s  p50 {:>6.2} ms  p99 {:>6.2} ms  ctl {:>5.2} ms  host {:>5} ms per cmd·host",
                        scenario.name(),
                        tool.name(),
                        s.wall_s,
                        s.p50_ms,
                        s.p99_ms,
                        s.controller_ms_per_cmd_host,
                        opt(s.host_ms_per_cmd_host, 2)
                    );
                    samples.push(s);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&control_dir);
        let load_end = loadavg();

        let sums: Vec<Summary> = Scenario::ALL
            .into_iter()
            .flat_map(|sc| Tool::ALL.map(|t| summarize(&samples, sc, t)))
            .collect();
        let rs = ratios(&sums);
        println!();
        println!(
            "medians of {} round(s); load average {load_start} at start, {load_end} at end",
            cfg.rounds
        );
        print!("{}", table(&sums));
        println!();
        print!("{}", setup_table(&sums));
        println!();
        println!("ratios cairn / openssh-mux (below 1: cairn is faster or cheaper):");
        for r in &rs {
            println!(
                "  {:<4} wall {:.2}  p50 {:.2}  p99 {:.2}  ctl CPU {:.2}  host CPU {}  total CPU {}",
                r.scenario.name(),
                r.wall,
                r.p50,
                r.p99,
                r.controller_cpu,
                opt(r.host_cpu, 2),
                opt(r.total_cpu, 2)
            );
        }
        let cairn_seq = find(&sums, Scenario::Seq, Tool::Cairn);
        let ssh_seq = find(&sums, Scenario::Seq, Tool::OpenSsh);
        if let (Some(c), Some(o)) = (cairn_seq, ssh_seq) {
            println!(
                "goal \"per-command latency <= OpenSSH mux\": p50 {:.2} vs {:.2} ms: {}",
                c.p50_ms,
                o.p50_ms,
                if c.p50_ms <= o.p50_ms {
                    "met"
                } else {
                    "not met"
                }
            );
        }
        for s in sums.iter().filter(|s| s.tool == Tool::Cairn) {
            println!(
                "goal \"CPU per command <= 15 ms·host total\" ({}): {} ms: {}",
                s.scenario.name(),
                opt(s.total_ms_per_cmd_host, 2),
                match s.total_ms_per_cmd_host {
                    Some(t) if t <= 15.0 => "met",
                    Some(_) => "not met",
                    None => "unknown (no host CPU)",
                }
            );
        }

        if let Some(path) = &cfg.json {
            let doc = serde_json::json!({
                "benchmark": "ssh-transport",
                "started_unix": started,
                "params": {
                    "hosts": names,
                    "commands_per_host": cfg.commands,
                    "rounds": cfg.rounds,
                    "warmup_per_connection": cfg.warmup,
                    "command": cfg.command,
                    "user": USER,
                },
                "machine": {
                    "cpus": cpus,
                    "cpu_model": model,
                    "loadavg_start": load_start,
                    "loadavg_end": load_end,
                    "openssh_client": client,
                    "host_idle_cpu_ms_per_s": idle,
                },
                "summary": sums,
                "ratios_cairn_over_openssh": rs,
                "samples": samples,
            });
            let mut out = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
            out.push('\n');
            std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("raw numbers: {}", path.display());
        }
        Ok(())
    }
}
