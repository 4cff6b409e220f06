//! `pause`: wait a number of `seconds` or `minutes` on the controller, touching no host.
//!
//! `cairn play` runs without a terminal to answer from, so a `prompt` (or a pause with no
//! duration, which in Ansible waits for Enter) is refused with an error saying what to write
//! instead, rather than hanging a run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::params::Params;
use super::{Call, ModuleResult};

/// How long to pause, or why the arguments cannot be run.
pub fn duration(args: &crate::playbook::Vars) -> Result<Duration, String> {
    let p = Params(args);
    if p.str(&["prompt"]).is_some() {
        return Err(
            "pause: prompt needs someone at a terminal, and cairn play runs non-interactively; \
             remove prompt and give seconds or minutes"
                .into(),
        );
    }
    let number = |k: &str| -> Result<Option<f64>, String> {
        match p.str(&[k]) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(Some)
                .ok_or_else(|| format!("pause: {k} must be a non-negative number, got {v:?}")),
        }
    };
    match (number("seconds")?, number("minutes")?) {
        (Some(_), Some(_)) => Err("parameters are mutually exclusive: minutes|seconds".into()),
        (Some(s), None) => Ok(Duration::from_secs_f64(s)),
        (None, Some(m)) => Ok(Duration::from_secs_f64(m * 60.0)),
        (None, None) => Err(
            "pause: without seconds or minutes Ansible waits for Enter, and cairn play runs \
             non-interactively; give seconds or minutes"
                .into(),
        ),
    }
}

pub async fn run(call: &Call<'_>) -> ModuleResult {
    let d = match duration(call.args) {
        Ok(d) => d,
        Err(e) => return ModuleResult::failed(e),
    };
    let start = SystemTime::now();
    tokio::time::sleep(d).await;
    let stop = SystemTime::now();
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let delta = stop.duration_since(start).unwrap_or_default().as_secs();
    let mut r = ModuleResult {
        stdout: Some(format!("Paused for {} seconds", d.as_secs_f64())),
        ..ModuleResult::default()
    };
    r.extra.insert("start".into(), json!(secs(start)));
    r.extra.insert("stop".into(), json!(secs(stop)));
    r.extra.insert("delta".into(), json!(delta));
    r.extra.insert("user_input".into(), json!(""));
    r.extra.insert(
        "echo".into(),
        json!(Params(call.args).flag(&["echo"], true).unwrap_or(true)),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_refusals() {
        let d = |v: serde_json::Value| duration(v.as_object().unwrap());
        assert_eq!(d(json!({"seconds": 2})), Ok(Duration::from_secs(2)));
        assert_eq!(d(json!({"minutes": "0.5"})), Ok(Duration::from_secs(30)));
        assert_eq!(
            d(json!({"prompt": "continue?"})),
            Err("pause: prompt needs someone at a terminal, and cairn play runs non-interactively; remove prompt and give seconds or minutes".into())
        );
        assert_eq!(
            d(json!({})),
            Err("pause: without seconds or minutes Ansible waits for Enter, and cairn play runs non-interactively; give seconds or minutes".into())
        );
        assert_eq!(
            d(json!({"seconds": "soon"})),
            Err("pause: seconds must be a non-negative number, got \"soon\"".into())
        );
        assert_eq!(
            d(json!({"seconds": 1, "minutes": 1})),
            Err("parameters are mutually exclusive: minutes|seconds".into())
        );
    }
}
