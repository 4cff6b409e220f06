//! The SNTP server (RFC 4330 server side, packets as RFC 5905): hosts on site set their clocks
//! from the installer, which has no better time source than its own clock.
//!
//! Owns: the 48-byte NTP header (encode/decode), deciding whether a request is answered
//! ([`answer`]), per-source rate limiting, and the UDP loop ([`run`]). Must not: discipline or
//! even read anything but the local clock (there is no upstream: this is a *local reference*,
//! like chrony's `local` directive or ntpd's LOCAL driver), speak HTTP, or panic on any input.
//!
//! Why the answers look as they do (hosts must accept them):
//! - **leap indicator 0**, not 3 ("unsynchronised"): every client (chrony, ntpd, ntpdate,
//!   systemd-timesyncd) refuses a server that says it is unsynchronised, and the whole point is
//!   that the cluster agrees with the installer, which *is* the reference on an offline site.
//! - **stratum 10 by default**: the convention for an undisciplined local clock (chrony's
//!   `local` directive defaults to `stratum 10`, ntpd's LOCAL(0) was fudged to 10), so a host
//!   that also sees a real (lower-stratum) server prefers that one. Clients accept 1..=15;
//!   chrony refuses 0 (kiss-o'-death) and 16 (unsynchronised).
//! - **reference id 127.127.1.1**: the id chrony and ntpd advertise for a local reference; it
//!   can never equal a client's own address, which chrony would take for a synchronisation loop.
//! - **root delay 0 and root dispersion 10 ms**: the clock is its own reference (no path to
//!   anything upstream). Clients refuse a root distance (delay/2 + dispersion) above their limit
//!   (chrony `maxdistance` 3 s, ntpd 1.5 s), so it must stay small.
//! - **receive timestamp** the kernel's time of arrival (`SO_TIMESTAMPNS`; the time the
//!   datagram is read only where the kernel gives none), **transmit timestamp** written into the
//!   encoded reply right before it is sent; **originate** is the client's
//!   transmit timestamp, copied bit for bit (chrony sends a random one and checks it comes back).

use super::metrics::{Metrics, NtpOutcome};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Size of the NTP header; extension fields and MACs may follow in a request and are ignored.
pub const HEADER_LEN: usize = 48;
/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// Client and server association modes (RFC 5905 §7.3).
pub const MODE_CLIENT: u8 = 3;
pub const MODE_SERVER: u8 = 4;
/// The reference id of a local reference clock, 127.127.1.1.
pub const LOCAL_REFID: [u8; 4] = [127, 127, 1, 1];
/// Root dispersion announced, in NTP short format (16.16 s): 10 ms.
const ROOT_DISPERSION: u32 = (65536 / 100) as u32;
/// log2 seconds of the clock's precision announced: 2^-20 s ≈ 1 µs (reading the system clock
/// through the vDSO costs well under that).
const PRECISION: i8 = -20;

/// An NTP timestamp: seconds since 1900 in the high 32 bits, the fraction in the low 32 (era 0
/// wraps in 2036, as on the wire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn from_system(t: SystemTime) -> Timestamp {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = (d.as_secs() + NTP_UNIX_OFFSET) & 0xffff_ffff;
        let frac = ((u64::from(d.subsec_nanos())) << 32) / 1_000_000_000;
        Timestamp((secs << 32) | frac)
    }

    pub fn now() -> Timestamp {
        Timestamp::from_system(SystemTime::now())
    }
}

/// The NTP header, every field as on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Packet {
    pub leap: u8,
    pub version: u8,
    pub mode: u8,
    pub stratum: u8,
    pub poll: i8,
    pub precision: i8,
    /// NTP short format (16.16 seconds).
    pub root_delay: u32,
    pub root_dispersion: u32,
    pub reference_id: [u8; 4],
    pub reference: Timestamp,
    pub origin: Timestamp,
    pub receive: Timestamp,
    pub transmit: Timestamp,
}

impl Packet {
    /// The header at the start of `b`; `None` if shorter than [`HEADER_LEN`].
    pub fn decode(b: &[u8]) -> Option<Packet> {
        let b: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let ts_at = |i: usize| Timestamp((u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4)));
        Some(Packet {
            leap: b[0] >> 6,
            version: (b[0] >> 3) & 7,
            mode: b[0] & 7,
            stratum: b[1],
            poll: b[2] as i8,
            precision: b[3] as i8,
            root_delay: u32_at(4),
            root_dispersion: u32_at(8),
            reference_id: [b[12], b[13], b[14], b[15]],
            reference: ts_at(16),
            origin: ts_at(24),
            receive: ts_at(32),
            transmit: ts_at(40),
        })
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = (self.leap & 3) << 6 | (self.version & 7) << 3 | (self.mode & 7);
        b[1] = self.stratum;
        b[2] = self.poll as u8;
        b[3] = self.precision as u8;
        b[4..8].copy_from_slice(&self.root_delay.to_be_bytes());
        b[8..12].copy_from_slice(&self.root_dispersion.to_be_bytes());
        b[12..16].copy_from_slice(&self.reference_id);
        b[16..24].copy_from_slice(&self.reference.0.to_be_bytes());
        b[24..32].copy_from_slice(&self.origin.0.to_be_bytes());
        b[32..40].copy_from_slice(&self.receive.0.to_be_bytes());
        set_transmit(&mut b, self.transmit);
        b
    }
}

/// Writes the transmit timestamp into an encoded header (done last, just before sending).
pub fn set_transmit(b: &mut [u8; HEADER_LEN], t: Timestamp) {
    b[40..48].copy_from_slice(&t.0.to_be_bytes());
}

/// What the server says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// 1..=15 (see the module doc for why 10 is the default).
    pub stratum: u8,
    pub reference_id: [u8; 4],
}

impl Default for Config {
    fn default() -> Config {
        Config {
            stratum: 10,
            reference_id: LOCAL_REFID,
        }
    }
}

/// The reply to a request received at `received`, its transmit timestamp still to be set;
/// or why the datagram gets none.
pub fn answer(
    datagram: &[u8],
    cfg: &Config,
    received: Timestamp,
) -> Result<[u8; HEADER_LEN], NtpOutcome> {
    let req = Packet::decode(datagram).ok_or(NtpOutcome::Malformed)?;
    // Versions 1-4 exist; the reply carries the request's (RFC 4330 §5). 0 and 5-7 are noise.
    if !(1..=4).contains(&req.version) {
        return Err(NtpOutcome::Malformed);
    }
    if req.mode != MODE_CLIENT {
        return Err(NtpOutcome::NotClient);
    }
    let reply = Packet {
        leap: 0,
        version: req.version,
        mode: MODE_SERVER,
        stratum: cfg.stratum,
        poll: req.poll,
        precision: PRECISION,
        root_delay: 0,
        root_dispersion: ROOT_DISPERSION,
        reference_id: cfg.reference_id,
        // The local clock is its own reference: last "set" at the start of this second.
        reference: Timestamp(received.0 & !0xffff_ffff),
        origin: req.transmit,
        receive: received,
        transmit: Timestamp(0),
    };
    Ok(reply.encode())
}

/// Token bucket per source address: `burst` requests at once, then `per_second`. A client polls
/// every 64-1024 s after an initial burst of 4-8 (`iburst`), so only floods are limited.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

/// Sources tracked at most; past that, idle sources (full buckets) are forgotten.
const MAX_SOURCES: usize = 65_536;

impl RateLimiter {
    pub fn new(per_second: f64, burst: f64) -> RateLimiter {
        RateLimiter {
            per_second,
            burst,
            buckets: HashMap::new(),
        }
    }

    /// Whether a request from `ip` at `now` is within its allowance (and takes a token if so).
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.buckets.len() >= MAX_SOURCES && !self.buckets.contains_key(&ip) {
            let (rate, burst) = (self.per_second, self.burst);
            self.buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
            if self.buckets.len() >= MAX_SOURCES {
                return false;
            }
        }
        let (tokens, at) = self.buckets.entry(ip).or_insert((self.burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.per_second)
            .min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Answers on `socket` until the task is dropped. Every datagram is counted in `metrics` with
/// its outcome; nothing a client sends can end the loop.
pub async fn run(socket: UdpSocket, cfg: Config, metrics: Arc<Metrics>) {
    let mut limiter = RateLimiter::new(8.0, 16.0);
    let mut buf = [0u8; 1024];
    let kernel_stamps = enable_receive_timestamps(&socket);
    if !kernel_stamps {
        tracing::warn!("ntp: no kernel receive timestamps; using the time the datagram is read");
    }
    loop {
        let got = match socket.readable().await {
            Ok(()) => socket.try_io(Interest::READABLE, || {
                recv_stamped(socket.as_raw_fd(), &mut buf)
            }),
            Err(e) => Err(e),
        };
        let (n, peer, stamped) = match got {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                // ICMP errors from earlier sends surface here on some systems: not fatal.
                tracing::debug!("ntp: receive: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // The kernel's time of arrival, not when this task got to run (which under load can be
        // milliseconds later, and would show as half that much offset on the client).
        let received = stamped.map_or_else(Timestamp::now, Timestamp::from_system);
        let outcome = match answer(&buf[..n], &cfg, received) {
            Ok(_) if !limiter.allow(peer.ip(), Instant::now()) => NtpOutcome::RateLimited,
            Ok(mut reply) => {
                set_transmit(&mut reply, Timestamp::now());
                match socket.send_to(&reply, peer).await {
                    Ok(_) => NtpOutcome::Answered,
                    Err(e) => {
                        tracing::debug!("ntp: send to {peer}: {e}");
                        NtpOutcome::SendFailed
                    }
                }
            }
            Err(why) => why,
        };
        metrics.ntp(outcome);
    }
}

/// Asks the kernel to stamp each received datagram (`SO_TIMESTAMPNS`); false if it will not.
fn enable_receive_timestamps(socket: &UdpSocket) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, and a pointer to a c_int with its size.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    r == 0
}

/// One datagram (non-blocking): its length, its sender, and the kernel's receive timestamp if
/// one came with it.
fn recv_stamped(
    fd: std::os::fd::RawFd,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr, Option<SystemTime>)> {
    // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for one timespec control message, aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut addr).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` points at a live buffer of the length given with it.
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut when = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
    // msg_controllen; the data of an SCM_TIMESTAMPNS message is a timespec (read unaligned).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                when = u64::try_from(ts.tv_sec)
                    .ok()
                    .map(|s| UNIX_EPOCH + Duration::new(s, ts.tv_nsec as u32));
            }
            c = libc::CMSG_NXTHDR(&raw const msg, c);
        }
    }
    let peer = match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (family AF_INET) into the storage.
            let a: libc::sockaddr_in = unsafe { std::ptr::read((&raw const addr).cast()) };
            SocketAddr::from((
                std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, a sockaddr_in6.
            let a: libc::sockaddr_in6 = unsafe { std::ptr::read((&raw const addr).cast()) };
            SocketAddr::from((
                std::net::Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
            ))
        }
        _ => return Err(std::io::ErrorKind::InvalidData.into()),
    };
    Ok((n as usize, peer, when))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Requests captured from real clients on loopback (the datagram bytes as sent).
    const CHRONYD_4_3: &str = "230006200000000000000000000000000000000000000000\
                               00000000000000000000000000000000e0a7e4c0d95d9f8d";
    const CHRONYD_4_3_B: &str = "230006200000000000000000000000000000000000000000\
                                 00000000000000000000000000000000915d2984e0faae15";
    /// Python `ntplib` (version=3), which sends what classic `ntpdate`-style SNTP clients do: a
    /// header that is zero but for the first byte and the transmit timestamp.
    const NTPLIB_V3: &str = "1b0000000000000000000000000000000000000000000000\
                             00000000000000000000000000000000eeae540393306000";

    #[test]
    fn real_client_requests_are_answered_as_a_server_would() {
        let cfg = Config::default();
        let rx = Timestamp::from_system(UNIX_EPOCH + Duration::new(1_795_406_400, 500_000_000));
        for (name, fixture, version, poll) in [
            ("chronyd 4.3", CHRONYD_4_3, 4, 6),
            ("chronyd 4.3 (2)", CHRONYD_4_3_B, 4, 6),
            ("ntplib v3", NTPLIB_V3, 3, 0),
        ] {
            let bytes = hex(fixture);
            let req = Packet::decode(&bytes).unwrap();
            assert_eq!((req.mode, req.version), (MODE_CLIENT, version), "{name}");
            let mut reply = answer(&bytes, &cfg, rx).expect(name);
            let tx = Timestamp(rx.0 + 1);
            set_transmit(&mut reply, tx);
            let r = Packet::decode(&reply).unwrap();
            assert_eq!(
                r,
                Packet {
                    leap: 0,
                    version,
                    mode: MODE_SERVER,
                    stratum: 10,
                    poll,
                    precision: -20,
                    root_delay: 0,
                    root_dispersion: 655,
                    reference_id: [127, 127, 1, 1],
                    reference: Timestamp(rx.0 & !0xffff_ffff),
                    origin: req.transmit,
                    receive: rx,
                    transmit: tx,
                },
                "{name}"
            );
            // Originate is the request's transmit field, byte for byte.
            assert_eq!(reply[24..32], bytes[40..48], "{name}");
            assert_eq!(reply[0], version << 3 | 4, "{name}");
        }
    }

    #[test]
    fn what_is_not_a_client_request_gets_no_answer() {
        let cfg = Config::default();
        let good = hex(CHRONYD_4_3);
        let with = |b0: u8| {
            let mut b = good.clone();
            b[0] = b0;
            b
        };
        let mut long = good.clone();
        long.extend_from_slice(&[0u8; 20]); // a MAC after the header: ignored, still answered
        for (name, bytes, want) in [
            ("empty", vec![], Err(NtpOutcome::Malformed)),
            ("47 bytes", good[..47].to_vec(), Err(NtpOutcome::Malformed)),
            ("version 0", with(0x03), Err(NtpOutcome::Malformed)),
            ("version 5", with(0x2b), Err(NtpOutcome::Malformed)),
            ("server mode", with(0x24), Err(NtpOutcome::NotClient)),
            ("symmetric active", with(0x21), Err(NtpOutcome::NotClient)),
            ("broadcast", with(0x25), Err(NtpOutcome::NotClient)),
            ("control (ntpq)", with(0x16), Err(NtpOutcome::NotClient)),
            ("private (ntpdc)", with(0x17), Err(NtpOutcome::NotClient)),
            ("version 1 client", with(0x0b), Ok(1)),
            ("version 2 client", with(0x13), Ok(2)),
            ("with a MAC", long, Ok(4)),
        ] {
            let got = answer(&bytes, &cfg, Timestamp(1 << 32)).map(|r| r[0] >> 3 & 7);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn garbage_never_panics_and_replies_are_always_server_mode() {
        // A fixed-seed xorshift: reproducible, no dependency.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let cfg = Config::default();
        let mut answered = 0;
        for _ in 0..200_000 {
            let len = (next() % 80) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Ok(r) = answer(&bytes, &cfg, Timestamp::now()) {
                answered += 1;
                let p = Packet::decode(&r).unwrap();
                assert_eq!((p.mode, p.leap, p.stratum), (MODE_SERVER, 0, 10));
                assert_eq!(p.origin, Packet::decode(&bytes).unwrap().transmit);
            }
        }
        // About 1/8 (mode) × 4/8 (version) × 32/80 (length) of random datagrams are requests.
        assert!((1_000..10_000).contains(&answered), "{answered}");
    }

    #[test]
    fn encode_decode_round_trip() {
        let p = Packet {
            leap: 2,
            version: 4,
            mode: 4,
            stratum: 3,
            poll: -6,
            precision: -24,
            root_delay: 0x0001_8000,
            root_dispersion: 7,
            reference_id: *b"LOCL",
            reference: Timestamp(u64::MAX),
            origin: Timestamp(1),
            receive: Timestamp(0x0123_4567_89ab_cdef),
            transmit: Timestamp(42),
        };
        assert_eq!(Packet::decode(&p.encode()), Some(p));
    }

    #[test]
    fn timestamps_are_ntp_era_0() {
        for (unix, nanos, want) in [
            (0, 0, 0x83aa_7e80_0000_0000u64),
            (0, 500_000_000, 0x83aa_7e80_8000_0000),
            (
                1_795_406_400,
                250_000_000,
                (1_795_406_400 + 2_208_988_800) << 32 | 0x4000_0000,
            ),
            // 2036-02-07T06:28:16Z: era 1 starts, the seconds wrap to 0.
            (2_085_978_496, 0, 0),
        ] {
            let t = Timestamp::from_system(UNIX_EPOCH + Duration::new(unix, nanos));
            assert_eq!(t.0, want, "{unix}.{nanos}");
        }
    }

    #[tokio::test]
    async fn the_udp_loop_answers_drops_and_counts() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let metrics = Arc::new(Metrics::default());
        let task = tokio::spawn(run(server, Config::default(), metrics.clone()));
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let request = hex(CHRONYD_4_3);
        let mut buf = [0u8; 128];
        let recv = async |buf: &mut [u8]| {
            tokio::time::timeout(Duration::from_millis(300), client.recv_from(buf)).await
        };
        // Garbage first: nothing comes back.
        client.send_to(&request[..20], addr).await.unwrap();
        client.send_to(&[0x24; 48], addr).await.unwrap();
        assert!(recv(&mut buf).await.is_err());
        // A burst of 20 requests: the first 16 (the bucket) are answered, at once.
        let before = Timestamp::now();
        for _ in 0..20 {
            client.send_to(&request, addr).await.unwrap();
        }
        let mut answers = 0;
        while let Ok(Ok((n, _))) = recv(&mut buf).await {
            let p = Packet::decode(&buf[..n]).unwrap();
            assert_eq!(
                (n, p.mode, p.origin.0),
                (48, MODE_SERVER, 0xe0a7_e4c0_d95d_9f8d)
            );
            // The server's clock is ours: receive ≤ transmit, both within this test's time.
            assert!(before.0 <= p.receive.0 && p.receive.0 <= p.transmit.0);
            assert!(p.transmit.0 <= Timestamp::now().0);
            answers += 1;
        }
        task.abort();
        // 16 from the bucket; one more only if the burst took over 1/8 s to arrive (a very
        // loaded machine): the refill is 8 per second.
        assert!((16..=17).contains(&answers), "{answers}");
        let text = metrics.render();
        for (outcome, want) in [
            ("answered", answers),
            ("rate_limited", 20 - answers),
            ("malformed", 1),
            ("not_client", 1),
        ] {
            let line = format!("cairn_ntp_requests_total{{outcome=\"{outcome}\"}} {want}");
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }

    #[tokio::test]
    async fn the_receive_time_is_the_kernels_not_when_the_datagram_is_read() {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(server) = UdpSocket::bind(bind).await else {
                continue; // no IPv6 on this machine
            };
            assert!(enable_receive_timestamps(&server), "{bind}");
            let client = UdpSocket::bind(bind).await.unwrap();
            let mut buf = [0u8; 16];
            // The kernel switches arrival stamping on a moment later (deferred work) when no
            // socket had it on; until then it stamps datagrams when they are read. So: up to 10
            // datagrams, each read 200 ms after it was sent, until one keeps its arrival time.
            let mut late = Vec::new();
            for _ in 0..10 {
                let sent = SystemTime::now();
                client
                    .send_to(b"x", server.local_addr().unwrap())
                    .await
                    .unwrap();
                std::thread::sleep(Duration::from_millis(200));
                let (n, peer, when) = recv_stamped(server.as_raw_fd(), &mut buf).unwrap();
                assert_eq!((n, peer), (1, client.local_addr().unwrap()), "{bind}");
                let when = when.expect("a kernel timestamp");
                let arrived_after = when.duration_since(sent).unwrap_or_default();
                if arrived_after < Duration::from_millis(100) {
                    break;
                }
                late.push(arrived_after);
            }
            assert!(late.len() < 10, "{bind}: every stamp was late: {late:?}");
            // Nothing more: a non-blocking read says so.
            let e = recv_stamped(server.as_raw_fd(), &mut buf).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
        }
    }

    #[test]
    fn rate_limit_allows_a_burst_then_the_rate_per_source() {
        let mut rl = RateLimiter::new(2.0, 4.0);
        let t0 = Instant::now();
        let a: IpAddr = "10.213.0.17".parse().unwrap();
        let b: IpAddr = "10.213.0.18".parse().unwrap();
        let allowed = (0..10).filter(|_| rl.allow(a, t0)).count();
        assert_eq!(allowed, 4);
        // Another source has its own bucket.
        assert!(rl.allow(b, t0));
        // Half a second later: one more token (2 per second).
        let t1 = t0 + Duration::from_millis(500);
        assert!(rl.allow(a, t1));
        assert!(!rl.allow(a, t1));
        // Long idle: the bucket is full again, never fuller.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| rl.allow(a, t2)).count(), 4);
    }
}
