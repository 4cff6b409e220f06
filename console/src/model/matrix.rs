//! The host × task matrix, virtualised: only the rows in view (plus a margin) exist in the
//! DOM, at a fixed height each, so 500 hosts cost what 30 do. This file decides which rows,
//! in which order, and writes their HTML; the page only sets it and handles clicks (each
//! host button carries `data-host`, its index in the model).

use std::fmt::Write as _;
use std::ops::Range;

use super::html::escape;
use super::progress::{Cell, RunModel};

/// Height of one row in CSS pixels (`.matrix .mrow` in style.css).
pub const ROW_PX: f64 = 20.0;
/// Rows drawn above and below the view, so fast scrolling does not show blanks.
pub const OVERSCAN: usize = 10;

/// The rows to draw for a viewport `viewport_px` high scrolled to `scroll_top`.
pub fn window(scroll_top: f64, viewport_px: f64, rows: usize) -> Range<usize> {
    let first = (scroll_top.max(0.0) / ROW_PX) as usize;
    let count = (viewport_px.max(0.0) / ROW_PX).ceil() as usize + 1;
    let start = first.saturating_sub(OVERSCAN).min(rows);
    let end = (first + count + OVERSCAN).min(rows);
    start..end
}

/// Host indexes in display order: inventory order, or failed/unreachable hosts first.
pub fn order(m: &RunModel, failed_first: bool) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..m.hosts.len()).collect();
    if failed_first {
        idx.sort_by_key(|&i| !(m.hosts[i].failed || m.hosts[i].unreachable));
    }
    idx
}

/// The HTML of rows `range` of `order` (absolutely positioned by their row number).
pub fn rows_html(
    m: &RunModel,
    order: &[usize],
    range: Range<usize>,
    selected: Option<usize>,
) -> String {
    let mut out = String::with_capacity(range.len() * (80 + 30 * m.tasks.len()));
    for (pos, &h) in order[range.clone()].iter().enumerate() {
        let row = &m.hosts[h];
        let top = (range.start + pos) as f64 * ROW_PX;
        let sel = if selected == Some(h) { " selected" } else { "" };
        let state = if row.unreachable {
            "unreachable"
        } else if row.failed {
            "failed"
        } else {
            ""
        };
        let name = escape(&row.name);
        let _ = write!(
            out,
            r#"<div class="mrow{sel}" style="top:{top}px"><button type="button" class="host {state}" data-host="{h}" title="{name}: show its output">{name}</button>"#
        );
        for t in 0..m.tasks.len() {
            let c = row.cells.get(t).copied().unwrap_or(Cell::Pending);
            if c == Cell::Pending {
                out.push_str(r#"<i class="cell pending"></i>"#);
            } else {
                let _ = write!(
                    out,
                    r#"<i class="cell {}" title="{}: {}"></i>"#,
                    c.class(),
                    escape(&m.tasks[t].name),
                    c.class()
                );
            }
        }
        out.push_str("</div>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_protocol::{Envelope, HostResult, Location, Outcome, RunEvent};

    #[test]
    fn the_window_covers_the_view_and_a_margin_within_bounds() {
        for (top, view, rows, want) in [
            (0.0, 400.0, 500, 0..31),
            (2000.0, 400.0, 500, 90..131),
            (9990.0, 400.0, 500, 489..500),
            (0.0, 400.0, 3, 0..3),
            (0.0, 400.0, 0, 0..0),
            (-50.0, 400.0, 500, 0..31),
        ] {
            assert_eq!(window(top, view, rows), want, "top {top}");
        }
    }

    fn model() -> RunModel {
        let loc = Location {
            file: "f".into(),
            line: 1,
            column: 1,
        };
        let hosts: Vec<String> = ["a<b>", "ok-host", "bad"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut m = RunModel::new(1);
        let r = |host: &str, outcome| {
            RunEvent::HostResult(HostResult {
                host: host.into(),
                task: "t\"1".into(),
                outcome,
                ignored: false,
                rc: None,
                stdout: None,
                stderr: None,
                msg: None,
                data: Default::default(),
                duration_ms: 1,
                censored: false,
                diff: vec![],
                delegated_to: None,
                item: None,
                looped: false,
                checkpoint: None,
                resumed: None,
            })
        };
        let evs = vec![
            RunEvent::RunStarted {
                playbook: "p".into(),
                hosts: hosts.clone(),
            },
            RunEvent::PlayStarted {
                name: "p".into(),
                hosts,
                location: loc.clone(),
            },
            RunEvent::TaskStarted {
                name: "t\"1".into(),
                action: "x".into(),
                location: loc,
            },
            r("ok-host", Outcome::Ok),
            r("bad", Outcome::Failed),
        ];
        for (i, e) in evs.into_iter().enumerate() {
            m.apply(&Envelope {
                run: 1,
                seq: i as u64 + 1,
                time_ms: 0,
                event: e,
            });
        }
        m
    }

    #[test]
    fn failed_hosts_can_come_first() {
        let m = model();
        assert_eq!(order(&m, false), vec![0, 1, 2]);
        assert_eq!(order(&m, true), vec![2, 0, 1]);
    }

    #[test]
    fn rows_are_escaped_positioned_and_coloured() {
        let m = model();
        let ord = order(&m, true);
        let html = rows_html(&m, &ord, 1..3, Some(1));
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains(
                r#"data-host="0" title="a&lt;b&gt;: show its output">a&lt;b&gt;</button>"#
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"<div class="mrow" style="top:20px">"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<div class="mrow selected" style="top:40px">"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<i class="cell running" title="t&quot;1: running">"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<i class="cell ok" title="t&quot;1: ok">"#),
            "{html}"
        );
        assert!(
            !html.contains("class=\"host failed\""),
            "row 0 (bad) is outside 1..3: {html}"
        );
        let first = rows_html(&m, &ord, 0..1, None);
        assert!(
            first.contains(r#"class="host failed" data-host="2""#),
            "{first}"
        );
    }
}
