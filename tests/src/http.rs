//! A minimal HTTP/1.1 client for the API tests (std only): one request per connection, JSON
//! bodies, cookies passed by hand, and a Server-Sent Events reader that hands over each event as
//! it arrives. Enough to test `cairn serve`'s `/api` as a browser would use it, without a
//! client library.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// One request: `headers` as `(name, value)`; a body is sent as JSON when given.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect to cairn serve");
    s.set_read_timeout(Some(Duration::from_secs(600))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let (status, headers) = head(&mut r);
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let mut raw = Vec::new();
    if chunked {
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            raw.extend_from_slice(&chunk[..n]);
        }
    } else {
        r.read_to_end(&mut raw).unwrap();
    }
    Response {
        status,
        headers,
        body: String::from_utf8_lossy(&raw).into_owned(),
    }
}

fn head(r: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (status, headers)
}

/// One Server-Sent Event.
#[derive(Clone, Debug, Default)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// An open event stream; [`EventStream::next`] blocks until the next event (or the end).
pub struct EventStream {
    r: BufReader<TcpStream>,
    chunked: bool,
    buf: String,
}

pub fn events(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, EventStream) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let (status, headers) = head(&mut r);
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    (
        status,
        EventStream {
            r,
            chunked,
            buf: String::new(),
        },
    )
}

impl EventStream {
    /// More text from the wire (de-chunked); false at the end.
    fn fill(&mut self) -> bool {
        if self.chunked {
            let mut line = String::new();
            if self.r.read_line(&mut line).unwrap_or(0) == 0 {
                return false;
            }
            let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            if n == 0 {
                return false;
            }
            let mut chunk = vec![0; n + 2];
            if self.r.read_exact(&mut chunk).is_err() {
                return false;
            }
            self.buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
            true
        } else {
            let mut b = [0u8; 8192];
            match self.r.read(&mut b) {
                Ok(0) | Err(_) => false,
                Ok(n) => {
                    self.buf.push_str(&String::from_utf8_lossy(&b[..n]));
                    true
                }
            }
        }
    }

    /// The next event (comments skipped), or None when the stream ended.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = SseEvent::default();
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().to_string();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if !ev.data.is_empty() {
                            ev.data.push('\n');
                        }
                        ev.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    }
                }
                if any {
                    return Some(ev);
                }
            }
            if !self.fill() {
                return None;
            }
        }
    }
}

/// A logged-in API session, as the console uses the API: the session cookie on every call and
/// the CSRF header on every change. Every body it receives is kept ([`Session::seen`]), for the
/// tests that search the API's answers for secrets.
pub struct Session {
    pub addr: SocketAddr,
    /// `name=value` of the session cookie.
    pub cookie: String,
    /// The login's whole `Set-Cookie` header, for tests of its attributes.
    pub set_cookie: String,
    seen: std::cell::RefCell<String>,
}

impl Session {
    /// `POST /api/login` with the admin token; panics unless it answers 200 with a cookie.
    pub fn login(addr: SocketAddr, token: &str) -> Session {
        let r = request(
            addr,
            "POST",
            "/api/login",
            &[("X-Cairn-Csrf", "1")],
            Some(&serde_json::json!({ "token": token }).to_string()),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let set_cookie = r
            .header("set-cookie")
            .expect("a session cookie")
            .to_string();
        Session {
            addr,
            cookie: set_cookie.split(';').next().unwrap().to_string(),
            set_cookie,
            seen: std::cell::RefCell::new(String::new()),
        }
    }

    /// Adds `text` to what this session has seen (e.g. an event read from a stream).
    pub fn keep(&self, text: &str) {
        self.seen.borrow_mut().push_str(text);
    }

    /// Every body (and kept text) received so far.
    pub fn seen(&self) -> String {
        self.seen.borrow().clone()
    }

    pub fn get(&self, path: &str) -> Response {
        let r = request(self.addr, "GET", path, &[("Cookie", &self.cookie)], None);
        self.keep(&r.body);
        r
    }

    pub fn send(&self, method: &str, path: &str, body: serde_json::Value) -> Response {
        let r = request(
            self.addr,
            method,
            path,
            &[("Cookie", &self.cookie), ("X-Cairn-Csrf", "1")],
            Some(&body.to_string()),
        );
        self.keep(&r.body);
        r
    }

    /// A call that must succeed (2xx): its JSON body, or null when empty.
    pub fn ok(&self, method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        let r = if method == "GET" {
            self.get(path)
        } else {
            self.send(method, path, body)
        };
        assert!(
            (200..300).contains(&r.status),
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
        if r.body.is_empty() {
            serde_json::Value::Null
        } else {
            r.json()
        }
    }
}
