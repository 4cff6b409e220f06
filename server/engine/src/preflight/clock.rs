//! Clock offset of a host against the controller, measured by Cairn itself: the host's clock
//! is read over SSH between two readings of the controller's; the reading is assumed to happen
//! mid-way, so the error is at most half the round trip. Several samples are taken and the one
//! with the shortest round trip wins (it bounds the error best), as NTP's clock filter does.
//!
//! Owns the arithmetic (pure, unit-tested with injected readings) and the sampling. Must not:
//! judge the offset (checks.rs compares it with the thresholds).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::ssh::{Connection, SshError};

/// One sample: controller time before, host time, controller time after (seconds since the
/// Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub sent: f64,
    pub host: f64,
    pub received: f64,
}

/// The estimate: host minus controller, in seconds, and its error bound (half the round trip).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Offset {
    pub seconds: f64,
    pub error: f64,
}

/// The offset from the sample with the shortest round trip; `None` without a usable sample.
pub fn estimate(samples: &[Sample]) -> Option<Offset> {
    samples
        .iter()
        .filter(|s| s.received >= s.sent && s.host.is_finite())
        .min_by(|a, b| {
            (a.received - a.sent)
                .partial_cmp(&(b.received - b.sent))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .map(|s| {
            let rtt = s.received - s.sent;
            Offset {
                seconds: s.host - (s.sent + rtt / 2.0),
                error: rtt / 2.0,
            }
        })
}

/// The median of the hosts' offsets (the reference for skew between hosts).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// Take `n` samples on `conn` (`date +%s.%N`; a `date` without `%N` gives whole seconds and a
/// correspondingly larger error, which is reported, not hidden).
pub async fn measure(conn: &Connection, n: usize) -> Result<Option<Offset>, SshError> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let sent = now();
        let out = conn.run("date +%s.%N").await?;
        let received = now();
        let text = out.stdout_str();
        let text = text.trim();
        // Without %N support, date prints a literal "%N" or "N".
        let (secs, whole) = match text.split_once('.') {
            Some((_, frac)) if frac.chars().all(|c| c.is_ascii_digit()) => {
                (text.parse().ok(), false)
            }
            Some((s, _)) => (s.parse::<f64>().ok(), true),
            None => (text.parse().ok(), true),
        };
        if let Some(host) = secs {
            // A whole-second reading is somewhere in [host, host+1): centre it.
            let host = if whole { host + 0.5 } else { host };
            samples.push(Sample {
                sent,
                host,
                received: if whole { received + 1.0 } else { received },
            });
        }
    }
    Ok(estimate(&samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(sent: f64, host: f64, received: f64) -> Sample {
        Sample {
            sent,
            host,
            received,
        }
    }

    #[test]
    fn the_shortest_round_trip_wins_and_bounds_the_error() {
        // Host is 1.5 s ahead; one sample's reply was delayed 200 ms (on the way back).
        let samples = [s(100.0, 101.51, 100.22), s(200.0, 201.504, 200.008)];
        let o = estimate(&samples).unwrap();
        assert!((o.seconds - 1.5).abs() < 1e-9, "{o:?}");
        assert!((o.error - 0.004).abs() < 1e-9);
    }

    #[test]
    fn a_host_behind_is_negative_and_bad_samples_are_ignored() {
        let samples = [
            s(10.0, 7.0, 10.0),
            s(5.0, f64::NAN, 5.001),
            s(9.0, 1.0, 8.0),
        ];
        let o = estimate(&samples).unwrap();
        assert_eq!(o.seconds, -3.0);
        assert_eq!(o.error, 0.0);
        assert_eq!(estimate(&[]), None);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, -1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[0.1, 0.3, 0.2, 10.0]), Some(0.25));
        assert_eq!(median(&[]), None);
    }
}
