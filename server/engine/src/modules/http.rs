//! HTTP from the host, for `uri` and `get_url`: the request is made *on the target* with curl
//! (or GNU wget) so it sees what the host sees (its routes, its DNS, the installer on the lab
//! bridge), with no Python there.
//!
//! Owns the script that runs the client and the parse of what it prints (status line,
//! headers, body). Headers (an `Authorization` among them) travel in a config file fed on
//! stdin, never on a command line where `ps` would show them. Must not: decide what a status
//! means for a module.

use std::collections::BTreeMap;

use super::sh::Report;
use crate::ssh::quote::shell_quote;

/// One request.
#[derive(Debug, Default)]
pub struct Request {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: i64,
    pub validate_certs: bool,
    pub follow_redirects: bool,
}

/// The shell that runs the request and leaves the body in `$tmp/out` (or prints it, with
/// `print_body`). `after` runs with `$tmp/out` present and the status in `$code`, before
/// the temporary directory goes.
pub fn script(req: &Request, print_body: bool, after: &str) -> (String, Vec<u8>) {
    let mut curl_cfg = String::new();
    let mut wget_cfg = String::new();
    for (k, v) in &req.headers {
        let h = format!("{k}: {v}");
        curl_cfg.push_str(&format!(
            "header = \"{}\"\n",
            h.replace('\\', "\\\\").replace('"', "\\\"")
        ));
        wget_cfg.push_str(&format!("header = {h}\n"));
    }
    let cfg = format!("{curl_cfg}@@wget\n{wget_cfg}");
    let mut stdin = cfg.clone().into_bytes();
    stdin.extend(req.body.clone().unwrap_or_default());
    let has_body = req.body.is_some();
    let s = format!(
        r#"url={url}; method={method}; t={t}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
dd bs=1 count={cfglen} of="$tmp/cfg" 2>/dev/null; cat > "$tmp/body"
sed -n '1,/^@@wget$/p' "$tmp/cfg" | grep -v '^@@wget$' > "$tmp/curlrc"
sed -n '/^@@wget$/,$p' "$tmp/cfg" | grep -v '^@@wget$' > "$tmp/wgetrc"
: > "$tmp/h"; : > "$tmp/err"; : > "$tmp/out"
if command -v curl >/dev/null 2>&1; then
  echo "@tool=curl"
  code=$(curl -q -sS -K "$tmp/curlrc" -X "$method" --max-time "$t" {k}{l}{data}-D "$tmp/h" -o "$tmp/out" \
    -w '%{{http_code}} %{{url_effective}}' -- "$url" 2>"$tmp/err"); echo "@rc=$?"
  echo "@status=${{code%% *}}"; echo "@url=${{code#* }}"
elif command -v wget >/dev/null 2>&1 && wget --help 2>&1 | grep -q -- --method; then
  echo "@tool=wget"
  WGETRC="$tmp/wgetrc" wget -q -S -O "$tmp/out" --method="$method" --timeout="$t" {wk}{wl}{wdata}--content-on-error \
    -- "$url" 2>"$tmp/h"; echo "@rc=$?"
else echo "@notool=1"; exit 0; fi
code=$(grep -E '^ *HTTP/' "$tmp/h" | tail -n 1 | awk '{{print $2}}')
{after}
echo "@@headers"; cat "$tmp/h"; echo "@@err"; cat "$tmp/err"
{body}"#,
        url = shell_quote(&req.url),
        method = shell_quote(&req.method),
        t = req.timeout,
        cfglen = cfg.len(),
        k = if req.validate_certs { "" } else { "-k " },
        l = if req.follow_redirects { "-L " } else { "" },
        data = if has_body {
            "--data-binary @\"$tmp/body\" "
        } else {
            ""
        },
        wk = if req.validate_certs {
            ""
        } else {
            "--no-check-certificate "
        },
        wl = if req.follow_redirects {
            ""
        } else {
            "--max-redirect=0 "
        },
        wdata = if has_body {
            "--body-file=\"$tmp/body\" "
        } else {
            ""
        },
        body = if print_body {
            "echo \"@@body\"; cat \"$tmp/out\"\n"
        } else {
            ""
        },
    );
    (s, stdin)
}

/// What the client reported.
#[derive(Debug, Default, PartialEq)]
pub struct Response {
    pub tool: Option<String>,
    pub rc: i64,
    /// -1 when no response came (connection refused, timeout, DNS).
    pub status: i64,
    pub reason: String,
    pub url: Option<String>,
    /// Header names lower-cased (the last response's, after redirects).
    pub headers: BTreeMap<String, String>,
    pub error: String,
    pub body: String,
    pub report: Report,
}

pub fn parse(stdout: &str) -> Response {
    let (head, rest) = stdout.split_once("@@headers\n").unwrap_or((stdout, ""));
    let (headers, rest) = rest.split_once("@@err\n").unwrap_or((rest, ""));
    let (err, body) = rest.split_once("@@body\n").unwrap_or((rest, ""));
    let report = Report::parse(head);
    let mut r = Response {
        tool: report.get("tool").map(str::to_string),
        rc: report.get("rc").and_then(|v| v.parse().ok()).unwrap_or(-1),
        url: report
            .get("url")
            .filter(|u| !u.is_empty())
            .map(str::to_string),
        error: err.trim().to_string(),
        body: body.to_string(),
        status: -1,
        ..Response::default()
    };
    // The last status line starts the headers of the final response (redirects come first).
    for line in headers.lines() {
        let line = line.trim();
        if line.starts_with("HTTP/") {
            let mut parts = line.splitn(3, ' ');
            parts.next();
            r.status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(-1);
            r.reason = parts.next().unwrap_or("").trim().to_string();
            r.headers.clear();
        } else if let Some((k, v)) = line.split_once(':') {
            r.headers
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    if r.status <= 0 {
        // curl's %{http_code} is 000 when nothing answered.
        r.status = report
            .get("status")
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(-1);
    }
    r.report = report;
    r
}

/// The message for a host with neither client.
pub fn no_client(host: &str, module: &str) -> String {
    format!(
        "{module} runs on the host and needs curl or wget there: {host} has neither; \
         install one first (apt: name=curl)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let out = "@tool=curl\n@rc=0\n@status=200 http://x/b\n@url=http://x/b\n@@headers\n\
                   HTTP/1.1 301 Moved\r\nLocation: /b\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                   Content-Length: 7\r\n\r\n@@err\n@@body\n{\"a\":1}";
        let r = parse(out);
        assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
        assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
        assert!(!r.headers.contains_key("location"));
        assert_eq!(r.body, "{\"a\":1}");
        assert_eq!(r.url.as_deref(), Some("http://x/b"));

        let wget = "@tool=wget\n@rc=8\n@@headers\n  HTTP/1.1 404 Not Found\n  Server: x\n@@err\n@@body\nnope";
        let r = parse(wget);
        assert_eq!((r.status, r.rc, r.reason.as_str()), (404, 8, "Not Found"));

        let refused = "@tool=curl\n@rc=7\n@status=000 \n@url=\n@@headers\n@@err\ncurl: (7) Failed to connect\n";
        let r = parse(refused);
        assert_eq!(r.status, -1);
        assert_eq!(r.error, "curl: (7) Failed to connect");
    }

    #[test]
    fn secrets_stay_off_the_command_line() {
        let req = Request {
            url: "http://h/".into(),
            method: "GET".into(),
            headers: vec![("Authorization".into(), "Basic c2VjcmV0".into())],
            timeout: 5,
            validate_certs: true,
            ..Request::default()
        };
        let (s, stdin) = script(&req, true, "");
        assert!(!s.contains("c2VjcmV0"));
        assert!(
            String::from_utf8(stdin)
                .unwrap()
                .contains("header = \"Authorization: Basic c2VjcmV0\"")
        );
    }
}
