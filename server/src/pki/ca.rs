//! The cluster CA: created once (ECDSA P-256, self-signed, `CN=<cluster> cluster CA`), then
//! only loaded. Loading checks that the certificate parses, is a CA, has not expired and
//! matches its key; any failure is an error with what to do, never a silent new CA.
//! Must not: write anything but a new CA's two files.

use super::existing::{parse_pem, public_key_matches};
use super::files;
use super::profile::{San, Wanted};
use super::{Action, PkiError};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose as Ku, PKCS_ECDSA_P256_SHA256, SanType,
};
use std::path::Path;
use time::{Duration, OffsetDateTime};

/// Certificates start this long before now: a host whose clock is a little behind must not
/// see them as not yet valid.
const BACKDATE: Duration = Duration::hours(1);

pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, DER, for judging what it issued.
    pub der: Vec<u8>,
}

impl Ca {
    /// The cluster CA (`ca.crt`, `ca.key`, `CN=<cluster> cluster CA, O=cairn`): etcd's and
    /// the registry's.
    pub fn load_or_create(dir: &Path, cluster: &str, days: u32) -> Result<(Ca, Action), PkiError> {
        Ca::load_or_create_named(
            dir,
            "ca",
            &format!("{cluster} cluster CA"),
            "the cluster CA",
            days,
        )
    }

    /// A CA kept as `<dir>/<stem>.crt` and `<stem>.key` with subject `CN=<cn>, O=cairn`
    /// (`what` names it in errors: "the Kubernetes CA").
    pub fn load_or_create_named(
        dir: &Path,
        stem: &str,
        cn: &str,
        what: &'static str,
        days: u32,
    ) -> Result<(Ca, Action), PkiError> {
        let crt = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        let refuse = |problem: String, remedy: &str| PkiError::Ca {
            what,
            dir: dir.to_path_buf(),
            problem,
            remedy: remedy.to_string(),
        };
        match (crt.exists(), key.exists()) {
            (false, false) => {}
            (true, false) => {
                return Err(refuse(
                    format!("{stem}.crt exists but {stem}.key is missing"),
                    &format!(
                        "restore {stem}.key from your backup (a new CA would not be trusted by the hosts already installed)"
                    ),
                ));
            }
            (false, true) => {
                return Err(refuse(
                    format!("{stem}.key exists but {stem}.crt is missing"),
                    &format!(
                        "restore {stem}.crt from your backup, or remove {stem}.key to create a new CA deliberately"
                    ),
                ));
            }
            (true, true) => return Ok((Ca::load(stem, &crt, &key, &refuse)?, Action::Kept)),
        }
        let key_pair =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Issue {
                what: what.into(),
                source,
            })?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        dn.push(DnType::OrganizationName, "cairn");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![Ku::KeyCertSign, Ku::CrlSign, Ku::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + Duration::days(days.into());
        let cert = params
            .self_signed(&key_pair)
            .map_err(|source| PkiError::Issue {
                what: what.into(),
                source,
            })?;
        files::write_private(&key, key_pair.serialize_pem().as_bytes())?;
        files::write_public(&crt, cert.pem().as_bytes())?;
        let der = cert.der().to_vec();
        Ok((
            Ca {
                issuer: Issuer::new(params, key_pair),
                der,
            },
            Action::Created,
        ))
    }

    fn load(
        stem: &str,
        crt: &Path,
        key: &Path,
        refuse: &dyn Fn(String, &str) -> PkiError,
    ) -> Result<Ca, PkiError> {
        const FIX: &str = "restore the CA from your backup; to start a new PKI deliberately, move the directory away (every host must then be re-installed)";
        let crt_pem = std::fs::read_to_string(crt).map_err(PkiError::io(crt))?;
        let key_pem = std::fs::read_to_string(key).map_err(PkiError::io(key))?;
        let der = parse_pem(&crt_pem).map_err(|e| refuse(format!("{stem}.crt: {e}"), FIX))?;
        let key_pair =
            KeyPair::from_pem(&key_pem).map_err(|e| refuse(format!("{stem}.key: {e}"), FIX))?;
        {
            let (_, cert) = x509_parser::parse_x509_certificate(&der)
                .map_err(|e| refuse(format!("{stem}.crt: {e}"), FIX))?;
            if !cert.is_ca() {
                return Err(refuse(format!("{stem}.crt is not a CA certificate"), FIX));
            }
            if !cert.validity().is_valid() {
                return Err(refuse(
                    format!(
                        "{stem}.crt is not valid now (valid {} to {})",
                        cert.validity().not_before,
                        cert.validity().not_after
                    ),
                    "renew the CA deliberately (every host must then be re-installed); Cairn does not replace a CA on its own",
                ));
            }
            if !public_key_matches(&cert, &key_pair) {
                return Err(refuse(
                    format!("{stem}.key does not belong to {stem}.crt"),
                    FIX,
                ));
            }
        }
        let issuer = Issuer::from_ca_cert_pem(&crt_pem, key_pair)
            .map_err(|e| refuse(format!("{stem}.crt: {e}"), FIX))?;
        Ok(Ca { issuer, der })
    }

    /// A new key and a certificate for `wanted`, valid `days` from now. PEM, certificate first.
    pub fn issue(&self, wanted: &Wanted, days: u32) -> Result<(String, String), rcgen::Error> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, wanted.common_name.clone());
        if let Some(o) = &wanted.organization {
            dn.push(DnType::OrganizationName, o.clone());
        }
        params.distinguished_name = dn;
        params.subject_alt_names = wanted
            .sans
            .iter()
            .map(|s| {
                Ok(match s {
                    San::Dns(d) => SanType::DnsName(d.clone().try_into()?),
                    San::Ip(ip) => SanType::IpAddress(*ip),
                })
            })
            .collect::<Result<_, rcgen::Error>>()?;
        params.key_usages = wanted.key_usages();
        params.extended_key_usages = wanted.extended_key_usages();
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + Duration::days(days.into());
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}
