//! Reading a module's arguments the way Ansible's argument spec does: booleans written as
//! `yes`/`no`/`true`/`1`, lists written as YAML lists or comma-separated strings, choices and
//! required arguments with Ansible's messages.
//!
//! Owns argument *types* only. Must not: know which module takes which argument (the loader's
//! registry in `playbook/modules.rs` rejects unknown names) or touch the host.

use serde_json::Value as Json;

use crate::playbook::Vars;

/// A module's templated arguments, with typed getters that say what is wrong in Ansible's words.
pub struct Params<'a>(pub &'a Vars);

impl Params<'_> {
    /// The value of `key` or of its first alias that is set.
    fn get(&self, keys: &[&str]) -> Option<&Json> {
        keys.iter()
            .find_map(|k| self.0.get(*k).filter(|v| !v.is_null()))
    }

    /// A string (numbers and booleans as their text).
    pub fn str(&self, keys: &[&str]) -> Option<String> {
        match self.get(keys)? {
            Json::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    pub fn required(&self, keys: &[&str]) -> Result<String, String> {
        self.str(keys)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("missing required arguments: {}", keys[0]))
    }

    /// A boolean as Ansible reads one (`yes`, `on`, `true`, `1`, ...).
    pub fn bool(&self, keys: &[&str]) -> Result<Option<bool>, String> {
        let Some(v) = self.get(keys) else {
            return Ok(None);
        };
        let b = match v {
            Json::Bool(b) => Some(*b),
            Json::Number(n) => match n.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            Json::String(s) => match s.to_ascii_lowercase().as_str() {
                "yes" | "on" | "true" | "1" | "y" | "t" => Some(true),
                "no" | "off" | "false" | "0" | "n" | "f" => Some(false),
                _ => None,
            },
            _ => None,
        };
        b.map(Some).ok_or_else(|| {
            format!(
                "argument '{}' is of type {} and we were unable to convert to bool",
                keys[0],
                kind(v)
            )
        })
    }

    pub fn flag(&self, keys: &[&str], default: bool) -> Result<bool, String> {
        Ok(self.bool(keys)?.unwrap_or(default))
    }

    /// A list: a YAML list, or a comma-separated string (as Ansible splits `name: a,b`).
    pub fn list(&self, keys: &[&str]) -> Vec<String> {
        match self.get(keys) {
            None => Vec::new(),
            Some(Json::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Json::String(s) => s.trim().to_string(),
                    other => other.to_string(),
                })
                .filter(|s| !s.is_empty())
                .collect(),
            Some(Json::String(s)) => s
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            Some(other) => vec![other.to_string()],
        }
    }

    /// One of `choices` (the first is the default when unset).
    pub fn choice(&self, keys: &[&str], choices: &[&str]) -> Result<String, String> {
        self.choice_or(keys, choices, choices[0])
    }

    pub fn choice_or(
        &self,
        keys: &[&str],
        choices: &[&str],
        default: &str,
    ) -> Result<String, String> {
        match self.str(keys) {
            None => Ok(default.to_string()),
            Some(v) if choices.contains(&v.as_str()) => Ok(v),
            Some(v) => Err(format!(
                "value of {} must be one of: {}, got: {v}",
                keys[0],
                choices.join(", ")
            )),
        }
    }

    /// A whole number (`"30"` accepted).
    pub fn int(&self, keys: &[&str]) -> Result<Option<i64>, String> {
        let Some(v) = self.get(keys) else {
            return Ok(None);
        };
        let n = match v {
            Json::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Json::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
            _ => None,
        };
        n.map(Some).ok_or_else(|| {
            format!(
                "argument '{}' is of type {} and we were unable to convert to int",
                keys[0],
                kind(v)
            )
        })
    }

    /// A file mode written as Ansible accepts it: an octal string (`"0644"`, `"u=rw"` is not
    /// supported here) or a number, taken as the octal digits it was written with.
    pub fn mode(&self, keys: &[&str]) -> Result<Option<String>, String> {
        let Some(v) = self.get(keys) else {
            return Ok(None);
        };
        let s = match v {
            Json::String(s) => s.trim().to_string(),
            Json::Number(n) => format!("{:o}", n.as_u64().unwrap_or(0)),
            _ => String::new(),
        };
        let digits = s.trim_start_matches('0');
        if !s.is_empty() && s.len() <= 5 && s.chars().all(|c| ('0'..='7').contains(&c)) {
            Ok(Some(format!(
                "{:0>4}",
                if digits.is_empty() { "0" } else { digits }
            )))
        } else {
            Err(format!("mode must be an octal number like '0644', got {v}"))
        }
    }
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "NoneType",
        Json::Bool(_) => "bool",
        Json::Number(_) => "int",
        Json::String(_) => "str",
        Json::Array(_) => "list",
        Json::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Json) -> Vars {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn typed_arguments() {
        let v = p(
            json!({"a": "yes", "b": 0, "c": "maybe", "l": "x, y,,z", "m": ["q", 1],
            "n": "30", "s": "latest", "o": 420, "os": "644"}),
        );
        let a = Params(&v);
        assert_eq!(a.bool(&["a"]), Ok(Some(true)));
        assert_eq!(a.bool(&["b"]), Ok(Some(false)));
        assert_eq!(a.bool(&["zz"]), Ok(None));
        assert_eq!(
            a.bool(&["c"]),
            Err("argument 'c' is of type str and we were unable to convert to bool".into())
        );
        assert_eq!(a.list(&["l"]), vec!["x", "y", "z"]);
        assert_eq!(a.list(&["nope", "m"]), vec!["q", "1"]);
        assert_eq!(a.int(&["n"]), Ok(Some(30)));
        assert_eq!(
            a.choice(&["s"], &["present", "latest"]),
            Ok("latest".into())
        );
        assert_eq!(
            a.choice(&["zz"], &["present", "latest"]),
            Ok("present".into())
        );
        assert_eq!(
            a.choice(&["s"], &["present", "absent"]),
            Err("value of s must be one of: present, absent, got: latest".into())
        );
        assert_eq!(a.required(&["zz", "s"]).unwrap(), "latest");
        assert_eq!(
            a.required(&["name"]),
            Err("missing required arguments: name".into())
        );
        assert_eq!(a.mode(&["o"]), Ok(Some("0644".into())));
        assert_eq!(a.mode(&["os"]), Ok(Some("0644".into())));
        assert!(a.mode(&["s"]).is_err());
    }
}
