//! The `ipaddr` family (from `ansible.utils`, also under its short names): `ipaddr`, `ipv4`,
//! `ipv6` with the common queries (`address`, `host`, `network`, `netmask`, `prefix`,
//! `broadcast`, `network/prefix`, `net`, `size`, `first_usable`, `last_usable`, `private`,
//! `public`, `wrap`, a host number, or a subnet to test membership), `ipwrap`, `nthhost`,
//! `ipmath`. A value that is not an address gives `false`, as in Ansible; a list keeps the
//! items that give something.
//!
//! Known difference: integer addresses (`167772161 | ipaddr`) and the rarer queries
//! (`6to4`, `revdns`, `range_usable`, ...) are refused with an error naming the query.
//! Must not: resolve host names.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use minijinja::value::ValueKind;
use minijinja::{Environment, Error, Value};

use super::text::py_str;
use super::{add, fail};

const U: &[&str] = &["ansible.utils", "ansible.netcommon"];

pub fn register(env: &mut Environment<'static>) {
    add(env, U, "ipaddr", |v: Value, q: Option<Value>| {
        filter("ipaddr", &v, q, None)
    });
    add(env, U, "ipv4", |v: Value, q: Option<Value>| {
        filter("ipv4", &v, q, Some(4))
    });
    add(env, U, "ipv6", |v: Value, q: Option<Value>| {
        filter("ipv6", &v, q, Some(6))
    });
    add(env, U, "ipwrap", |v: Value| -> Result<Value, Error> {
        let wrap = |x: &Value| match parse(&py_str(x)) {
            Some((net, is_net)) if net.addr().is_ipv6() => Value::from(if is_net {
                format!("[{}]/{}", net.addr(), net.prefix_len())
            } else {
                format!("[{}]", net.addr())
            }),
            _ => x.clone(),
        };
        Ok(match v.kind() {
            ValueKind::Seq | ValueKind::Iterable => {
                Value::from(v.try_iter()?.map(|x| wrap(&x)).collect::<Vec<_>>())
            }
            _ => wrap(&v),
        })
    });
    add(
        env,
        U,
        "nthhost",
        |v: Value, n: Value| -> Result<Value, Error> {
            let Some((net, _)) = parse(&py_str(&v)) else {
                return Ok(Value::from(false));
            };
            let Some(n) = n.as_i64() else {
                return Ok(Value::from(false));
            };
            Ok(nth(&net.trunc(), n).map_or(Value::from(false), |a| Value::from(a.to_string())))
        },
    );
    add(
        env,
        U,
        "ipmath",
        |v: Value, amount: Value| -> Result<String, Error> {
            let s = py_str(&v);
            let ip = match parse(&s) {
                Some((net, _)) => net.addr(),
                None => {
                    return Err(fail(
                        "ipmath",
                        format!("you must pass a valid IP address; {s} is invalid"),
                    ));
                }
            };
            let Some(n) = amount.as_i64() else {
                return Err(fail(
                    "ipmath",
                    format!(
                        "you must pass an integer for arithmetic; {} is not a valid integer",
                        py_str(&amount)
                    ),
                ));
            };
            add_to(ip, n as i128)
                .map(|a| a.to_string())
                .ok_or_else(|| fail("ipmath", format!("{ip} + {n} is outside the address space")))
        },
    );
}

/// The address (with its prefix; a bare address is a /32 or /128) and whether a prefix
/// was written.
fn parse(s: &str) -> Option<(IpNet, bool)> {
    let s = s.trim();
    if s.contains('/') {
        IpNet::from_str(s).ok().map(|n| (n, true))
    } else {
        IpAddr::from_str(s).ok().map(|a| (IpNet::from(a), false))
    }
}

fn filter(name: &str, v: &Value, q: Option<Value>, version: Option<u8>) -> Result<Value, Error> {
    let query = q.map(|q| py_str(&q)).unwrap_or_default();
    if matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
        let mut out = Vec::new();
        for item in v.try_iter()? {
            let r = one(name, &item, &query, version)?;
            if r.is_true() {
                out.push(r);
            }
        }
        return Ok(Value::from(out));
    }
    one(name, v, &query, version)
}

fn size(net: &IpNet) -> u128 {
    let host_bits = (net.max_prefix_len() - net.prefix_len()) as u32;
    1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
}

fn as_int(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn add_to(a: IpAddr, n: i128) -> Option<IpAddr> {
    let v = (as_int(a) as i128).checked_add(n)?;
    match a {
        IpAddr::V4(_) => u32::try_from(v).ok().map(|x| IpAddr::V4(x.into())),
        IpAddr::V6(_) => u128::try_from(v).ok().map(|x| IpAddr::V6(x.into())),
    }
}

/// The `n`th address of `net` (negative counts from the end), as netaddr's `net[n]`.
fn nth(net: &IpNet, n: i64) -> Option<IpAddr> {
    let sz = size(net) as i128;
    let n = n as i128;
    let idx = if n < 0 { sz + n } else { n };
    if idx < 0 || idx >= sz {
        return None;
    }
    add_to(net.network(), idx)
}

/// Whether the address is reachable on the internet (Python's `ipaddress.is_global`, roughly).
fn is_global(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => {
            let o = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_documentation()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] == 0
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            !(a.is_loopback()
                || a.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

fn one(name: &str, v: &Value, query: &str, version: Option<u8>) -> Result<Value, Error> {
    let no = || Ok(Value::from(false));
    let none = || Ok(Value::from(()));
    let s = match v.kind() {
        ValueKind::String => v.as_str().unwrap_or("").to_string(),
        _ => return no(),
    };
    let Some((net, is_net)) = parse(&s) else {
        return no();
    };
    let ip = net.addr();
    let v4 = ip.is_ipv4();
    if let Some(want) = version
        && (want == 4) != v4
    {
        return no();
    }
    let sz = size(&net);
    let network = net.network();
    let broadcast = (sz > 2 || (!v4 && sz > 1)).then(|| net.broadcast());
    let host_addr = || ip != network || broadcast.is_none() || !v4;
    let text = |x: String| Ok(Value::from(x));
    match query {
        "" => text(if is_net { s.clone() } else { ip.to_string() }),
        "address" | "ip" => {
            if sz == 1 || host_addr() {
                text(ip.to_string())
            } else {
                none()
            }
        }
        "host" => {
            if sz == 1 || ip != network || broadcast.is_none() {
                text(format!("{ip}/{}", net.prefix_len()))
            } else {
                none()
            }
        }
        "address/prefix" | "host/prefix" | "gateway" | "gw" | "router" | "hostnet" => {
            if sz > 2 && (ip == network || Some(ip) == broadcast) {
                no()
            } else {
                text(format!("{ip}/{}", net.prefix_len()))
            }
        }
        "network" | "network_id" => text(network.to_string()),
        "netmask" => text(net.netmask().to_string()),
        "hostmask" => text(net.hostmask().to_string()),
        "prefix" => Ok(Value::from(net.prefix_len())),
        "broadcast" => match broadcast {
            Some(b) if sz > 2 => text(b.to_string()),
            _ => none(),
        },
        "network/prefix" | "subnet" => text(format!("{network}/{}", net.prefix_len())),
        "cidr" => text(format!("{ip}/{}", net.prefix_len())),
        "net" => {
            if sz > 1 && ip == network {
                text(format!("{network}/{}", net.prefix_len()))
            } else {
                none()
            }
        }
        "network_netmask" => text(format!("{network} {}", net.netmask())),
        "size" => Ok(Value::from(sz)),
        "size_usable" => Ok(Value::from(match sz {
            1 => 0,
            2 => 2,
            n => n - 2,
        })),
        "first_usable" | "last_usable" => {
            if !is_net || sz == 1 {
                return Err(fail(name, "Not a network address"));
            }
            let first = query == "first_usable";
            let idx = match (sz, first) {
                (2, true) => 0,
                (2, false) => -1,
                (_, true) => 1,
                (_, false) => -2,
            };
            text(
                nth(&net.trunc(), idx)
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            )
        }
        "private" => {
            if is_global(ip) {
                none()
            } else {
                text(s.clone())
            }
        }
        "public" => {
            if is_global(ip) && !ip.is_multicast() {
                text(s.clone())
            } else {
                none()
            }
        }
        "loopback" | "lo" => {
            if ip.is_loopback() {
                text(s.clone())
            } else {
                none()
            }
        }
        "multicast" => {
            if ip.is_multicast() {
                text(s.clone())
            } else {
                none()
            }
        }
        "type" => text(if is_net { "network" } else { "address" }.into()),
        "bool" => Ok(Value::from(true)),
        "ipv4" | "v4" => {
            if v4 {
                text(s.clone())
            } else {
                no()
            }
        }
        "ipv6" | "v6" => {
            if v4 {
                no()
            } else {
                text(s.clone())
            }
        }
        "wrap" => text(if v4 {
            s.clone()
        } else if is_net {
            format!("[{ip}]/{}", net.prefix_len())
        } else {
            format!("[{ip}]")
        }),
        q if q.parse::<i64>().is_ok() => {
            let n = q.parse::<i64>().unwrap_or(0);
            if sz == 1 {
                return text(if is_net { s.clone() } else { ip.to_string() });
            }
            match nth(&net.trunc(), n) {
                Some(a) => text(format!("{a}/{}", net.prefix_len())),
                None => no(),
            }
        }
        q => match IpNet::from_str(q)
            .ok()
            .or_else(|| IpAddr::from_str(q).ok().map(IpNet::from))
        {
            // A subnet as the query: the value if it lies inside it.
            Some(sub) => {
                let inside =
                    sub.trunc().contains(&net.trunc()) || sub.trunc().contains(&ip) && sz == 1;
                if inside { text(s.clone()) } else { none() }
            }
            None => Err(fail(name, format!("unknown or unsupported query '{q}'"))),
        },
    }
}
