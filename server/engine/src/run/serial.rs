//! `serial`: splitting a play's hosts into batches that each run the whole play, and
//! `max_fail_percentage`'s test.
//!
//! Owns Ansible's arithmetic (`pct_to_int`: a percentage of the play's hosts rounded down,
//! at least one; the last size repeats). Must not: template (sizes arrive evaluated).

/// One evaluated batch size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Size {
    Hosts(u64),
    Percent(f64),
}

/// The play's hosts in batches. No sizes: one batch of everyone.
pub fn batches(hosts: &[String], sizes: &[Size]) -> Vec<Vec<String>> {
    if sizes.is_empty() || hosts.is_empty() {
        return vec![hosts.to_vec()];
    }
    let total = hosts.len();
    let count = |s: &Size| -> usize {
        let n = match *s {
            Size::Hosts(0) => total,
            Size::Hosts(n) => n as usize,
            Size::Percent(p) => ((p / 100.0) * total as f64) as usize,
        };
        n.clamp(1, total)
    };
    let mut out = Vec::new();
    let mut rest = hosts;
    let mut i = 0;
    while !rest.is_empty() {
        let n = count(&sizes[i.min(sizes.len() - 1)]).min(rest.len());
        out.push(rest[..n].to_vec());
        rest = &rest[n..];
        i += 1;
    }
    out
}

/// Whether `failed` hosts out of a batch of `size` break `max_fail_percentage` (strictly
/// more than the percentage, as Ansible).
pub fn too_many_failed(failed: usize, size: usize, max: f64) -> bool {
    size > 0 && (failed as f64 / size as f64) * 100.0 > max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}")).collect()
    }

    #[test]
    fn batches_like_ansible() {
        let sizes = |b: Vec<Vec<String>>| b.iter().map(Vec::len).collect::<Vec<_>>();
        let cases: Vec<(usize, Vec<Size>, Vec<usize>)> = vec![
            (5, vec![], vec![5]),
            (5, vec![Size::Hosts(2)], vec![2, 2, 1]),
            (5, vec![Size::Hosts(1), Size::Hosts(3)], vec![1, 3, 1]),
            (10, vec![Size::Percent(30.0)], vec![3, 3, 3, 1]),
            (3, vec![Size::Percent(10.0)], vec![1, 1, 1]),
            (3, vec![Size::Hosts(0)], vec![3]),
            (3, vec![Size::Hosts(9)], vec![3]),
            (4, vec![Size::Hosts(1), Size::Percent(50.0)], vec![1, 2, 1]),
        ];
        for (n, s, want) in cases {
            assert_eq!(sizes(batches(&hosts(n), &s)), want, "{n} hosts, {s:?}");
        }
        assert_eq!(batches(&hosts(3), &[Size::Hosts(2)])[1], vec!["h3"]);
    }

    #[test]
    fn max_fail_percentage_is_strict() {
        assert!(!too_many_failed(1, 2, 50.0));
        assert!(too_many_failed(2, 3, 50.0));
        assert!(too_many_failed(1, 3, 0.0));
        assert!(!too_many_failed(0, 3, 0.0));
    }
}
