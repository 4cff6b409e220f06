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

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn main() {
    eprintln!("bench_ssh runs on 64-bit Linux only (getrusage layout, /proc, cgroups)");
    std::process::exit(2);
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn main() {
    if let Err(e) = imp::main() {
        eprintln!("bench_ssh: {e}");
        std::process::exit(1);
    }
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod imp {
    use cairn_engine::ssh::{Connection, Connector, ExecOutput, SshOptions, fanout};
    use cairn_tests::Lab;
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    type Res<T> = Result<T, String>;

    const USAGE: &str = "\
usage: bench_ssh [--first K] [--hosts N] [--commands M] [--rounds R] [--warmup W]
                 [--command CMD] [--json FILE]
  --first K      first lab host: labK (default 7); the hosts are labK..lab(K+N-1)
  --hosts N      hosts in the parallel scenario (default 10); the sequential one uses labK
  --commands M   measured commands per host and scenario (default 200)
  --rounds R     repetitions of the alternating sequence (default 3); medians are reported
  --warmup W     unmeasured commands per connection before measuring (default 10)
  --command CMD  remote command (default 'echo x', whose output is checked)
  --json FILE    also write every raw number as JSON to FILE
Needs the lab environment (eval \"$(scripts/lab env)\") and the hosts running: use scripts/bench-ssh.";

    const USER: &str = "root";
    /// Pause before reading the hosts' CPU, so sshd has finished with the last command.
    const SETTLE: Duration = Duration::from_millis(300);

    struct Config {
        first: u32,
        hosts: usize,
        commands: usize,
        rounds: usize,
        warmup: usize,
        command: String,
        json: Option<PathBuf>,
    }

    impl Config {
        fn parse() -> Res<Config> {
            let mut c = Config {
                first: 7,
                hosts: 10,
                commands: 200,
                rounds: 3,
                warmup: 10,
                command: "echo x".into(),
                json: None,
            };
            let mut args = std::env::args().skip(1);
            while let Some(a) = args.next() {
                if a == "-h" || a == "--help" {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                let mut value = || args.next().ok_or(format!("{a} needs a value\n{USAGE}"));
                let number = |v: String| {
                    v.parse::<usize>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or(format!("{a}: not a positive number: {v}"))
                };
                match a.as_str() {
                    "--first" => c.first = number(value()?)? as u32,
                    "--hosts" => c.hosts = number(value()?)?,
                    "--commands" => c.commands = number(value()?)?,
                    "--rounds" => c.rounds = number(value()?)?,
                    "--warmup" => c.warmup = value()?.parse().map_err(|e| format!("{a}: {e}"))?,
                    "--command" => c.command = value()?,
                    "--json" => c.json = Some(PathBuf::from(value()?)),
                    _ => return Err(format!("unknown argument: {a}\n{USAGE}")),
                }
            }
            Ok(c)
        }

        fn names(&self) -> Vec<String> {
            (0..self.hosts)
                .map(|i| format!("lab{}", self.first as usize + i))
                .collect()
        }

        /// The output the default command must produce; other commands only need exit 0.
        fn expected_stdout(&self) -> Option<&'static [u8]> {
            (self.command == "echo x").then_some(b"x\n".as_slice())
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Tool {
        Cairn,
        OpenSsh,
    }

    impl Tool {
        fn name(self) -> &'static str {
            match self {
                Tool::Cairn => "cairn",
                Tool::OpenSsh => "openssh-mux",
            }
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Scenario {
        Seq,
        Par,
    }

    impl Scenario {
        fn name(self) -> &'static str {
            match self {
                Scenario::Seq => "seq",
                Scenario::Par => "par",
            }
        }
    }

    // ------------------------------------------------------------------ CPU accounting

    #[repr(C)]
    struct Timeval {
        sec: i64,
        usec: i64,
    }

    /// `struct rusage` on 64-bit Linux: two timevals, then 14 `long`s.
    #[repr(C)]
    struct Rusage {
        utime: Timeval,
        stime: Timeval,
        _rest: [i64; 14],
    }

    unsafe extern "C" {
        fn getrusage(who: i32, usage: *mut Rusage) -> i32;
    }

    const RUSAGE_SELF: i32 = 0;
    const RUSAGE_CHILDREN: i32 = -1;

    /// User + system CPU of this process (all its threads) or of its reaped children, in µs.
    fn rusage_us(who: i32) -> u64 {
        let mut r = Rusage {
            utime: Timeval { sec: 0, usec: 0 },
            stime: Timeval { sec: 0, usec: 0 },
            _rest: [0; 14],
        };
        // SAFETY: `r` has the layout of `struct rusage` on 64-bit Linux (the only build target
        // of this module) and getrusage writes nothing beyond it.
        let rc = unsafe { getrusage(who, &mut r) };
        assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
        let us = |t: &Timeval| (t.sec * 1_000_000 + t.usec) as u64;
        us(&r.utime) + us(&r.stime)
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

    /// A cumulative CPU reading; subtract two to get what happened in between.
    #[derive(Clone, Copy, Default, Debug)]
    struct Cpu {
        /// This process (Cairn's transport, or the driver spawning `ssh` clients).
        self_us: u64,
        /// Reaped children: the `ssh` client processes.
        children_us: u64,
        /// ControlMaster processes.
        masters_us: u64,
        /// The hosts' whole cgroups; None when cgroup v2 accounting is not available.
        host_us: Option<u64>,
        /// The part of `host_us` in the hosts' sshd service and user sessions.
        host_sshd_us: Option<u64>,
    }

    impl Cpu {
        fn since(self, before: Cpu) -> Cpu {
            let d = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
            Cpu {
                self_us: self.self_us.saturating_sub(before.self_us),
                children_us: self.children_us.saturating_sub(before.children_us),
                masters_us: self.masters_us.saturating_sub(before.masters_us),
                host_us: d(self.host_us, before.host_us),
                host_sshd_us: d(self.host_sshd_us, before.host_sshd_us),
            }
        }

        fn controller_us(&self) -> u64 {
            self.self_us + self.children_us + self.masters_us
        }
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
            let mut masters_us = 0;
            for &pid in masters {
                masters_us += proc_cpu_us(pid)?;
            }
            let (host_us, host_sshd_us) = self.hosts.read(host_idx);
            Ok(Cpu {
                self_us: rusage_us(RUSAGE_SELF),
                children_us: rusage_us(RUSAGE_CHILDREN),
                masters_us,
                host_us,
                host_sshd_us,
            })
        }
    }

    // ------------------------------------------------------------------ one measurement

    struct Sample {
        tool: Tool,
        scenario: Scenario,
        round: usize,
        hosts: usize,
        commands: usize,
        /// Opening all connections (in parallel), until each is authenticated.
        setup_wall: Duration,
        setup_cpu: Cpu,
        /// The measured commands, first start to last end.
        wall: Duration,
        /// Every measured command's latency, sorted.
        latencies: Vec<Duration>,
        cpu: Cpu,
        /// Time between the two CPU readings (includes SETTLE).
        cpu_window: Duration,
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    impl Sample {
        fn executions(&self) -> usize {
            self.hosts * self.commands
        }
        fn pct_ms(&self, p: f64) -> f64 {
            let n = self.latencies.len();
            let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
            ms(self.latencies[rank.min(n) - 1])
        }
        fn per_sec(&self) -> f64 {
            self.executions() as f64 / self.wall.as_secs_f64()
        }
        fn ctl_ms(&self) -> f64 {
            self.cpu.controller_us() as f64 / 1000.0 / self.executions() as f64
        }
        fn host_ms(&self) -> Option<f64> {
            Some(self.cpu.host_us? as f64 / 1000.0 / self.executions() as f64)
        }
        fn total_ms(&self) -> Option<f64> {
            Some(self.ctl_ms() + self.host_ms()?)
        }
        fn setup_ctl_ms_per_conn(&self) -> f64 {
            self.setup_cpu.controller_us() as f64 / 1000.0 / self.hosts as f64
        }
        fn setup_host_ms_per_conn(&self) -> Option<f64> {
            Some(self.setup_cpu.host_us? as f64 / 1000.0 / self.hosts as f64)
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

    // ------------------------------------------------------------------ Cairn

    async fn run_cairn(b: &Bench, scenario: Scenario, round: usize) -> Res<Sample> {
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
        let mut latencies = Vec::new();
        for l in per_host {
            latencies.extend(l?);
        }
        latencies.sort();
        Ok(Sample {
            tool: Tool::Cairn,
            scenario,
            round,
            hosts: names.len(),
            commands: cfg.commands,
            setup_wall,
            setup_cpu: c1.since(c0),
            wall,
            latencies,
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
        addresses: Vec<String>,
        pids: Vec<u32>,
    }

    impl Drop for Masters<'_> {
        fn drop(&mut self) {
            for (i, a) in self.addresses.iter().enumerate() {
                self.ssh.close(a, self.pids.get(i).copied());
            }
        }
    }

    fn run_openssh(b: &Bench, scenario: Scenario, round: usize) -> Res<Sample> {
        let (lab, cfg, ssh) = (&b.lab, &b.cfg, &b.ssh);
        let (names, idx) = b.set(scenario);
        let addresses: Vec<String> = names.iter().map(|h| lab.address(h)).collect();
        let expect = cfg.expected_stdout();
        let cmd = cfg.command.as_str();
        let mut masters = Masters {
            ssh,
            addresses: addresses.clone(),
            pids: Vec::new(),
        };

        let c0 = b.read(idx, &[])?;
        let t0 = Instant::now();
        let opened: Vec<Res<()>> = std::thread::scope(|s| {
            let hs: Vec<_> = addresses
                .iter()
                .map(|a| s.spawn(move || ssh.open(a)))
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("ssh thread"))
                .collect()
        });
        let setup_wall = t0.elapsed();
        opened.into_iter().collect::<Res<Vec<()>>>()?;
        std::thread::sleep(SETTLE);
        // setup CPU: the `ssh -fN` processes (reaped: kex + auth), the hosts, and what the
        // masters did after they forked off (read once their pids are known)
        let c1 = b.read(idx, &[])?;
        for a in &addresses {
            masters.pids.push(ssh.master_pid(a)?);
        }
        let mut setup_cpu = c1.since(c0);
        setup_cpu.masters_us = b.read(idx, &masters.pids)?.masters_us;

        for a in &addresses {
            for _ in 0..cfg.warmup {
                ssh.exec(a, cmd, expect)?;
            }
        }
        std::thread::sleep(SETTLE);

        let c2 = b.read(idx, &masters.pids)?;
        let w0 = Instant::now();
        let per_host: Vec<Res<Vec<Duration>>> = std::thread::scope(|s| {
            let hs: Vec<_> = addresses
                .iter()
                .map(|a| {
                    s.spawn(move || {
                        (0..cfg.commands)
                            .map(|_| ssh.exec(a, cmd, expect))
                            .collect::<Res<Vec<_>>>()
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("ssh thread"))
                .collect()
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

        let mut latencies = Vec::new();
        for l in per_host {
            latencies.extend(l?);
        }
        latencies.sort();
        Ok(Sample {
            tool: Tool::OpenSsh,
            scenario,
            round,
            hosts: names.len(),
            commands: cfg.commands,
            setup_wall,
            setup_cpu,
            wall,
            latencies,
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
    struct Summary {
        scenario: Scenario,
        tool: Tool,
        hosts: usize,
        commands: usize,
        setup_ms: f64,
        setup_ctl_ms: f64,
        setup_host_ms: Option<f64>,
        wall_s: f64,
        per_sec: f64,
        p50: f64,
        p90: f64,
        p99: f64,
        ctl_ms: f64,
        host_ms: Option<f64>,
        host_sshd_ms: Option<f64>,
        total_ms: Option<f64>,
    }

    fn summarize(samples: &[Sample], scenario: Scenario, tool: Tool) -> Summary {
        let s: Vec<&Sample> = samples
            .iter()
            .filter(|x| x.scenario == scenario && x.tool == tool)
            .collect();
        let m = |f: &dyn Fn(&Sample) -> f64| median(s.iter().map(|x| f(x)).collect());
        let mo = |f: &dyn Fn(&Sample) -> Option<f64>| median_opt(s.iter().map(|x| f(x)).collect());
        Summary {
            scenario,
            tool,
            hosts: s[0].hosts,
            commands: s[0].commands,
            setup_ms: m(&|x| ms(x.setup_wall)),
            setup_ctl_ms: m(&|x| x.setup_ctl_ms_per_conn()),
            setup_host_ms: mo(&|x| x.setup_host_ms_per_conn()),
            wall_s: m(&|x| x.wall.as_secs_f64()),
            per_sec: m(&|x| x.per_sec()),
            p50: m(&|x| x.pct_ms(50.0)),
            p90: m(&|x| x.pct_ms(90.0)),
            p99: m(&|x| x.pct_ms(99.0)),
            ctl_ms: m(&|x| x.ctl_ms()),
            host_ms: mo(&|x| x.host_ms()),
            host_sshd_ms: mo(&|x| {
                Some(x.cpu.host_sshd_us? as f64 / 1000.0 / x.executions() as f64)
            }),
            total_ms: mo(&|x| x.total_ms()),
        }
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
            Scenario::Seq => format!("seq: 1 host x {}", s.commands),
            Scenario::Par => format!("par: {} hosts x {}", s.hosts, s.commands),
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
                s.per_sec,
                s.p50,
                s.p90,
                s.p99,
                s.ctl_ms,
                opt(s.host_ms, 2),
                opt(s.total_ms, 2)
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
                s.setup_ms,
                s.setup_ctl_ms,
                opt(s.setup_host_ms, 1)
            );
        }
        t
    }

    struct Ratios {
        scenario: Scenario,
        wall: f64,
        p50: f64,
        p99: f64,
        ctl: f64,
        host: Option<f64>,
        total: Option<f64>,
    }

    fn ratios(sums: &[Summary]) -> Vec<Ratios> {
        [Scenario::Seq, Scenario::Par]
            .into_iter()
            .filter_map(|sc| {
                let c = sums
                    .iter()
                    .find(|s| s.scenario == sc && s.tool == Tool::Cairn)?;
                let o = sums
                    .iter()
                    .find(|s| s.scenario == sc && s.tool == Tool::OpenSsh)?;
                Some(Ratios {
                    scenario: sc,
                    wall: c.wall_s / o.wall_s,
                    p50: c.p50 / o.p50,
                    p99: c.p99 / o.p99,
                    ctl: c.ctl_ms / o.ctl_ms,
                    host: ratio(c.host_ms, o.host_ms),
                    total: ratio(c.total_ms, o.total_ms),
                })
            })
            .collect()
    }

    // ------------------------------------------------------------------ JSON (no serde here)

    enum J {
        Num(f64),
        Int(u64),
        Str(String),
        Arr(Vec<J>),
        Obj(Vec<(&'static str, J)>),
        Null,
    }

    impl J {
        fn opt(v: Option<f64>) -> J {
            v.map_or(J::Null, J::Num)
        }
        fn opt_int(v: Option<u64>) -> J {
            v.map_or(J::Null, J::Int)
        }
        fn render(&self, out: &mut String, indent: usize) {
            let pad = "  ".repeat(indent + 1);
            match self {
                J::Num(v) if v.is_finite() => {
                    let _ = write!(out, "{}", (v * 1e6).round() / 1e6);
                }
                J::Num(_) | J::Null => out.push_str("null"),
                J::Int(v) => {
                    let _ = write!(out, "{v}");
                }
                J::Str(s) => {
                    out.push('"');
                    for ch in s.chars() {
                        match ch {
                            '"' => out.push_str("\\\""),
                            '\\' => out.push_str("\\\\"),
                            '\n' => out.push_str("\\n"),
                            c if (c as u32) < 0x20 => {
                                let _ = write!(out, "\\u{:04x}", c as u32);
                            }
                            c => out.push(c),
                        }
                    }
                    out.push('"');
                }
                J::Arr(v) if v.iter().all(|x| matches!(x, J::Num(_) | J::Int(_))) => {
                    out.push('[');
                    for (i, x) in v.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        x.render(out, indent + 1);
                    }
                    out.push(']');
                }
                J::Arr(v) => {
                    out.push_str("[\n");
                    for (i, x) in v.iter().enumerate() {
                        out.push_str(&pad);
                        x.render(out, indent + 1);
                        out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                    }
                    out.push_str(&"  ".repeat(indent));
                    out.push(']');
                }
                J::Obj(v) => {
                    out.push_str("{\n");
                    for (i, (k, x)) in v.iter().enumerate() {
                        let _ = write!(out, "{pad}\"{k}\": ");
                        x.render(out, indent + 1);
                        out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                    }
                    out.push_str(&"  ".repeat(indent));
                    out.push('}');
                }
            }
        }
    }

    fn cpu_json(c: &Cpu) -> J {
        J::Obj(vec![
            ("self_us", J::Int(c.self_us)),
            ("children_us", J::Int(c.children_us)),
            ("masters_us", J::Int(c.masters_us)),
            ("controller_us", J::Int(c.controller_us())),
            ("host_us", J::opt_int(c.host_us)),
            ("host_sshd_us", J::opt_int(c.host_sshd_us)),
        ])
    }

    fn sample_json(s: &Sample) -> J {
        J::Obj(vec![
            ("round", J::Int(s.round as u64)),
            ("scenario", J::Str(s.scenario.name().into())),
            ("tool", J::Str(s.tool.name().into())),
            ("hosts", J::Int(s.hosts as u64)),
            ("commands_per_host", J::Int(s.commands as u64)),
            ("setup_wall_ms", J::Num(ms(s.setup_wall))),
            ("setup_cpu", cpu_json(&s.setup_cpu)),
            ("wall_s", J::Num(s.wall.as_secs_f64())),
            ("commands_per_s", J::Num(s.per_sec())),
            ("p50_ms", J::Num(s.pct_ms(50.0))),
            ("p90_ms", J::Num(s.pct_ms(90.0))),
            ("p99_ms", J::Num(s.pct_ms(99.0))),
            ("max_ms", J::Num(s.pct_ms(100.0))),
            ("cpu", cpu_json(&s.cpu)),
            ("cpu_window_s", J::Num(s.cpu_window.as_secs_f64())),
            ("controller_ms_per_cmd_host", J::Num(s.ctl_ms())),
            ("host_ms_per_cmd_host", J::opt(s.host_ms())),
            ("total_ms_per_cmd_host", J::opt(s.total_ms())),
            (
                "latencies_ms",
                J::Arr(s.latencies.iter().map(|d| J::Num(ms(*d))).collect()),
            ),
        ])
    }

    fn summary_json(s: &Summary) -> J {
        J::Obj(vec![
            ("scenario", J::Str(s.scenario.name().into())),
            ("tool", J::Str(s.tool.name().into())),
            ("hosts", J::Int(s.hosts as u64)),
            ("commands_per_host", J::Int(s.commands as u64)),
            ("setup_wall_ms", J::Num(s.setup_ms)),
            ("setup_controller_ms_per_conn", J::Num(s.setup_ctl_ms)),
            ("setup_host_ms_per_conn", J::opt(s.setup_host_ms)),
            ("wall_s", J::Num(s.wall_s)),
            ("commands_per_s", J::Num(s.per_sec)),
            ("p50_ms", J::Num(s.p50)),
            ("p90_ms", J::Num(s.p90)),
            ("p99_ms", J::Num(s.p99)),
            ("controller_ms_per_cmd_host", J::Num(s.ctl_ms)),
            ("host_ms_per_cmd_host", J::opt(s.host_ms)),
            ("host_sshd_ms_per_cmd_host", J::opt(s.host_sshd_ms)),
            ("total_ms_per_cmd_host", J::opt(s.total_ms)),
        ])
    }

    fn ratios_json(r: &Ratios) -> J {
        J::Obj(vec![
            ("scenario", J::Str(r.scenario.name().into())),
            ("wall", J::Num(r.wall)),
            ("p50", J::Num(r.p50)),
            ("p99", J::Num(r.p99)),
            ("controller_cpu", J::Num(r.ctl)),
            ("host_cpu", J::opt(r.host)),
            ("total_cpu", J::opt(r.total)),
        ])
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
        let cfg = Config::parse()?;
        let lab = Lab::from_env();
        let names = cfg.names();
        let hosts = HostCpu::new(&names);
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
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
        println!(
            "machine: {cpus} CPUs ({}), load average {load_start}; client {}",
            cpu_model(),
            openssh_version()
        );
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
            let order = if round % 2 == 1 {
                [Tool::Cairn, Tool::OpenSsh]
            } else {
                [Tool::OpenSsh, Tool::Cairn]
            };
            for scenario in [Scenario::Seq, Scenario::Par] {
                for tool in order {
                    let s = match tool {
                        Tool::Cairn => rt.block_on(run_cairn(&b, scenario, round))?,
                        Tool::OpenSsh => run_openssh(&b, scenario, round)?,
                    };
                    println!(
                        "round {round} {:<3} {:<12} wall {:>7.3} s  p50 {:>6.2} ms  p99 {:>6.2} ms  ctl {:>5.2} ms  host {:>5} ms per cmd·host",
                        scenario.name(),
                        tool.name(),
                        s.wall.as_secs_f64(),
                        s.pct_ms(50.0),
                        s.pct_ms(99.0),
                        s.ctl_ms(),
                        opt(s.host_ms(), 2)
                    );
                    samples.push(s);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&control_dir);
        let load_end = loadavg();

        let sums: Vec<Summary> = [Scenario::Seq, Scenario::Par]
            .into_iter()
            .flat_map(|sc| [Tool::Cairn, Tool::OpenSsh].map(|t| summarize(&samples, sc, t)))
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
                r.ctl,
                opt(r.host, 2),
                opt(r.total, 2)
            );
        }
        let cairn_seq = sums
            .iter()
            .find(|s| s.scenario == Scenario::Seq && s.tool == Tool::Cairn);
        let ssh_seq = sums
            .iter()
            .find(|s| s.scenario == Scenario::Seq && s.tool == Tool::OpenSsh);
        if let (Some(c), Some(o)) = (cairn_seq, ssh_seq) {
            println!(
                "goal \"per-command latency <= OpenSSH mux\": p50 {:.2} vs {:.2} ms: {}",
                c.p50,
                o.p50,
                if c.p50 <= o.p50 { "met" } else { "not met" }
            );
        }
        for s in sums.iter().filter(|s| s.tool == Tool::Cairn) {
            println!(
                "goal \"CPU per command <= 15 ms·host total\" ({}): {} ms: {}",
                s.scenario.name(),
                opt(s.total_ms, 2),
                match s.total_ms {
                    Some(t) if t <= 15.0 => "met",
                    Some(_) => "not met",
                    None => "unknown (no host CPU)",
                }
            );
        }

        if let Some(path) = &cfg.json {
            let doc = J::Obj(vec![
                ("benchmark", J::Str("ssh-transport".into())),
                ("started_unix", J::Int(started)),
                (
                    "params",
                    J::Obj(vec![
                        (
                            "hosts",
                            J::Arr(names.iter().map(|n| J::Str(n.clone())).collect()),
                        ),
                        ("commands_per_host", J::Int(cfg.commands as u64)),
                        ("rounds", J::Int(cfg.rounds as u64)),
                        ("warmup_per_connection", J::Int(cfg.warmup as u64)),
                        ("command", J::Str(cfg.command.clone())),
                        ("user", J::Str(USER.into())),
                    ]),
                ),
                (
                    "machine",
                    J::Obj(vec![
                        ("cpus", J::Int(cpus as u64)),
                        ("cpu_model", J::Str(cpu_model())),
                        ("loadavg_start", J::Str(load_start)),
                        ("loadavg_end", J::Str(load_end)),
                        ("openssh_client", J::Str(openssh_version())),
                        ("host_idle_cpu_ms_per_s", J::opt(idle)),
                    ]),
                ),
                ("summary", J::Arr(sums.iter().map(summary_json).collect())),
                (
                    "ratios_cairn_over_openssh",
                    J::Arr(rs.iter().map(ratios_json).collect()),
                ),
                ("samples", J::Arr(samples.iter().map(sample_json).collect())),
            ]);
            let mut out = String::new();
            doc.render(&mut out, 0);
            out.push('\n');
            std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("raw numbers: {}", path.display());
        }
        Ok(())
    }
}
