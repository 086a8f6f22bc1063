//! The documents: one self-contained HTML page (XHTML-compatible markup, so an XML parser
//! reads it; inline CSS and SVG, no JavaScript, no external resource; light and printable
//! on A4 or Letter), or the bare SVG of all targets stacked.

use crate::escape::text;
use crate::model::{Class, Run, TargetRun, Thresholds};
use crate::svg::{self, fmt_num, pct, rule_name};
use mobius_core::records::Decision;
use std::fmt::Write;

/// Failed checks listed in a target's table; the rest are summed up by class.
const TABLE_ROWS: usize = 60;

const CSS: &str = "
:root { color-scheme: light; }
body { font-family: 'DejaVu Sans', Arial, Helvetica, sans-serif; color: #222; background: #fff;
  margin: 16px auto; max-width: 1100px; padding: 0 12px; font-size: 14px; line-height: 1.35; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 18px 0 6px; overflow-wrap: anywhere; }
.meta { color: #555; margin: 0 0 10px; overflow-wrap: anywhere; }
.verdict { border: 2px solid #999; border-radius: 4px; padding: 8px 12px; margin: 8px 0 12px; }
.verdict.rollback { border-color: #d62728; background: #fdecea; }
.verdict.pass { border-color: #2ca02c; background: #edf7ed; }
.verdict.inconclusive { border-color: #b8860b; background: #fdf6e3; }
.verdict .word { font-weight: bold; font-size: 18px; }
.reason { overflow-wrap: anywhere; white-space: pre-wrap; }
table { border-collapse: collapse; margin: 6px 0; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
td.detail { overflow-wrap: anywhere; max-width: 520px; }
svg { display: block; width: 100%; height: auto; }
section.target { break-inside: avoid; page-break-inside: avoid; }
@media print {
  @page { size: auto; margin: 12mm; }
  body { margin: 0; max-width: none; padding: 0; font-size: 11px; }
  .verdict, .verdict.rollback, .verdict.pass, .verdict.inconclusive { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section.target { break-before: auto; }
  table.failures { break-inside: auto; }
}
";

fn decision_word(d: Decision) -> &'static str {
    match d {
        Decision::Pass => "pass",
        Decision::Rollback => "rollback",
        Decision::Inconclusive => "inconclusive",
        Decision::Continue => "continue",
    }
}

/// What the page is about: the log's name (as given) and the period.
pub struct Title<'a> {
    pub input: &'a str,
}

pub fn html(run: &Run, th: &Thresholds, title: &Title<'_>) -> String {
    let mut out = String::with_capacity(64 * 1024 * run.targets.len().max(1));
    out.push_str("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\"><head><meta charset=\"utf-8\"/><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>");
    let _ = write!(out, "<title>MOBIUS run: {}</title>", text(title.input));
    let _ = write!(out, "<style>{CSS}</style></head><body>");
    let _ = write!(out, "<h1>Monitoring run: {}</h1>", text(title.input));
    let _ = write!(out, "<p class=\"meta\">{}</p>", text(&meta(run)));
    verdict_box(&mut out, run);
    thresholds_table(&mut out, th);
    for t in &run.targets {
        target_section(&mut out, run, t, th);
    }
    if run.extra_samples > 0 {
        let _ = write!(
            out,
            "<p class=\"meta\">{} more samples of targets beyond the first {} are not drawn (e.g. {}).</p>",
            run.extra_samples,
            crate::model::MAX_TARGETS,
            text(&run.extra_targets.join(", "))
        );
    }
    let _ = writeln!(
        out,
        "<p class=\"meta\">Drawn by mobius-report {} from {} lines. Replay the verdicts: mobius-judge &lt; LOG</p></body></html>",
        mobius_core::VERSION,
        run.lines
    );
    out
}

/// The bare SVG: a header with the verdict, then each target's charts.
pub fn svg_document(run: &Run, th: &Thresholds, title: &Title<'_>) -> String {
    let header = 70.0;
    let h = header + svg::HEIGHT * run.targets.len() as f64;
    let mut out = String::with_capacity(64 * 1024 * run.targets.len().max(1));
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w:.0} {h:.0}\" width=\"{w:.0}\" height=\"{h:.0}\" font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\" font-size=\"13\"><rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>",
        w = svg::WIDTH
    );
    let _ = write!(
        out,
        "<text x=\"10\" y=\"20\" font-weight=\"bold\" font-size=\"15\">Monitoring run: {}</text>",
        text(title.input)
    );
    let verdict = match &run.overall {
        Some(v) => format!(
            "{}{}: {}",
            decision_word(v.decision).to_uppercase(),
            v.rule
                .map(|r| format!(" ({})", rule_name(r)))
                .unwrap_or_default(),
            v.reason
        ),
        None => "no overall verdict in the log".to_owned(),
    };
    let _ = write!(
        out,
        "<text x=\"10\" y=\"40\">{}</text>",
        text(&crate::model::cap(&verdict, 160))
    );
    let _ = write!(
        out,
        "<text x=\"10\" y=\"58\" fill=\"#555555\">{}</text>",
        text(&threshold_line(th))
    );
    for (i, t) in run.targets.iter().enumerate() {
        let y = header + svg::HEIGHT * i as f64;
        let _ = write!(
            out,
            "<text x=\"10\" y=\"{:.0}\" font-weight=\"bold\">{}</text>",
            y + 16.0,
            text(&t.name)
        );
        svg::target(&mut out, run, t, th, Some(y));
    }
    out.push_str("</svg>\n");
    out
}

fn meta(run: &Run) -> String {
    let first = run
        .targets
        .iter()
        .map(|t| t.first_ts.as_str())
        .min()
        .unwrap_or("");
    let last = run
        .targets
        .iter()
        .map(|t| t.last_ts.as_str())
        .max()
        .unwrap_or("");
    let checks: u64 = run.targets.iter().map(|t| t.checks).sum();
    format!(
        "{}, {}, from {first} to {last}",
        mobius_core::text::plural(
            (run.targets.len() + run.extra_targets.len()) as u64,
            "target"
        ),
        mobius_core::text::plural(checks + run.extra_samples, "check")
    )
}

fn verdict_box(out: &mut String, run: &Run) {
    match &run.overall {
        Some(v) => {
            let word = decision_word(v.decision);
            let _ = write!(
                out,
                "<div class=\"verdict {word}\"><span class=\"word\">Verdict: {}</span>",
                word.to_uppercase()
            );
            if let Some(r) = v.rule {
                let _ = write!(out, " &#8212; rule <code>{}</code>", rule_name(r));
            }
            let _ = write!(
                out,
                " at check {} ({})<div class=\"reason\">{}</div>",
                v.checks,
                text(&v.ts),
                text(&v.reason)
            );
            if let Some(rb) = &run.rollback {
                let took = rb
                    .duration_ms
                    .map(|ms| format!(", took {:.1} s", ms as f64 / 1000.0))
                    .unwrap_or_default();
                let at = rb.ts.as_deref().map(|t| format!(" at {t}")).unwrap_or_default();
                let _ = write!(
                    out,
                    "<div>Rollback finished: <b>{}</b>{}</div>",
                    text(&rb.outcome),
                    text(&format!("{at}{took}"))
                );
            }
            out.push_str("</div>");
        }
        None => out.push_str(
            "<div class=\"verdict\"><span class=\"word\">No overall verdict in the log</span> (the judge's lines are missing: the run was cut short, or this is a probe log alone)</div>",
        ),
    }
}

fn threshold_line(th: &Thresholds) -> String {
    format!(
        "thresholds: P95 {} ms, minimum success rate {}, error rate {}, rules from check {}",
        fmt_num(th.p95_ms.0),
        pct(th.min_success_rate.0),
        pct(th.error_rate.0),
        th.min_checks.0
    )
}

fn thresholds_table(out: &mut String, th: &Thresholds) {
    out.push_str(
        "<table class=\"thresholds\"><tr><th>threshold</th><th>value</th><th>source</th></tr>",
    );
    let rows = [
        (
            "P95 latency (--p95-ms)",
            format!("{} ms", fmt_num(th.p95_ms.0)),
            th.p95_ms.1,
        ),
        (
            "minimum success rate (--min-success-rate)",
            pct(th.min_success_rate.0),
            th.min_success_rate.1,
        ),
        (
            "error rate (--error-rate)",
            pct(th.error_rate.0),
            th.error_rate.1,
        ),
        (
            "rules apply from check (--min-checks)",
            th.min_checks.0.to_string(),
            th.min_checks.1,
        ),
    ];
    for (name, value, source) in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(name),
            text(&value),
            source.label()
        );
    }
    out.push_str("</table>");
}

fn target_section(out: &mut String, run: &Run, t: &TargetRun, th: &Thresholds) {
    out.push_str("<section class=\"target\">");
    let _ = write!(out, "<h2>{}</h2>", text(&t.name));
    let rate = if t.checks > 0 {
        pct(t.ok as f64 / t.checks as f64)
    } else {
        "-".to_owned()
    };
    let mut line = format!(
        "{}, {} ok ({rate}), {} failed; from {} to {}",
        mobius_core::text::plural(t.checks, "check"),
        t.ok,
        t.failed,
        t.first_ts,
        t.last_ts
    );
    if t.width > 1 {
        let _ = write!(line, "; drawn {} checks per column (min and max)", t.width);
    }
    let _ = write!(out, "<p class=\"meta\">{}</p>", text(&line));
    if let Some(f) = &t.fired {
        let _ = write!(
            out,
            "<div class=\"verdict rollback\"><span class=\"word\">Rule fired: {}</span> at check {} ({})<div class=\"reason\">{}</div></div>",
            f.rule.map_or("rollback", rule_name),
            f.check,
            text(&f.ts),
            text(&f.reason)
        );
    }
    svg::target(out, run, t, th, None);
    failures_table(out, t);
    out.push_str("</section>");
}

fn failures_table(out: &mut String, t: &TargetRun) {
    if t.failed == 0 {
        return;
    }
    let mut by_class = String::new();
    for c in Class::ALL {
        let n = t.class_totals[c.index()];
        if n > 0 {
            if !by_class.is_empty() {
                by_class.push_str(", ");
            }
            let _ = write!(by_class, "{n} {}", c.label());
        }
    }
    let _ = write!(
        out,
        "<p>Failed checks: {} ({})</p><table class=\"failures\"><tr><th>check</th><th>time</th><th>class</th><th>status</th><th>latency</th><th>detail</th></tr>",
        t.failed,
        text(&by_class)
    );
    for f in t.failures.iter().take(TABLE_ROWS) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"detail\">{}</td></tr>",
            f.check,
            text(&f.ts),
            f.class.label(),
            f.status.map(|s| s.to_string()).unwrap_or_default(),
            f.latency_ms.map(|l| format!("{} ms", fmt_num(l))).unwrap_or_default(),
            text(&f.detail)
        );
    }
    out.push_str("</table>");
    let shown = t.failures.len().min(TABLE_ROWS) as u64;
    if t.failed > shown {
        let _ = write!(
            out,
            "<p class=\"meta\">{} more failed checks not listed (all are counted in the chart).</p>",
            t.failed - shown
        );
    }
}
