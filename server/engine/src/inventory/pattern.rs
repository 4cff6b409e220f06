//! Host patterns (`hosts:` in a play, `--limit`) and host ranges (`node[01:10]`).
//!
//! Owns `Inventory::select`, which follows Ansible's pattern rules, and `expand_range`, the
//! range syntax shared by INI hosts, YAML inventory hosts and cluster.yaml roles. Must not:
//! warn or print. A pattern that matches nothing is not an error (Ansible only warns); the
//! caller sees the empty list and decides.
//!
//! The rules, as Ansible's `InventoryManager` applies them:
//! - the pattern is split into parts at `,`, or, when it has no comma, at `:` and whitespace
//!   outside `[...]` (so `web[1:3]` and IPv6 addresses stay whole);
//! - parts are applied in this order whatever their position: plain parts (union), then
//!   `&part` (intersection), then `!part` (exclusion); with no plain part, `all` is assumed;
//! - a part that is exactly a host name selects that host; `localhost`, `127.0.0.1` or `::1`
//!   that is neither a host nor a group selects Ansible's implicit localhost (the controller,
//!   run without SSH by the engine; in no group, so never matched by `all` or a glob);
//! - otherwise a trailing `[i]`, `[i:j]` (inclusive), `[i:]` or `[-i]` subscript is split off
//!   (so `lab[12]` is "host 12 of lab", never a glob character class), then the rest is a
//!   regex if it starts with `~` (matched at the start of names, as Python's `re.match`), else
//!   an fnmatch glob (`*`, `?`, `[seq]`, `[!seq]`; a plain word is a glob matching itself);
//! - it selects the hosts of every group whose name matches, and, when no group matched or
//!   the part is a glob/regex (contains `.`, `?`, `*`, `[` or starts with `~`), every host
//!   whose name matches; the subscript then indexes that list.
//!
//! The result is in Ansible's "inventory" order: plain parts contribute in the order they are
//! written, each in group order ([`Inventory::group_hosts`]), without duplicates.

use regex::Regex;

use super::model::Inventory;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("empty host pattern")]
    Empty,
    #[error("host pattern \"{pattern}\": \"{operator}\" must be followed by a pattern")]
    DanglingOperator { pattern: String, operator: char },
    #[error("host pattern \"{pattern}\" has an unclosed \"[\"")]
    Unclosed { pattern: String },
    #[error("host pattern \"{pattern}\" is not a valid regular expression: {reason}")]
    Regex { pattern: String, reason: String },
    #[error(
        "host pattern \"{pattern}\" selects index {index}, but it matches only {count} host(s)"
    )]
    Subscript {
        pattern: String,
        index: i64,
        count: usize,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid host range \"{input}\": {reason}")]
pub struct RangeError {
    pub input: String,
    pub reason: String,
}

/// A range expands to at most this many names: a typo like `node[1:1000000000]` must not eat
/// the machine's memory.
const MAX_RANGE: usize = 100_000;

impl Inventory {
    /// The hosts `pattern` selects (see the module documentation for the rules), each once.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        let parts = split_pattern(pattern)?;
        let (mut plain, mut and, mut not) = (Vec::new(), Vec::new(), Vec::new());
        for part in parts {
            match part.chars().next() {
                Some(op @ ('&' | '!')) => {
                    if part.len() == 1 {
                        return Err(PatternError::DanglingOperator {
                            pattern: pattern.to_string(),
                            operator: op,
                        });
                    }
                    if op == '&' { &mut and } else { &mut not }.push(part)
                }
                _ => plain.push(part),
            }
        }
        if plain.is_empty() {
            plain.push("all".to_string());
        }

        // Membership through hash sets: patterns over tens of thousands of hosts (a range)
        // stay linear.
        use std::collections::HashSet;
        let mut selected: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for part in &plain {
            let found = if self.hosts.contains_key(part) {
                vec![part.clone()]
            } else {
                self.match_part(part)?
            };
            for host in found {
                if seen.insert(host.clone()) {
                    selected.push(host);
                }
            }
        }
        for part in &and {
            let found: HashSet<String> = self.match_part(&part[1..])?.into_iter().collect();
            selected.retain(|h| found.contains(h));
        }
        for part in &not {
            let found: HashSet<String> = self.match_part(&part[1..])?.into_iter().collect();
            selected.retain(|h| !found.contains(h));
        }
        Ok(selected)
    }

    /// The hosts one part (without its `&`/`!`) selects, subscript applied.
    fn match_part(&self, part: &str) -> Result<Vec<String>, PatternError> {
        if self.hosts.contains_key(part) {
            return Ok(vec![part.to_string()]);
        }
        // Ansible's implicit localhost: `localhost` (or 127.0.0.1, ::1) written out names the
        // controller when the inventory has no such host or group. It is in no group, so
        // `all` and globs never match it.
        if crate::ssh::local::is_localhost(part) && !self.groups.contains_key(part) {
            return Ok(vec![part.to_string()]);
        }
        let (expr, subscript) = split_subscript(part);
        let matcher = if let Some(re) = expr.strip_prefix('~') {
            Regex::new(&format!("^(?:{re})")).map_err(|e| PatternError::Regex {
                pattern: part.to_string(),
                reason: e.to_string(),
            })?
        } else {
            glob_regex(expr)
        };

        let mut found: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut push = |h: &String| {
            if seen.insert(h.clone()) {
                found.push(h.clone());
            }
        };
        let groups: Vec<&String> = self.groups.keys().filter(|g| matcher.is_match(g)).collect();
        for g in &groups {
            self.group_hosts(g).iter().for_each(&mut push);
        }
        let wildcard = expr.starts_with('~') || expr.contains(['.', '?', '*', '[']);
        if groups.is_empty() || wildcard {
            self.hosts
                .keys()
                .filter(|h| matcher.is_match(h))
                .for_each(push);
        }

        match subscript {
            None => Ok(found),
            Some(s) => apply_subscript(found, s, part),
        }
    }
}

/// Split a pattern into its parts (see the module documentation).
fn split_pattern(pattern: &str) -> Result<Vec<String>, PatternError> {
    if pattern.trim().is_empty() {
        return Err(PatternError::Empty);
    }
    let mut depth = 0usize;
    for c in pattern.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if depth > 0 {
        return Err(PatternError::Unclosed {
            pattern: pattern.to_string(),
        });
    }

    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(|p| p.trim().to_string()).collect()
    } else if is_ipv6(pattern.trim()) {
        vec![pattern.trim().to_string()]
    } else {
        let mut parts = Vec::new();
        let mut current = String::new();
        let mut in_brackets = false;
        for c in pattern.chars() {
            match c {
                '[' => in_brackets = true,
                ']' => in_brackets = false,
                _ => {}
            }
            if !in_brackets && (c == ':' || c.is_whitespace()) {
                parts.push(std::mem::take(&mut current));
            } else {
                current.push(c);
            }
        }
        parts.push(current);
        parts
    };
    let parts: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err(PatternError::Empty);
    }
    Ok(parts)
}

/// A bare IPv6 address: its colons are not pattern separators.
fn is_ipv6(s: &str) -> bool {
    s.parse::<std::net::Ipv6Addr>().is_ok()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Subscript {
    /// `[i]`, negative counting from the end.
    Index(i64),
    /// `[i:j]`, inclusive; `None` for `[i:]` (to the end).
    Range(usize, Option<usize>),
}

/// `web[1:3]` → (`web`, 1..=3). A regex (`~...`) never has a subscript: its brackets are its
/// own. `[i-j]` is read as `[i:j]` as Ansible still does.
fn split_subscript(part: &str) -> (&str, Option<Subscript>) {
    if part.starts_with('~') || !part.ends_with(']') {
        return (part, None);
    }
    let Some(open) = part.rfind('[') else {
        return (part, None);
    };
    let (expr, inner) = (&part[..open], &part[open + 1..part.len() - 1]);
    if expr.is_empty() {
        return (part, None);
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (negative, magnitude) = match inner.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    if digits(magnitude)
        && let Ok(n) = magnitude.parse::<i64>()
    {
        return (expr, Some(Subscript::Index(if negative { -n } else { n })));
    }
    if let Some(sep) = inner.find([':', '-']) {
        let (start, end) = (&inner[..sep], &inner[sep + 1..]);
        let end = match end {
            "" => Some(None),
            e if digits(e) => e.parse().ok().map(Some),
            _ => None,
        };
        if let (true, Ok(start), Some(end)) = (digits(start), start.parse(), end) {
            return (expr, Some(Subscript::Range(start, end)));
        }
    }
    (part, None)
}

/// Apply a subscript as Ansible does, including its quirk that an end of 0 (`[2:0]`) means a
/// single index. A single index past the end is an error (Ansible: "No hosts matched the
/// subscripted pattern"); a range past the end is just shorter.
fn apply_subscript(
    hosts: Vec<String>,
    subscript: Subscript,
    part: &str,
) -> Result<Vec<String>, PatternError> {
    if hosts.is_empty() {
        return Ok(hosts);
    }
    let single = |i: i64| -> Result<Vec<String>, PatternError> {
        let len = hosts.len() as i64;
        let at = if i < 0 { len + i } else { i };
        if at < 0 || at >= len {
            return Err(PatternError::Subscript {
                pattern: part.to_string(),
                index: i,
                count: hosts.len(),
            });
        }
        Ok(vec![hosts[at as usize].clone()])
    };
    match subscript {
        Subscript::Index(i) => single(i),
        Subscript::Range(start, Some(0)) => single(start as i64),
        Subscript::Range(start, end) => {
            let end = end.map_or(hosts.len(), |e| (e + 1).min(hosts.len()));
            Ok(hosts.get(start..end.max(start)).unwrap_or(&[]).to_vec())
        }
    }
}

/// Python's `fnmatch.translate`, for Rust's regex engine: `*` any run of characters, `?` one
/// character, `[seq]`/`[!seq]` a class (an unclosed `[` is literal), everything else literal,
/// case-sensitive, anchored at both ends.
pub(crate) fn glob_regex(glob: &str) -> Regex {
    let chars: Vec<char> = glob.chars().collect();
    let mut re = String::from("^(?s:");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                if !re.ends_with(".*") {
                    re.push_str(".*");
                }
            }
            '?' => re.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    re.push_str(r"\[");
                } else {
                    re.push_str(&glob_class(&chars[i..j]));
                    i = j + 1;
                }
            }
            _ => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push_str(r")\z");
    Regex::new(&re).expect("translated globs are valid regexes")
}

/// The inside of `[...]` as a regex class. Ranges with start > end are dropped, as Python
/// drops them; a class left empty matches nothing (negated: any character).
fn glob_class(stuff: &[char]) -> String {
    let (negated, stuff) = match stuff.first() {
        Some('!') => (true, &stuff[1..]),
        _ => (false, stuff),
    };
    let esc = |c: char| regex::escape(&c.to_string());
    let mut items = String::new();
    let mut k = 0;
    while k < stuff.len() {
        if k + 2 < stuff.len() && stuff[k + 1] == '-' {
            if stuff[k] <= stuff[k + 2] {
                items.push_str(&format!("{}-{}", esc(stuff[k]), esc(stuff[k + 2])));
            }
            k += 3;
        } else {
            items.push_str(&esc(stuff[k]));
            k += 1;
        }
    }
    match (items.is_empty(), negated) {
        (true, false) => "[^\\s\\S]".to_string(),
        (true, true) => "(?s:.)".to_string(),
        (false, false) => format!("[{items}]"),
        (false, true) => format!("[^{items}]"),
    }
}

/// Whether `s` has fnmatch wildcards.
pub(crate) fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expand Ansible host ranges: `node[01:10]` (numbers; a leading zero pads every number to the
/// width of the bounds, which must then be equal), `node[a:f]` (letters, `a`–`z` then
/// `A`–`Z`), `node[1:10:2]` (a step), `[:5]` (start 0), several ranges in one name (expanded
/// left to right). A name without `[` is returned as is. Unlike Ansible, an empty range
/// (`[5:1]`) is an error rather than silently nothing.
pub fn expand_range(input: &str) -> Result<Vec<String>, RangeError> {
    let fail = |reason: &str| RangeError {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let Some(open) = input.find('[') else {
        if input.contains(']') {
            return Err(fail("\"]\" without \"[\""));
        }
        return Ok(vec![input.to_string()]);
    };
    let close = match input.find(']') {
        Some(close) if close > open => close,
        Some(_) => return Err(fail("\"]\" before \"[\"")),
        None => return Err(fail("unclosed \"[\"")),
    };
    let (head, inner, tail) = (&input[..open], &input[open + 1..close], &input[close + 1..]);
    let bounds: Vec<&str> = inner.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(fail("a range is [begin:end] or [begin:end:step]"));
    }
    let begin = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(fail("the range has no end value"));
    }
    let step: usize = match bounds.get(2) {
        None => 1,
        Some(s) => s
            .parse()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| fail("the step must be a positive integer"))?,
    };

    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let letter = |s: &str| (s.chars().count() == 1).then(|| LETTERS.find(s)).flatten();
    let values: Vec<String> = if let (Some(b), Some(e)) = (letter(begin), letter(end)) {
        if b > e {
            return Err(fail("the range begins after it ends"));
        }
        LETTERS[b..=e]
            .chars()
            .step_by(step)
            .map(String::from)
            .collect()
    } else {
        let number = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| fail("begin and end must both be numbers or both single letters"))
        };
        let (b, e) = (number(begin)?, number(end)?);
        if b > e {
            return Err(fail("the range begins after it ends"));
        }
        if (e - b) as usize / step >= MAX_RANGE {
            return Err(fail(&format!("it expands to more than {MAX_RANGE} names")));
        }
        let width = if begin.len() > 1 && begin.starts_with('0') {
            if begin.len() != end.len() {
                return Err(fail(
                    "zero-padded bounds must have the same width (01:10, not 01:100)",
                ));
            }
            begin.len()
        } else {
            0
        };
        (b..=e)
            .step_by(step)
            .map(|n| format!("{n:0width$}"))
            .collect()
    };

    let mut names = Vec::new();
    for v in values {
        let name = format!("{head}{v}{tail}");
        if tail.contains('[') {
            names.extend(expand_range(&name).map_err(|e| fail(&e.reason))?);
        } else {
            names.push(name);
        }
        if names.len() > MAX_RANGE {
            return Err(fail(&format!("it expands to more than {MAX_RANGE} names")));
        }
    }
    Ok(names)
}

/// An inventory host entry (INI host line, YAML `hosts:` key): `name`, `name:port` or
/// `[v6::addr]:port`, with ranges expanded. Returns the names and the port; errors are
/// `(message, help)`.
pub(crate) fn expand_host_entry(
    token: &str,
) -> Result<(Vec<String>, Option<u16>), (String, String)> {
    if token == "---" {
        return Err((
            "\"---\" is not a host name".into(),
            "this file looks like YAML: give it a .yml or .yaml name".into(),
        ));
    }
    let (name, port) = split_port(token);
    if name.ends_with(':') && port.is_none() {
        return Err((
            format!("host \"{token}\" ends with \":\""),
            "a \":\" after a host name must be followed by a port number".into(),
        ));
    }
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
            (
                format!("invalid port \"{p}\" in \"{token}\""),
                "a port is a number from 1 to 65535".to_string(),
            )
        })?),
    };
    let names = if name.contains('[') {
        expand_range(name).map_err(|e| {
            (
                e.to_string(),
                "ranges look like node[01:10], node[a:f] or node[1:10:2]".to_string(),
            )
        })?
    } else {
        vec![name.to_string()]
    };
    Ok((names, port))
}

/// Split a trailing `:port` off a host token, leaving IPv6 addresses whole.
fn split_port(token: &str) -> (&str, Option<&str>) {
    let is_ip = |s: &str| s.parse::<std::net::IpAddr>().is_ok();
    if let Some(rest) = token.strip_prefix('[')
        && let Some((inner, port)) = rest.split_once("]:")
        && is_ip(inner)
    {
        return (inner, Some(port));
    }
    if is_ip(token) {
        return (token, None);
    }
    if let Some((name, port)) = token.rsplit_once(':') {
        // `db-[a:b]:2222`: the colons left are all inside ranges.
        let outside_brackets = !name.contains(':')
            || (name
                .rfind(']')
                .is_some_and(|close| !name[close..].contains(':'))
                && name.matches(':').count() == name.matches('[').count());
        if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && outside_brackets {
            return (name, Some(port));
        }
    }
    (token, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::model::UNGROUPED;

    /// web: web1 web2 web3, db: db1 db2, lab: lab1 lab2 (child of web), ungrouped: solo,
    /// plus a host literally named `lab[12]`.
    fn inv() -> Inventory {
        let mut inv = Inventory::new();
        for h in ["web1", "web2", "web3"] {
            inv.add_host(h, "web");
        }
        for h in ["db1", "db2"] {
            inv.add_host(h, "db");
        }
        inv.add_host("lab1", "lab");
        inv.add_host("lab2", "lab");
        inv.add_host("solo", UNGROUPED);
        inv.add_host("lab[12]", UNGROUPED);
        inv.add_host("fe80::1", UNGROUPED);
        inv.add_child("web", "lab").unwrap();
        inv.reconcile();
        inv
    }

    /// A range of 100 000 hosts (the most one entry may expand to) loads, is put in order
    /// and selected in linear time: the INI fuzz target found a three-range name taking
    /// over 10 s (every membership test was a search of a list).
    #[test]
    fn a_hundred_thousand_hosts_stay_cheap() {
        let mut inv = Inventory::new();
        for h in expand_range("n[0:99999]").unwrap() {
            inv.add_host(&h, "big");
        }
        inv.add_host("other", UNGROUPED);
        inv.reconcile();
        assert_eq!(inv.select("all").unwrap().len(), 100_001);
        assert_eq!(inv.select("big:!n1*").unwrap().len(), 100_000 - 11_111);
        assert_eq!(inv.select("big:&n9999*").unwrap().len(), 11);
        assert_eq!(inv.group_hosts(UNGROUPED), vec!["other".to_string()]);
    }

    #[test]
    fn patterns_select_like_ansible() {
        let inv = inv();
        let all = "web1 web2 web3 db1 db2 lab1 lab2 solo lab[12] fe80::1";
        let cases: &[(&str, &str)] = &[
            ("all", all),
            ("*", all),
            ("web1", "web1"),
            ("db", "db1 db2"),
            ("web", "web1 web2 web3 lab1 lab2"),
            ("ungrouped", "solo lab[12] fe80::1"),
            // unions keep the written order
            ("db:web1", "db1 db2 web1"),
            ("db,web1", "db1 db2 web1"),
            ("db, web1 ", "db1 db2 web1"),
            ("web1 db1", "web1 db1"),
            ("db:db1:db", "db1 db2"),
            // intersection and exclusion, applied after unions wherever they are written
            ("web:&lab", "lab1 lab2"),
            ("&lab:web", "lab1 lab2"),
            ("web:!lab", "web1 web2 web3"),
            ("!web:db", "db1 db2"),
            ("!web", "db1 db2 solo lab[12] fe80::1"),
            ("&db", "db1 db2"),
            ("web:!lab:&web2", "web2"),
            ("web,!web1,&~web[12]", "web2"),
            // globs: group names and host names
            ("web*", "web1 web2 web3 lab1 lab2"),
            ("d?1", "db1"),
            ("web[23]*", "web2 web3"),
            ("web[!1]", "web2 web3"),
            ("lab[!1]*", "lab2 lab[12]"),
            ("sol?:db2", "solo db2"),
            // regexes match from the start of the name
            ("~web[12]", "web1 web2"),
            ("~(db|lab)2", "db2 lab2"),
            ("~eb", ""),
            // subscripts index the group's order
            ("web[0]", "web1"),
            ("web[-1]", "lab2"),
            ("web[1:3]", "web2 web3 lab1"),
            ("web[3:]", "lab1 lab2"),
            ("web[1-2]", "web2 web3"),
            ("web[2:0]", "web3"),
            ("web[4:9]", "lab2"),
            ("web[9:]", ""),
            ("db*[1]", "db2"),
            // a trailing [n] is always a subscript, never a character class
            ("*[2]", "web3"),
            // a host literally named like a subscripted pattern is that host
            ("lab[12]", "lab[12]"),
            // IPv6 addresses are not split at their colons
            ("fe80::1", "fe80::1"),
            // no match is not an error
            ("nothing", ""),
            ("nothing[0]", ""),
            ("web:&db", ""),
            // the implicit localhost: named, never by `all` or a glob
            ("localhost", "localhost"),
            ("db2:localhost", "db2 localhost"),
            ("127.0.0.1", "127.0.0.1"),
            ("local*", ""),
            ("localhost:&web", ""),
        ];
        for (pattern, want) in cases {
            let got = inv.select(pattern).unwrap().join(" ");
            assert_eq!(got, *want, "pattern {pattern:?}");
        }
    }

    #[test]
    fn pattern_errors() {
        let inv = inv();
        let cases: &[(&str, &str)] = &[
            ("", "empty host pattern"),
            (" , ", "empty host pattern"),
            (
                "web:!",
                "host pattern \"web:!\": \"!\" must be followed by a pattern",
            ),
            (
                "&",
                "host pattern \"&\": \"&\" must be followed by a pattern",
            ),
            ("web[1", "host pattern \"web[1\" has an unclosed \"[\""),
            (
                "db[5]",
                "host pattern \"db[5]\" selects index 5, but it matches only 2 host(s)",
            ),
            (
                "db[-3]",
                "host pattern \"db[-3]\" selects index -3, but it matches only 2 host(s)",
            ),
        ];
        for (pattern, want) in cases {
            let e = inv.select(pattern).unwrap_err();
            assert_eq!(e.to_string(), *want, "pattern {pattern:?}");
        }
        let e = inv.select("~web(").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("host pattern \"~web(\" is not a valid regular expression: "),
            "{e}"
        );
    }

    #[test]
    fn globs_are_fnmatch() {
        let cases: &[(&str, &str, bool)] = &[
            ("web*", "web", true),
            ("web*", "web.example.com", true),
            ("w?b", "web", true),
            ("w?b", "wb", false),
            ("web[1-3]", "web2", true),
            ("web[1-3]", "web4", false),
            ("web[!1-3]", "web4", true),
            ("web[]]", "web]", true),
            ("web[!]]", "web]", false),
            ("a[b", "a[b", true),
            ("a.b", "axb", false),
            ("a+b", "a+b", true),
            ("[a&&b]", "&", true),
            ("[z-a]", "z", false),
            ("[!z-a]", "q", true),
            ("WEB", "web", false),
            ("*", "", true),
        ];
        for (glob, name, want) in cases {
            assert_eq!(
                glob_regex(glob).is_match(name),
                *want,
                "{glob:?} vs {name:?}"
            );
        }
    }

    #[test]
    fn ranges_expand() {
        let cases: &[(&str, &str)] = &[
            ("node", "node"),
            ("node[1:3]", "node1 node2 node3"),
            ("node[01:03]", "node01 node02 node03"),
            ("node[8:11]", "node8 node9 node10 node11"),
            ("node[098:100]", "node098 node099 node100"),
            ("node[1:10:3]", "node1 node4 node7 node10"),
            ("node[:2]", "node0 node1 node2"),
            ("[a:c].lab", "a.lab b.lab c.lab"),
            ("x[a:e:2]", "xa xc xe"),
            ("x[y:B]", "xy xz xA xB"),
            ("r[1:2]n[a:b]", "r1na r1nb r2na r2nb"),
            ("db-[1:2]-node", "db-1-node db-2-node"),
        ];
        for (input, want) in cases {
            assert_eq!(expand_range(input).unwrap().join(" "), *want, "{input:?}");
        }
    }

    #[test]
    fn host_entries_split_ports() {
        let cases: &[(&str, &[&str], Option<u16>)] = &[
            ("web1:22", &["web1"], Some(22)),
            ("web1", &["web1"], None),
            ("fe80::1", &["fe80::1"], None),
            ("[2001:db8::1]:2022", &["2001:db8::1"], Some(2022)),
            ("10.0.0.5:23", &["10.0.0.5"], Some(23)),
            ("n[1:2]", &["n1", "n2"], None),
            ("n[1:2]:2022", &["n1", "n2"], Some(2022)),
            ("a:b", &["a:b"], None),
        ];
        for (input, names, port) in cases {
            assert_eq!(
                expand_host_entry(input).unwrap(),
                (names.iter().map(|s| s.to_string()).collect(), *port),
                "{input}"
            );
        }
    }

    #[test]
    fn range_errors() {
        let cases: &[(&str, &str)] = &[
            ("n[1]", "a range is [begin:end] or [begin:end:step]"),
            ("n[1:2:3:4]", "a range is [begin:end] or [begin:end:step]"),
            ("n[1:]", "the range has no end value"),
            ("n[1:5:0]", "the step must be a positive integer"),
            ("n[1:5:x]", "the step must be a positive integer"),
            (
                "n[01:100]",
                "zero-padded bounds must have the same width (01:10, not 01:100)",
            ),
            ("n[5:1]", "the range begins after it ends"),
            ("n[f:a]", "the range begins after it ends"),
            (
                "n[a:9]",
                "begin and end must both be numbers or both single letters",
            ),
            ("n[1:3", "unclosed \"[\""),
            ("n]1:3[", "\"]\" before \"[\""),
            ("n1:3]", "\"]\" without \"[\""),
            ("n[1:1000000]", "it expands to more than 100000 names"),
            ("n[1:2]x[1:]", "the range has no end value"),
        ];
        for (input, reason) in cases {
            let e = expand_range(input).unwrap_err();
            assert_eq!(e.reason, *reason, "{input:?}");
            assert_eq!(e.input, *input);
        }
        assert_eq!(
            expand_range("n[5:1]").unwrap_err().to_string(),
            "invalid host range \"n[5:1]\": the range begins after it ends"
        );
    }
}
