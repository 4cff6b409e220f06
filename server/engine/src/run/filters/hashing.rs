//! Digests and password hashes: `hash(algorithm)` (sha1 by default; md5, sha224, sha256,
//! sha384, sha512), `checksum` (sha1, as Ansible), `md5`, `sha1`, and `password_hash`
//! (`sha512`/`sha256` crypt, `$6$`/`$5$`, as passlib writes them: the `rounds=` field only
//! when rounds differ from 5000, and passlib's default rounds when none are given).
//!
//! Must not: put the password in an error message.

use md5::Md5;
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, State, Value};
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use super::text::py_str;
use super::{add, fail};

const B: &[&str] = &["ansible.builtin"];

pub fn register(env: &mut Environment<'static>) {
    add(
        env,
        B,
        "hash",
        |v: Value, algo: Option<String>| -> Result<String, Error> {
            digest(
                "hash",
                algo.as_deref().unwrap_or("sha1"),
                py_str(&v).as_bytes(),
            )
        },
    );
    add(env, B, "checksum", |v: Value| {
        digest("checksum", "sha1", py_str(&v).as_bytes())
    });
    add(env, B, "sha1", |v: Value| {
        digest("sha1", "sha1", py_str(&v).as_bytes())
    });
    add(env, B, "md5", |v: Value| {
        digest("md5", "md5", py_str(&v).as_bytes())
    });
    add(env, B, "password_hash", password_hash);
}

fn digest(filter: &str, algo: &str, data: &[u8]) -> Result<String, Error> {
    Ok(match algo {
        "md5" => hex::encode(Md5::digest(data)),
        "sha1" => hex::encode(Sha1::digest(data)),
        "sha224" => hex::encode(Sha224::digest(data)),
        "sha256" => hex::encode(Sha256::digest(data)),
        "sha384" => hex::encode(Sha384::digest(data)),
        "sha512" => hex::encode(Sha512::digest(data)),
        other => {
            return Err(fail(
                filter,
                format!(
                    "unsupported hash type '{other}' (md5, sha1, sha224, sha256, sha384, sha512)"
                ),
            ));
        }
    })
}

const CRYPT_ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Template fuel (see `template::FUEL`) one crypt round costs per 64-byte block of password
/// and salt: a SHA-512 compression costs about what a few template instructions do. Passlib's
/// default 656,000 rounds take an eighth of the budget for a password of up to 60 bytes, nine
/// tenths for 400 bytes; `rounds=999999999` (allowed by the format: hours of CPU) or a
/// kilobyte password is refused as too much work instead of hanging the run (found by the
/// `template` fuzz target).
const FUEL_PER_ROUND_BLOCK: u64 = 4;

/// `password_hash(hashtype='sha512', salt=None, rounds=None)`.
fn password_hash(
    state: &State,
    v: Value,
    hashtype: Option<String>,
    salt: Option<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let salt = match kwargs.get::<Option<Value>>("salt")? {
        Some(s) => Some(s),
        None => salt,
    };
    let rounds: Option<u32> = kwargs.get("rounds")?;
    let hashtype = kwargs
        .get::<Option<String>>("hashtype")?
        .or(hashtype)
        .unwrap_or_else(|| "sha512".into());
    kwargs.assert_all_used()?;
    let (ident, default_rounds) = match hashtype.as_str() {
        "sha512" | "sha512_crypt" => ("6", 656_000),
        "sha256" | "sha256_crypt" => ("5", 535_000),
        other => {
            return Err(fail(
                "password_hash",
                format!("unsupported hash type '{other}' (sha512, sha256)"),
            ));
        }
    };
    let salt = match salt.filter(|s| !s.is_none()) {
        Some(s) => {
            let s = py_str(&s);
            if s.is_empty() || !s.bytes().all(|b| CRYPT_ALPHABET.contains(&b)) {
                return Err(fail(
                    "password_hash",
                    "the salt must be 1 to 16 characters from ./0-9A-Za-z",
                ));
            }
            s.chars().take(16).collect()
        }
        None => {
            use rand::Rng;
            let mut rng = rand::rng();
            (0..16)
                .map(|_| CRYPT_ALPHABET[rng.random_range(0..CRYPT_ALPHABET.len())] as char)
                .collect::<String>()
        }
    };
    let rounds = rounds.unwrap_or(default_rounds);
    let params = sha_crypt::Params::new(rounds).map_err(|_| {
        fail(
            "password_hash",
            format!("rounds must be 1000..999999999, got {rounds}"),
        )
    })?;
    let password = py_str(&v);
    let blocks = 1 + (password.len() + salt.len()) as u64 / 64;
    state.consume_fuel(u64::from(rounds).saturating_mul(blocks * FUEL_PER_ROUND_BLOCK))?;
    let encoded = if ident == "6" {
        const T: [usize; 64] = [
            42, 21, 0, 1, 43, 22, 23, 2, 44, 45, 24, 3, 4, 46, 25, 26, 5, 47, 48, 27, 6, 7, 49, 28,
            29, 8, 50, 51, 30, 9, 10, 52, 31, 32, 11, 53, 54, 33, 12, 13, 55, 34, 35, 14, 56, 57,
            36, 15, 16, 58, 37, 38, 17, 59, 60, 39, 18, 19, 61, 40, 41, 20, 62, 63,
        ];
        let raw = sha_crypt::sha512_crypt(password.as_bytes(), salt.as_bytes(), params);
        crypt_b64(&T.map(|i| raw[i]))
    } else {
        const T: [usize; 32] = [
            20, 10, 0, 11, 1, 21, 2, 22, 12, 23, 13, 3, 14, 4, 24, 5, 25, 15, 26, 16, 6, 17, 7, 27,
            8, 28, 18, 29, 19, 9, 30, 31,
        ];
        let raw = sha_crypt::sha256_crypt(password.as_bytes(), salt.as_bytes(), params);
        crypt_b64(&T.map(|i| raw[i]))
    };
    let rounds_field = if rounds == 5000 {
        String::new()
    } else {
        format!("rounds={rounds}$")
    };
    Ok(format!("${ident}${rounds_field}{salt}${encoded}"))
}

/// crypt(3)'s base64: 6 bits at a time, least significant first, over 3-byte groups.
fn crypt_b64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut v: u32 = 0;
        for (i, b) in chunk.iter().enumerate() {
            v |= (*b as u32) << (8 * i);
        }
        let n = match chunk.len() {
            3 => 4,
            2 => 3,
            _ => 2,
        };
        for _ in 0..n {
            out.push(CRYPT_ALPHABET[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    }
    out
}
