//! `uri`: an HTTP request made from the host (see `http.rs`), its status checked against
//! `status_code`, its headers and (with `return_content`) body returned in Ansible's fields.
//!
//! Never changes anything by itself (changed=false, as in Ansible). In check mode only GET and
//! HEAD are sent (they do not change the server); other methods are reported, not sent.
//! `url_username`/`url_password` are sent as a Basic `Authorization` header up front (Ansible
//! waits for a 401 unless `force_basic_auth`).

use base64::Engine;
use serde_json::{Value as Json, json};

use super::http::{self, Request};
use super::params::Params;
use super::sh;
use super::{Call, ModuleResult};
use crate::playbook::Vars;
use crate::ssh::SshError;

/// The request and the accepted statuses, from the arguments.
pub fn request(args: &Vars) -> Result<(Request, Vec<i64>, bool), String> {
    let p = Params(args);
    let url = p.required(&["url"])?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "url must start with http:// or https://, got {url:?}"
        ));
    }
    let method = p
        .str(&["method"])
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    let format = p.choice_or(
        &["body_format"],
        &["raw", "json", "form-urlencoded", "form-multipart"],
        "raw",
    )?;
    let mut headers: Vec<(String, String)> = match args.get("headers") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                )
            })
            .collect(),
        Some(_) => return Err("headers must be a dictionary of header names and values".into()),
    };
    let has =
        |h: &[(String, String)], name: &str| h.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let body = match (args.get("body"), format.as_str()) {
        (None | Some(Json::Null), _) => None,
        (Some(b), "json") => {
            if !has(&headers, "content-type") {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            Some(match b {
                Json::String(s) => s.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            })
        }
        (Some(Json::Object(m)), "form-urlencoded") => {
            if !has(&headers, "content-type") {
                headers.push((
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
            }
            let pairs: Vec<String> = m
                .iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    format!("{}={}", form_escape(k), form_escape(&v))
                })
                .collect();
            Some(pairs.join("&").into_bytes())
        }
        (_, "form-multipart") => {
            return Err("body_format form-multipart is not supported by Cairn".into());
        }
        (Some(Json::String(s)), _) => Some(s.clone().into_bytes()),
        (Some(other), "raw") => Some(other.to_string().into_bytes()),
        (Some(_), _) => {
            return Err("body must be a dictionary for body_format form-urlencoded".into());
        }
    };
    if let Some(user) = p.str(&["url_username", "user"]) {
        let pass = p.str(&["url_password", "password"]).unwrap_or_default();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        headers.push(("Authorization".into(), format!("Basic {token}")));
    }
    let codes: Vec<i64> = match args.get("status_code") {
        None | Some(Json::Null) => vec![200],
        Some(_) => {
            let list = p.list(&["status_code"]);
            let parsed: Result<Vec<i64>, _> = list.iter().map(|s| s.parse::<i64>()).collect();
            parsed.map_err(|_| {
                format!(
                    "status_code must be a number or a list of numbers, got {}",
                    list.join(",")
                )
            })?
        }
    };
    let req = Request {
        url,
        method,
        headers,
        body,
        timeout: p.int(&["timeout"])?.unwrap_or(30),
        validate_certs: p.flag(&["validate_certs"], true)?,
        follow_redirects: !matches!(
            p.str(&["follow_redirects"]).as_deref(),
            Some("none" | "no" | "false" | "False")
        ),
    };
    Ok((req, codes, p.flag(&["return_content"], false)?))
}

fn form_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// In check mode, a request that may change the server is reported, not sent.
fn check_mode_skip(req: &Request, check: bool) -> Option<ModuleResult> {
    if !check || matches!(req.method.as_str(), "GET" | "HEAD") {
        return None;
    }
    let mut r = ModuleResult {
        msg: Some(format!("check mode: {} {} not sent", req.method, req.url)),
        ..ModuleResult::default()
    };
    r.extra.insert("skipped".into(), json!(true));
    Some(r)
}

pub async fn run(call: &Call<'_>) -> Result<ModuleResult, SshError> {
    let (req, codes, return_content) = match request(call.args) {
        Ok(x) => x,
        Err(e) => return Ok(ModuleResult::failed(e)),
    };
    if let Some(r) = check_mode_skip(&req, call.check) {
        return Ok(r);
    }
    let (script, stdin) = http::script(&req, true, "");
    let limit = std::time::Duration::from_secs(req.timeout.max(1) as u64 + 60);
    let out = sh::run(call, &script, Some(&stdin), Some(limit)).await?;
    let resp = http::parse(&out.stdout_str());
    Ok(result(&req, &codes, return_content, &resp, call.host))
}

pub fn result(
    req: &Request,
    codes: &[i64],
    return_content: bool,
    resp: &http::Response,
    host: &str,
) -> ModuleResult {
    if resp.report.is("notool", "1") {
        return ModuleResult::failed(http::no_client(host, "uri"));
    }
    let ok = codes.contains(&resp.status);
    let detail = if resp.status < 0 {
        format!("Request failed: {}", resp.error)
    } else {
        format!("HTTP Error {}: {}", resp.status, resp.reason)
    };
    let mut r = if ok {
        ModuleResult {
            msg: Some(format!("OK ({} bytes)", resp.body.len())),
            ..ModuleResult::default()
        }
    } else {
        ModuleResult::failed(format!(
            "Status code was {} and not {codes:?}: {detail}",
            resp.status
        ))
    };
    r.extra.insert("status".into(), json!(resp.status));
    r.extra.insert(
        "url".into(),
        json!(resp.url.clone().unwrap_or_else(|| req.url.clone())),
    );
    r.extra.insert(
        "redirected".into(),
        json!(resp.url.as_deref().is_some_and(|u| u != req.url)),
    );
    for (k, v) in &resp.headers {
        r.extra.insert(k.replace('-', "_"), json!(v));
    }
    if return_content {
        r.extra.insert("content".into(), json!(resp.body));
        let is_json = resp
            .headers
            .get("content-type")
            .is_some_and(|t| t.contains("json"));
        if is_json && let Ok(j) = serde_json::from_str::<Json>(&resp.body) {
            r.extra.insert("json".into(), j);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Json) -> Result<(Request, Vec<i64>, bool), String> {
        request(v.as_object().unwrap())
    }

    #[test]
    fn requests() {
        let (r, codes, rc) = req(
            json!({"url": "http://h/x", "method": "post", "body": {"a": 1},
            "body_format": "json", "status_code": [200, "201"], "return_content": true}),
        )
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.body.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(
            r.headers,
            vec![("Content-Type".to_string(), "application/json".to_string())]
        );
        assert_eq!((codes, rc), (vec![200, 201], true));
        let (r, _, _) = req(
            json!({"url": "http://h/", "method": "POST", "body_format": "form-urlencoded",
            "body": {"q": "a b&c"}, "url_username": "u", "url_password": "p"}),
        )
        .unwrap();
        assert_eq!(r.body.as_deref(), Some(&b"q=a+b%26c"[..]));
        assert!(
            r.headers
                .contains(&("Authorization".into(), "Basic dTpw".into()))
        );
        assert_eq!(
            req(json!({"url": "ftp://h/"})).unwrap_err(),
            "url must start with http:// or https://, got \"ftp://h/\""
        );
        assert_eq!(
            req(json!({"url": "http://h/", "status_code": "ok"})).unwrap_err(),
            "status_code must be a number or a list of numbers, got ok"
        );
    }

    #[test]
    fn check_mode_sends_only_safe_methods() {
        let (post, _, _) = req(json!({"url": "http://h/x", "method": "POST"})).unwrap();
        let r = check_mode_skip(&post, true).unwrap();
        assert_eq!(
            r.msg.as_deref(),
            Some("check mode: POST http://h/x not sent")
        );
        assert!(!r.changed && !r.failed);
        assert!(check_mode_skip(&post, false).is_none());
        let (get, _, _) = req(json!({"url": "http://h/x"})).unwrap();
        assert!(check_mode_skip(&get, true).is_none());
    }

    #[test]
    fn results() {
        let (r, codes, _) = req(json!({"url": "http://h/x"})).unwrap();
        let resp = http::parse(
            "@tool=curl\n@rc=0\n@@headers\nHTTP/1.1 404 Not Found\nContent-Type: text/plain\n@@err\n@@body\nno",
        );
        let res = result(&r, &codes, false, &resp, "lab8");
        assert_eq!(
            res.msg.as_deref(),
            Some("Status code was 404 and not [200]: HTTP Error 404: Not Found")
        );
        assert_eq!(res.extra["content_type"], "text/plain");
        let refused = http::parse(
            "@tool=curl\n@rc=7\n@status=000 \n@@headers\n@@err\ncurl: (7) Failed to connect\n",
        );
        let res = result(&r, &codes, false, &refused, "lab8");
        assert_eq!(
            res.msg.as_deref(),
            Some("Status code was -1 and not [200]: Request failed: curl: (7) Failed to connect")
        );
        let none = http::parse("@notool=1\n");
        assert_eq!(
            result(&r, &codes, false, &none, "lab8").msg.as_deref(),
            Some(
                "uri runs on the host and needs curl or wget there: lab8 has neither; install one first (apt: name=curl)"
            )
        );
        let okr = http::parse(
            "@tool=curl\n@rc=0\n@@headers\nHTTP/1.1 200 OK\nContent-Type: application/json\n@@err\n@@body\n{\"ok\":true}",
        );
        let res = result(&r, &codes, true, &okr, "h");
        assert!(!res.failed && !res.changed);
        assert_eq!(res.extra["json"]["ok"], true);
        assert_eq!(res.msg.as_deref(), Some("OK (11 bytes)"));
    }
}
