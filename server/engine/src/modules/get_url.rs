//! `get_url`: download a URL to a file on the host, made on the host with curl or wget (see
//! `http.rs`), idempotent by `checksum` (`ALG:HEX`, any of coreutils' md5, sha1, sha224,
//! sha256, sha384, sha512) or, without one, by the file's existence (`force: false`) or its
//! content (`force: true`: downloaded, replaced only when different); then `mode`, `owner`,
//! `group`.
//!
//! One exec: the script decides whether to download (not in check mode), verifies the
//! checksum before the file is moved into place (a mismatch leaves `dest` untouched), and
//! reports the file's checksum, size and attributes.

use serde_json::json;

use super::http::{self, Request};
use super::params::Params;
use super::sh::{self, ACT, Report, bit};
use super::{Call, ModuleResult};
use crate::playbook::Vars;
use crate::ssh::SshError;
use crate::ssh::quote::shell_quote;

const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

#[derive(Debug)]
pub struct Want {
    pub req: Request,
    pub dest: String,
    pub checksum: Option<(String, String)>,
    pub force: bool,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

pub fn want(args: &Vars) -> Result<Want, String> {
    let p = Params(args);
    let url = p.required(&["url"])?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "url must start with http:// or https://, got {url:?}"
        ));
    }
    let dest = p.required(&["dest"])?;
    let checksum = match p.str(&["checksum"]).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let (alg, hex) = c.split_once(':').ok_or_else(|| {
                "The checksum parameter has to be in format <algorithm>:<checksum>".to_string()
            })?;
            let alg = alg.trim().to_ascii_lowercase();
            if !ALGORITHMS.contains(&alg.as_str()) {
                return Err(format!(
                    "Unsupported hash algorithm {alg}: use one of {}",
                    ALGORITHMS.join(", ")
                ));
            }
            let hex = hex.trim().to_ascii_lowercase();
            if hex.contains("://") {
                return Err(
                    "a checksum given by URL is not supported by Cairn: write the digest itself"
                        .into(),
                );
            }
            if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "The checksum format is invalid: {hex:?} is not hexadecimal"
                ));
            }
            Some((alg, hex))
        }
    };
    let mut headers = Vec::new();
    if let Some(serde_json::Value::Object(m)) = args.get("headers") {
        for (k, v) in m {
            headers.push((
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            ));
        }
    }
    if let Some(user) = p.str(&["url_username", "username"]) {
        use base64::Engine;
        let pass = p.str(&["url_password", "password"]).unwrap_or_default();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        headers.push(("Authorization".into(), format!("Basic {token}")));
    }
    Ok(Want {
        req: Request {
            url,
            method: "GET".into(),
            headers,
            body: None,
            timeout: p.int(&["timeout"])?.unwrap_or(10),
            validate_certs: p.flag(&["validate_certs"], true)?,
            follow_redirects: true,
        },
        dest,
        checksum,
        force: p.flag(&["force"], false)?,
        mode: p.mode(&["mode"])?,
        owner: p.str(&["owner"]),
        group: p.str(&["group"]),
    })
}

/// The file name a directory `dest` gets: the URL's last path segment.
pub fn url_file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
    let name = after_host.rsplit('/').next().unwrap_or("");
    if name.is_empty() {
        "index.html".into()
    } else {
        name.to_string()
    }
}

pub fn script(w: &Want, check: bool) -> (String, Vec<u8>) {
    let (alg, sum) = w.checksum.clone().unwrap_or_default();
    let head = format!(
        r#"dest={dest}; fname={fname}; force={force}; check={check}; alg={alg}; sum={sum}
mode={mode}; owner={owner}; group={group}
{ACT}[ -d "$dest" ] && dest="${{dest%/}}/$fname"
echo "@dest=$dest"
[ -d "$(dirname "$dest")" ] || {{ echo "@nodir=$(dirname "$dest")"; exit 0; }}
attrs() {{
  [ -e "$dest" ] || return 0
  if [ -n "$mode" ] && [ "$(stat -c %a "$dest" | sed 's/^0*//')" != "$(echo "$mode" | sed 's/^0*//')" ]; then act chmod "$mode" "$dest"; fi
  if [ -n "$owner" ]; then case "$owner" in *[!0-9]*) o=$(stat -c %U "$dest");; *) o=$(stat -c %u "$dest");; esac
    [ "$o" = "$owner" ] || act chown "$owner" "$dest"; fi
  if [ -n "$group" ]; then case "$group" in *[!0-9]*) g=$(stat -c %G "$dest");; *) g=$(stat -c %g "$dest");; esac
    [ "$g" = "$group" ] || act chgrp "$group" "$dest"; fi
}}
report() {{
  if [ -e "$dest" ]; then echo "@checksum_dest=$(sha1sum "$dest" | cut -d' ' -f1)"; echo "@size=$(stat -c %s "$dest")"
    echo "@mode=$(stat -c %a "$dest")"; echo "@owner=$(stat -c %U "$dest")"; echo "@group=$(stat -c %G "$dest")"; fi
}}
need=1
if [ -e "$dest" ]; then
  if [ -n "$alg" ]; then have=$("${{alg}}sum" "$dest" | cut -d' ' -f1); [ "$have" = "$sum" ] && need=0
  elif [ "$force" = 0 ]; then need=0; fi
fi
echo "@need=$need"
if [ "$need" = 0 ] || [ "$check" = 1 ]; then
  [ "$need" = 1 ] && echo "@did=download"
  attrs; report; exit 0
fi
"#,
        dest = shell_quote(&w.dest),
        fname = shell_quote(&url_file_name(&w.req.url)),
        force = bit(w.force),
        check = bit(check),
        alg = shell_quote(&alg),
        sum = shell_quote(&sum),
        mode = shell_quote(w.mode.as_deref().unwrap_or("")),
        owner = shell_quote(w.owner.as_deref().unwrap_or("")),
        group = shell_quote(w.group.as_deref().unwrap_or("")),
    );
    let after = r#"echo "@code=$code"
if [ "$code" = 200 ]; then
  echo "@checksum_src=$(sha1sum "$tmp/out" | cut -d' ' -f1)"
  if [ -n "$alg" ]; then got=$("${alg}sum" "$tmp/out" | cut -d' ' -f1); echo "@got=$got"; fi
  if [ -n "$alg" ] && [ "$got" != "$sum" ]; then echo "@badsum=1"
  elif [ -e "$dest" ] && cmp -s "$tmp/out" "$dest"; then :
  else
    echo "@did=download"
    { cp "$tmp/out" "$dest.cairn-new" && mv "$dest.cairn-new" "$dest"; } 2>&1 || echo "@failed=write"
  fi
  attrs; report
fi"#;
    let (http_script, stdin) = http::script(&w.req, false, after);
    (format!("{head}{http_script}"), stdin)
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let w = match want(call.args) {
        Ok(w) => w,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    let (script, stdin) = script(&w, call.check);
    let limit = std::time::Duration::from_secs(w.req.timeout.max(1) as u64 + 600);
    let out = sh::run(call, &script, Some(&stdin), Some(limit)).await?;
    let resp = http::parse(&out.stdout_str());
    Ok(result(&w, &resp, call.host))
}

pub fn result(w: &Want, resp: &http::Response, host: &str) -> ModuleResult {
    let rep: &Report = &resp.report;
    let dest = rep.get("dest").unwrap_or(&w.dest).to_string();
    let mut r = if rep.is("notool", "1") {
        ModuleResult::failed(http::no_client(host, "get_url"))
    } else if let Some(dir) = rep.get("nodir") {
        ModuleResult::failed(format!("Destination dir {dir} does not exist"))
    } else if rep.is("badsum", "1") {
        let (alg, sum) = w.checksum.clone().unwrap_or_default();
        ModuleResult::failed(format!(
            "The checksum for {dest} did not match {sum}; it was {}.",
            rep.get("got").unwrap_or("?")
        ))
        .with_note(&alg)
    } else if rep.is("need", "1") && rep.get("code").is_some() && !rep.is("code", "200") {
        let detail = if resp.status < 0 {
            resp.error.clone()
        } else {
            format!("HTTP Error {}: {}", resp.status, resp.reason)
        };
        ModuleResult::failed(format!("Request failed: {detail}"))
    } else if let Some(cmd) = rep.get("failed") {
        ModuleResult::failed(format!("{cmd} failed on {dest}: {}", rep.text.trim()))
    } else {
        let msg = if rep.is("need", "0") {
            "file already exists".to_string()
        } else {
            format!("OK ({} bytes)", rep.get("size").unwrap_or("0"))
        };
        ModuleResult {
            changed: !rep.all("did").is_empty(),
            msg: Some(msg),
            ..ModuleResult::default()
        }
    };
    r.extra.insert("url".into(), json!(w.req.url));
    r.extra.insert("dest".into(), json!(dest));
    if resp.status > 0 {
        r.extra.insert("status_code".into(), json!(resp.status));
    }
    for k in ["checksum_dest", "checksum_src", "mode", "owner", "group"] {
        if let Some(v) = rep.get(k) {
            r.extra.insert(k.into(), json!(v));
        }
    }
    if let Some(size) = rep.get("size").and_then(|s| s.parse::<u64>().ok()) {
        r.extra.insert("size".into(), json!(size));
    }
    r
}

trait Note {
    fn with_note(self, alg: &str) -> Self;
}

impl Note for ModuleResult {
    /// Keep the algorithm next to a checksum failure (for registered results).
    fn with_note(mut self, alg: &str) -> Self {
        self.extra.insert("checksum_algorithm".into(), json!(alg));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: serde_json::Value) -> Result<Want, String> {
        want(v.as_object().unwrap())
    }

    #[test]
    fn arguments() {
        let g = w(json!({"url": "http://h/a/b.tgz?x=1", "dest": "/tmp", "checksum": "SHA256:AB12", "mode": "0640"})).unwrap();
        assert_eq!(g.checksum, Some(("sha256".into(), "ab12".into())));
        assert_eq!(g.mode.as_deref(), Some("0640"));
        assert_eq!(url_file_name(&g.req.url), "b.tgz");
        assert_eq!(url_file_name("http://h"), "index.html");
        let errors = [
            (
                json!({"url": "http://h/x", "dest": "/d", "checksum": "abc"}),
                "The checksum parameter has to be in format <algorithm>:<checksum>",
            ),
            (
                json!({"url": "http://h/x", "dest": "/d", "checksum": "crc:1"}),
                "Unsupported hash algorithm crc: use one of md5, sha1, sha224, sha256, sha384, sha512",
            ),
            (
                json!({"url": "http://h/x", "dest": "/d", "checksum": "sha256:http://h/sums"}),
                "a checksum given by URL is not supported by Cairn: write the digest itself",
            ),
            (
                json!({"url": "http://h/x", "dest": "/d", "checksum": "sha256:zz"}),
                "The checksum format is invalid: \"zz\" is not hexadecimal",
            ),
            (
                json!({"url": "http://h/x"}),
                "missing required arguments: dest",
            ),
        ];
        for (args, msg) in errors {
            assert_eq!(w(args.clone()).unwrap_err(), msg, "{args}");
        }
    }

    #[test]
    fn results() {
        let g = w(json!({"url": "http://h/x", "dest": "/d/x", "checksum": "sha256:ab"})).unwrap();
        let cases = [
            (
                "@dest=/d/x\n@need=0\n@checksum_dest=1\n@size=3\n",
                false,
                "file already exists",
            ),
            (
                "@dest=/d/x\n@need=1\n@code=200\n@did=download\n@size=3\n@@headers\nHTTP/1.1 200 OK\n",
                true,
                "OK (3 bytes)",
            ),
            (
                "@dest=/d/x\n@need=1\n@code=200\n@got=cd\n@badsum=1\n@@headers\nHTTP/1.1 200 OK\n",
                false,
                "The checksum for /d/x did not match ab; it was cd.",
            ),
            (
                "@dest=/d/x\n@need=1\n@code=404\n@@headers\nHTTP/1.1 404 Not Found\n",
                false,
                "Request failed: HTTP Error 404: Not Found",
            ),
            (
                "@dest=/d/x\n@nodir=/d\n",
                false,
                "Destination dir /d does not exist",
            ),
            (
                "@dest=/d/x\n@need=1\n@code=200\ncp: cannot create regular file: Read-only file system\n@failed=write\n@@headers\nHTTP/1.1 200 OK\n",
                false,
                "write failed on /d/x: cp: cannot create regular file: Read-only file system",
            ),
            (
                "@dest=/d/x\n@need=1\n@code=\n@@headers\n@@err\ncurl: (7) Failed to connect\n",
                false,
                "Request failed: curl: (7) Failed to connect",
            ),
            (
                "@dest=/d/x\n@need=1\n@notool=1\n",
                false,
                "get_url runs on the host and needs curl or wget there: h has neither; install one first (apt: name=curl)",
            ),
        ];
        for (out, changed, msg) in cases {
            let r = result(&g, &http::parse(out), "h");
            assert_eq!((r.changed, r.msg.as_deref()), (changed, Some(msg)), "{out}");
        }
    }
}
