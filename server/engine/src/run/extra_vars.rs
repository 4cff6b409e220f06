//! `-e/--extra-vars`: variables from the command line, the strongest of all.
//!
//! Owns the three forms ansible-playbook accepts: `key=value` words (values are strings),
//! a YAML/JSON mapping (`'{"a": [1, 2]}'`), and `@file` (a YAML or JSON file). Later
//! occurrences win. Must not: template the values (they are used as given).

use crate::playbook::Vars;
use crate::yaml;

/// Parse every `-e` value in order, later ones overriding earlier ones.
pub fn parse_all(values: &[String]) -> Result<Vars, String> {
    let mut out = Vars::new();
    for v in values {
        out.extend(parse(v)?);
    }
    Ok(out)
}

/// One `-e` value.
pub fn parse(value: &str) -> Result<Vars, String> {
    let text = value.trim();
    if let Some(path) = text.strip_prefix('@') {
        let body = std::fs::read_to_string(path)
            .map_err(|e| format!("-e @{path}: cannot read the file: {e}"))?;
        return mapping(&body).map_err(|e| format!("-e @{path}: {e}"));
    }
    if text.starts_with('{') {
        return mapping(text).map_err(|e| format!("-e {text:?}: {e}"));
    }
    let mut out = Vars::new();
    for word in split_words(text)? {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!(
                "-e {text:?}: {word:?} is not key=value; write -e key=value, -e '{{\"key\": ...}}' or -e @file.yml"
            ));
        };
        if k.is_empty() {
            return Err(format!(
                "-e {text:?}: a variable name is missing before '='"
            ));
        }
        out.insert(k.to_string(), v.to_string().into());
    }
    Ok(out)
}

fn mapping(text: &str) -> Result<Vars, String> {
    let node = yaml::parse(text).map_err(|e| format!("line {}: {}", e.span.line, e.message))?;
    match node.to_json() {
        serde_json::Value::Object(m) => Ok(m),
        serde_json::Value::Null => Ok(Vars::new()),
        _ => Err("extra variables must be a mapping of names to values".into()),
    }
}

/// Words separated by spaces, with '...' and "..." quoting (as Ansible's k=v parser).
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            None => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("-e {text:?}: a quote is not closed"));
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_three_forms_and_precedence() {
        let dir = std::env::temp_dir().join(format!("cairn-extra-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("e.yml");
        std::fs::write(&file, "a: from_file\nlist: [1, 2]\n").unwrap();
        let all = parse_all(&[
            "a=1 b='two words'".into(),
            format!("@{}", file.display()),
            r#"{"c": {"d": true}}"#.into(),
        ])
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(all),
            json!({"a": "from_file", "b": "two words", "list": [1, 2], "c": {"d": true}})
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mistakes_say_what_to_write() {
        assert_eq!(
            parse("novalue"),
            Err("-e \"novalue\": \"novalue\" is not key=value; write -e key=value, -e '{\"key\": ...}' or -e @file.yml".into())
        );
        assert_eq!(
            parse("a='x"),
            Err("-e \"a='x\": a quote is not closed".into())
        );
        assert!(
            parse("@/nonexistent/cairn.yml")
                .unwrap_err()
                .starts_with("-e @/nonexistent/cairn.yml: cannot read the file:")
        );
        let e = parse("{").unwrap_err();
        assert!(e.starts_with("-e \"{\": line "), "{e}");
    }
}
