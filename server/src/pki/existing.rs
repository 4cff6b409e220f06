//! Reading a stored certificate back (x509-parser) and judging whether it can be kept: issued
//! by this CA (signature checked), valid for longer than the renewal margin, for exactly the
//! names and usages wanted, and paired with its key. Must not: write or issue.

use super::ca::Ca;
use super::profile::{San, Wanted};
use rcgen::KeyPair;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

/// What to do with a stored certificate.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Neither the certificate nor its key exists.
    Missing,
    /// Issue anew, for this reason.
    Replace(String),
}

/// The DER of the first certificate in a PEM text.
pub fn parse_pem(pem: &str) -> Result<Vec<u8>, String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate ({e})"))?;
    if p.label != "CERTIFICATE" {
        return Err(format!("a PEM {} block, not a CERTIFICATE", p.label));
    }
    Ok(p.contents)
}

pub fn public_key_matches(cert: &X509Certificate<'_>, key: &KeyPair) -> bool {
    cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw()
}

/// The names a certificate carries, sorted like [`Wanted::sans`].
pub fn sans_of(cert: &X509Certificate<'_>) -> Vec<San> {
    let mut out = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => out.push(San::Dns(d.to_string())),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => out.push(San::Ip(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()))),
                    16 => out.push(San::Ip(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()))),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn show(sans: &[San]) -> String {
    sans.iter()
        .map(|s| match s {
            San::Dns(d) => d.clone(),
            San::Ip(ip) => ip.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn judge(crt: &Path, key: &Path, ca: &Ca, wanted: &Wanted, renew_before: Duration) -> Verdict {
    match (crt.exists(), key.exists()) {
        (false, false) => return Verdict::Missing,
        (true, false) => return Verdict::Replace("its key is missing".into()),
        (false, true) => return Verdict::Replace("the certificate is missing".into()),
        (true, true) => {}
    }
    let (Ok(crt_pem), Ok(key_pem)) = (std::fs::read_to_string(crt), std::fs::read_to_string(key))
    else {
        return Verdict::Replace("unreadable".into());
    };
    let der = match parse_pem(&crt_pem) {
        Ok(d) => d,
        Err(e) => return Verdict::Replace(e),
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else {
        return Verdict::Replace("not a valid certificate".into());
    };
    let Ok((_, ca_cert)) = x509_parser::parse_x509_certificate(&ca.der) else {
        return Verdict::Replace("the CA does not parse".into());
    };
    if cert.verify_signature(Some(ca_cert.public_key())).is_err() {
        return Verdict::Replace("not issued by the current CA".into());
    }
    match KeyPair::from_pem(&key_pem) {
        Ok(k) if public_key_matches(&cert, &k) => {}
        _ => return Verdict::Replace("its key does not match".into()),
    }
    let left = cert.validity().time_to_expiration();
    match left {
        None => return Verdict::Replace("expired or not yet valid".into()),
        Some(d) if d.whole_seconds() < renew_before.as_secs() as i64 => {
            return Verdict::Replace(format!("expires on {}", cert.validity().not_after));
        }
        Some(_) => {}
    }
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .unwrap_or("");
    if cn != wanted.common_name {
        return Verdict::Replace(format!(
            "its subject is {cn:?}, wanted {:?}",
            wanted.common_name
        ));
    }
    let org = cert
        .subject()
        .iter_organization()
        .next()
        .and_then(|o| o.as_str().ok())
        .map(str::to_string);
    if org != wanted.organization {
        return Verdict::Replace(format!(
            "its organization is {:?}, wanted {:?}",
            org.unwrap_or_default(),
            wanted.organization.clone().unwrap_or_default()
        ));
    }
    let sans = sans_of(&cert);
    if sans != wanted.sans {
        return Verdict::Replace(format!(
            "its names are [{}], wanted [{}]",
            show(&sans),
            show(&wanted.sans)
        ));
    }
    let (server, client) = match cert.extended_key_usage() {
        Ok(Some(e)) => (e.value.server_auth, e.value.client_auth),
        _ => (false, false),
    };
    if (server, client) != (wanted.server_auth, wanted.client_auth) {
        return Verdict::Replace("its usages differ".into());
    }
    Verdict::Keep
}
