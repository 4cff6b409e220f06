//! The `Range: bytes=…` request header (RFC 9110 §14): one range, or none.
//!
//! Owns: parsing and resolving a range against a length. Must not: touch files or responses.
//! Multiple ranges and malformed headers are ignored (the whole entity is sent), which RFC 9110
//! allows; apt and curl only ever ask for one range.

/// What to send for a request against an entity of a given length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// No (usable) Range header: 200 with everything.
    Full,
    /// 206 with bytes `start..=end` (inclusive, as in `Content-Range`).
    Partial { start: u64, end: u64 },
    /// 416: a syntactically valid range that selects nothing.
    Unsatisfiable,
}

/// Resolves the `Range` header value `header` (if any) against `len` bytes.
pub fn resolve(header: Option<&str>, len: u64) -> Range {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    let num = |s: &str| -> Option<u64> {
        // u64::from_str accepts a leading `+`; the grammar is digits only.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (first, last) {
        // Suffix: the last N bytes.
        ("", n) => match num(n) {
            None => Range::Full,
            Some(0) => Range::Unsatisfiable,
            Some(_) if len == 0 => Range::Unsatisfiable,
            Some(n) => Range::Partial {
                start: len.saturating_sub(n),
                end: len - 1,
            },
        },
        (a, "") => match num(a) {
            None => Range::Full,
            Some(a) if a >= len => Range::Unsatisfiable,
            Some(a) => Range::Partial {
                start: a,
                end: len - 1,
            },
        },
        (a, b) => match (num(a), num(b)) {
            (Some(a), Some(b)) if a <= b => {
                if a >= len {
                    Range::Unsatisfiable
                } else {
                    Range::Partial {
                        start: a,
                        end: b.min(len - 1),
                    }
                }
            }
            // last < first is invalid syntax: ignored.
            _ => Range::Full,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        use Range::*;
        let p = |start, end| Partial { start, end };
        for (header, len, want) in [
            (None, 100, Full),
            (Some("bytes=0-0"), 100, p(0, 0)),
            (Some("bytes=0-99"), 100, p(0, 99)),
            (Some("bytes=10-"), 100, p(10, 99)),
            (Some("bytes=-10"), 100, p(90, 99)),
            (Some("bytes=-1000"), 100, p(0, 99)),
            (Some("bytes=50-1000"), 100, p(50, 99)),
            (Some(" bytes=1-2 "), 100, p(1, 2)),
            // Unsatisfiable: starts at or past the end, empty suffix, anything of nothing.
            (Some("bytes=100-"), 100, Unsatisfiable),
            (Some("bytes=100-200"), 100, Unsatisfiable),
            (Some("bytes=-0"), 100, Unsatisfiable),
            (Some("bytes=0-"), 0, Unsatisfiable),
            (Some("bytes=-5"), 0, Unsatisfiable),
            // Invalid or unsupported: ignored, the whole entity is sent.
            (Some("bytes=5-4"), 100, Full),
            (Some("bytes=a-b"), 100, Full),
            (Some("bytes=+1-2"), 100, Full),
            (Some("bytes=-"), 100, Full),
            (Some("bytes=1"), 100, Full),
            (Some("bytes=0-1,5-6"), 100, Full),
            (Some("items=0-1"), 100, Full),
            (Some("bytes=99999999999999999999-"), 100, Full),
        ] {
            assert_eq!(resolve(header, len), want, "{header:?} of {len}");
        }
    }
}
