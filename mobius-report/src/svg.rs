//! The charts of one target as an SVG element: latency with the rolling P95 and its
//! threshold, success rate with its minimum and the min-checks gate, error rate with its
//! threshold, a strip of failed checks by class, and vertical markers where a rule fired
//! and where the rollback finished. The x axis counts the target's checks (the judge's
//! "check N"), so a 6-check run and a 360-check run read the same way; each bucket is one
//! check or, for long runs, the min/max of a few.

use crate::escape::text;
use crate::model::{Bucket, Class, Run, TargetRun, Thresholds, CLASSES};
use std::fmt::Write;

pub const WIDTH: f64 = 1000.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
/// Rows above the panels for the marker labels.
const TOP: f64 = 52.0;
const LAT_H: f64 = 170.0;
const SR_H: f64 = 100.0;
const ER_H: f64 = 80.0;
const STRIP_H: f64 = 30.0;
const GAP: f64 = 22.0;
const AXIS_H: f64 = 36.0;
pub const HEIGHT: f64 = TOP + LAT_H + GAP + SR_H + GAP + ER_H + GAP + STRIP_H + AXIS_H;

/// The colours; the threshold red is what a rendered page is checked for.
pub const THRESHOLD: &str = "#d62728";
const LATENCY: &str = "#6baed6";
const BAND: &str = "#c6dbef";
const P95: &str = "#e6550d";
const SUCCESS: &str = "#2ca02c";
const ERROR: &str = "#9467bd";
const GATE: &str = "#eeeeee";
const GRID: &str = "#dddddd";
const INK: &str = "#222222";

pub fn class_colour(c: Class) -> &'static str {
    match c {
        Class::Timeout => "#ff7f0e",
        Class::Connect => "#8c564b",
        Class::Dns => "#bcbd22",
        Class::Tls => "#17becf",
        Class::Http5xx => "#b2182b",
        Class::Http4xx => "#e377c2",
        Class::HttpOther => "#7f7f7f",
        Class::Body => "#1f77b4",
        Class::Redirect => "#aec7e8",
        Class::Io => "#393b79",
        Class::Other => "#555555",
    }
}

/// Maps check numbers to x: check `c` is centred in its slot, `1..=n` across the plot.
struct X {
    n: f64,
}

impl X {
    fn at(&self, check: f64) -> f64 {
        LEFT + (check - 0.5) / self.n * PLOT_W
    }
    fn bucket(&self, b: &Bucket) -> f64 {
        self.at((b.first + b.last) as f64 / 2.0)
    }
}

/// A vertical scale for one panel.
struct Y {
    top: f64,
    h: f64,
    max: f64,
    /// Log scale from this value up (latency: 4 ms and a 5000 ms threshold both read).
    log_min: Option<f64>,
}

impl Y {
    fn linear(top: f64, h: f64, max: f64) -> Y {
        Y {
            top,
            h,
            max,
            log_min: None,
        }
    }

    fn at(&self, v: f64) -> f64 {
        let f = match self.log_min {
            Some(min) => {
                let v = v.clamp(min, self.max);
                (v / min).log10() / (self.max / min).log10()
            }
            None => v.clamp(0.0, self.max) / self.max,
        };
        self.top + self.h - f * self.h
    }
}

/// Writes one target's charts as an `<svg>` element (at `y` inside a larger SVG, if given).
pub fn target(out: &mut String, run: &Run, t: &TargetRun, th: &Thresholds, y: Option<f64>) {
    let place = match y {
        Some(y) => format!(" x=\"0\" y=\"{y:.0}\" width=\"{WIDTH:.0}\" height=\"{HEIGHT:.0}\""),
        None => " width=\"100%\"".to_owned(),
    };
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH:.0} {HEIGHT:.0}\"{place} role=\"img\" font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\" font-size=\"12\">"
    );
    let _ = write!(out, "<title>{}</title>", text(&t.name));
    let x = X {
        n: t.checks.max(1) as f64,
    };
    let mut top = TOP;
    latency(out, t, th, &x, top);
    top += LAT_H + GAP;
    success(out, t, th, &x, top);
    top += SR_H + GAP;
    errors(out, t, th, &x, top);
    top += ER_H + GAP;
    strip(out, t, &x, top);
    top += STRIP_H;
    axis(out, t, &x, top);
    markers(out, run, t, &x);
    out.push_str("</svg>");
}

fn frame(out: &mut String, top: f64, h: f64, title: &str) {
    let _ = write!(
        out,
        "<rect x=\"{LEFT}\" y=\"{top:.1}\" width=\"{PLOT_W}\" height=\"{h:.1}\" fill=\"#ffffff\" stroke=\"#999999\"/>"
    );
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"bold\" fill=\"{INK}\">{}</text>",
        LEFT + 4.0,
        top - 5.0,
        text(title)
    );
}

/// Grid lines with labels at "nice" steps of the value axis.
fn grid(out: &mut String, y: &Y, label: impl Fn(f64) -> String) {
    let values: Vec<f64> = match y.log_min {
        Some(min) => std::iter::successors(Some(min), |v| Some(v * 10.0))
            .take_while(|v| *v <= y.max * 1.0001)
            .collect(),
        None => {
            let step = nice_step(y.max, 4);
            std::iter::successors(Some(0.0), |v| Some(v + step))
                .take_while(|v| *v <= y.max * 1.0001)
                .collect()
        }
    };
    for v in values {
        let py = y.at(v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"{GRID}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{INK}\" font-size=\"11\">{}</text>",
            LEFT + PLOT_W,
            LEFT - 4.0,
            py + 4.0,
            text(&label(v))
        );
    }
}

/// The dashed threshold line, labelled above it (or below, where the data usually runs
/// above the line, as a healthy success rate does).
fn threshold_line(out: &mut String, y: &Y, v: f64, label: &str, below: bool) {
    let py = y.at(v);
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"{THRESHOLD}\" stroke-width=\"2\" stroke-dasharray=\"8 4\"/>",
        LEFT + PLOT_W
    );
    // A solid swatch before the label: the legend of the dashed line.
    let lx = LEFT + PLOT_W - 6.0;
    let ly = if below || py - y.top < 16.0 {
        py + 14.0
    } else {
        py - 5.0
    };
    let _ = write!(
        out,
        "<text x=\"{lx:.1}\" y=\"{ly:.1}\" text-anchor=\"end\" fill=\"{THRESHOLD}\" font-weight=\"bold\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
        text(label)
    );
}

/// A line through one value per bucket, or a min-max band when buckets hold several checks.
fn series(
    out: &mut String,
    t: &TargetRun,
    x: &X,
    y: &Y,
    get: impl Fn(&Bucket) -> Option<(f64, f64, f64)>,
    (colour, band, width): (&str, &str, f64),
) {
    if t.width > 1 {
        let pts: Vec<(f64, f64, f64)> = t
            .buckets
            .iter()
            .filter_map(|b| get(b).map(|(lo, hi, _)| (x.bucket(b), lo, hi)))
            .collect();
        if !pts.is_empty() {
            let _ = write!(out, "<polygon fill=\"{band}\" stroke=\"none\" points=\"");
            for (px, _, hi) in &pts {
                let _ = write!(out, "{px:.1},{:.1} ", y.at(*hi));
            }
            for (px, lo, _) in pts.iter().rev() {
                let _ = write!(out, "{px:.1},{:.1} ", y.at(*lo));
            }
            out.push_str("\"/>");
        }
    }
    // A merged P95 (its band given) is the band alone: a line through each column's worst
    // P95 would zigzag between one outlier's window and the next.
    if t.width > 1 && colour == P95 {
        return;
    }
    let _ = write!(
        out,
        "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\" stroke-linejoin=\"round\" points=\""
    );
    for b in &t.buckets {
        if let Some((_, hi, last)) = get(b) {
            // Long runs show each bucket's worst, so a short spike is not averaged away.
            let v = if t.width > 1 { hi } else { last };
            let _ = write!(out, "{:.1},{:.1} ", x.bucket(b), y.at(v));
        }
    }
    out.push_str("\"/>");
}

fn latency(out: &mut String, t: &TargetRun, th: &Thresholds, x: &X, top: f64) {
    let title = if t.service_p95 {
        "Latency (ms, log scale) and P95 as the judge saw it: the service's own"
    } else {
        "Latency (ms, log scale), rolling P95 of the last 20 checks"
    };
    frame(out, top, LAT_H, title);
    let peak = t
        .latency
        .get()
        .map_or(0.0, |s| s.1)
        .max(t.p95.get().map_or(0.0, |s| s.1));
    let low = t.latency.get().map_or(1.0, |s| s.0).min(th.p95_ms.0);
    // Decades from below the fastest check to above the slowest check and the threshold.
    let log_min = 10f64.powf(low.max(0.01).log10().floor());
    let max = 10f64.powf(peak.max(th.p95_ms.0).max(log_min * 10.0).log10().floor() + 1.0);
    let y = Y {
        top,
        h: LAT_H,
        max,
        log_min: Some(log_min),
    };
    grid(out, &y, fmt_num);
    series(
        out,
        t,
        x,
        &y,
        |b| b.latency.get().map(|(lo, hi)| (lo, hi, b.latency.last)),
        (LATENCY, BAND, 1.5),
    );
    if t.checks <= 120 {
        for b in &t.buckets {
            if b.latency.n > 0 {
                let _ = write!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{LATENCY}\"/>",
                    x.bucket(b),
                    y.at(b.latency.last)
                );
            }
        }
    }
    series(
        out,
        t,
        x,
        &y,
        |b| b.p95.get().map(|(lo, hi)| (lo, hi, b.p95.last)),
        (P95, "#f5a06a", 2.5),
    );
    threshold_line(
        out,
        &y,
        th.p95_ms.0,
        &format!("P95 threshold {} ms", fmt_num(th.p95_ms.0)),
        false,
    );
    legend(
        out,
        top,
        &[
            (LATENCY, "latency"),
            (
                P95,
                if t.service_p95 {
                    "P95 (service)"
                } else {
                    "rolling P95"
                },
            ),
            (THRESHOLD, "threshold"),
        ],
    );
}

fn success(out: &mut String, t: &TargetRun, th: &Thresholds, x: &X, top: f64) {
    frame(out, top, SR_H, "Success rate over all checks so far");
    // The checks before --min-checks, where the success-rate and P95 rules do not apply yet.
    let gate = th.min_checks.0;
    if gate > 1 {
        let end = x.at(gate as f64 - 0.5).min(LEFT + PLOT_W);
        let _ = write!(
            out,
            "<rect x=\"{LEFT}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{SR_H}\" fill=\"{GATE}\"/>",
            end - LEFT
        );
        if (gate as f64) <= x.n {
            let _ = write!(
                out,
                "<line x1=\"{end:.1}\" x2=\"{end:.1}\" y1=\"{top:.1}\" y2=\"{:.1}\" stroke=\"#777777\" stroke-dasharray=\"3 3\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555555\" font-size=\"11\">rules apply from check {gate}</text>",
                top + SR_H,
                end + 4.0,
                top + SR_H - 6.0
            );
        } else {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555555\" font-size=\"11\">fewer than {gate} checks: the success-rate rule never applied</text>",
                LEFT + 6.0,
                top + SR_H - 6.0
            );
        }
    }
    let y = Y::linear(top, SR_H, 1.0);
    grid(out, &y, |v| format!("{:.0}%", v * 100.0));
    series(
        out,
        t,
        x,
        &y,
        |b| {
            b.success_rate
                .get()
                .map(|(lo, hi)| (lo, hi, b.success_rate.last))
        },
        (SUCCESS, "#c7e9c0", 2.5),
    );
    threshold_line(
        out,
        &y,
        th.min_success_rate.0,
        &format!("minimum {}", pct(th.min_success_rate.0)),
        true,
    );
}

fn errors(out: &mut String, t: &TargetRun, th: &Thresholds, x: &X, top: f64) {
    frame(out, top, ER_H, "Error rate reported by the service");
    let peak = t.error_rate.get().map_or(0.0, |s| s.1);
    let max = nice_ceiling((peak.max(th.error_rate.0) * 1.2).min(1.0)).min(1.0);
    let y = Y::linear(top, ER_H, max);
    grid(out, &y, pct);
    if t.error_rate.n == 0 {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555555\">no error_rate in the samples: the error-rate rule was not evaluated</text>",
            LEFT + PLOT_W / 2.0,
            top + ER_H / 2.0
        );
    } else {
        series(
            out,
            t,
            x,
            &y,
            |b| {
                b.error_rate
                    .get()
                    .map(|(lo, hi)| (lo, hi, b.error_rate.last))
            },
            (ERROR, "#dadaeb", 2.0),
        );
    }
    threshold_line(
        out,
        &y,
        th.error_rate.0,
        &format!("threshold {}", pct(th.error_rate.0)),
        false,
    );
}

/// Failed checks: one mark each while they are all known, else a bar per bucket whose
/// height grows with the count, coloured by its most frequent class.
fn strip(out: &mut String, t: &TargetRun, x: &X, top: f64) {
    frame(out, top, STRIP_H, "");
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{INK}\" font-weight=\"bold\">Failed checks by class</text>",
        LEFT + PLOT_W,
        top - 5.0
    );
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{INK}\" font-size=\"11\">failed</text>",
        LEFT - 4.0,
        top + STRIP_H / 2.0 + 4.0
    );
    let slot = (PLOT_W / x.n).clamp(2.0, 14.0);
    if t.failures_complete() {
        for f in &t.failures {
            let px = x.at(f.check as f64);
            let status = f.status.map(|s| format!(" {s}")).unwrap_or_default();
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{slot:.1}\" height=\"{:.1}\" fill=\"{}\"><title>check {} {}: {}{} {}</title></rect>",
                px - slot / 2.0,
                top + 3.0,
                STRIP_H - 6.0,
                class_colour(f.class),
                f.check,
                text(&f.ts),
                f.class.label(),
                status,
                text(&f.detail)
            );
        }
    } else {
        let most = t
            .buckets
            .iter()
            .map(|b| b.failures.iter().sum::<u32>())
            .max()
            .unwrap_or(1)
            .max(1);
        for b in &t.buckets {
            let n: u32 = b.failures.iter().sum();
            if n == 0 {
                continue;
            }
            let (class, _) = Class::ALL
                .iter()
                .map(|c| (*c, b.failures[c.index()]))
                .max_by_key(|(_, k)| *k)
                .unwrap_or((Class::Other, 0));
            let h = (STRIP_H - 6.0) * (0.3 + 0.7 * f64::from(n).ln_1p() / f64::from(most).ln_1p());
            let w = (x.at(b.last as f64 + 0.5) - x.at(b.first as f64 - 0.5)).max(1.5);
            let mut what = String::new();
            for c in Class::ALL {
                let k = b.failures[c.index()];
                if k > 0 {
                    let _ = write!(what, " {k} {}", c.label());
                }
            }
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>checks {}-{}:{what}</title></rect>",
                x.at(b.first as f64 - 0.5),
                top + STRIP_H - 3.0 - h,
                class_colour(class),
                b.first,
                b.last
            );
        }
    }
    // Legend: the classes that occurred, with their totals.
    let mut lx = LEFT + 6.0;
    let ly = top - 5.0;
    let mut items: Vec<(Class, u64)> = Class::ALL
        .iter()
        .map(|c| (*c, t.class_totals[c.index()]))
        .filter(|(_, n)| *n > 0)
        .collect();
    items.truncate(CLASSES);
    if items.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{lx:.1}\" y=\"{ly:.1}\" fill=\"#555555\" font-size=\"11\">no failed checks</text>"
        );
    }
    for (c, n) in items {
        let label = format!("{} \u{d7}{n}", c.label());
        let _ = write!(
            out,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{ly:.1}\" fill=\"{INK}\" font-size=\"11\">{}</text>",
            ly - 9.0,
            class_colour(c),
            lx + 13.0,
            text(&label)
        );
        lx += 24.0 + 6.5 * label.chars().count() as f64;
    }
}

/// Check numbers (and times, from the bucket that holds the check) under the panels.
fn axis(out: &mut String, t: &TargetRun, x: &X, top: f64) {
    let step = nice_step(x.n, 7).max(1.0) as u64;
    let days = t.first_ts.get(..10) != t.last_ts.get(..10);
    let mut c = if step == 1 { 1 } else { step };
    let mut ticks = vec![];
    if step > 1 {
        ticks.push(1);
    }
    while c as f64 <= x.n {
        ticks.push(c);
        c += step;
    }
    for c in ticks {
        let px = x.at(c as f64);
        let anchor = if px > LEFT + PLOT_W - 40.0 {
            "end"
        } else if px < LEFT + 40.0 && step > 1 {
            "start"
        } else {
            "middle"
        };
        let ts = t
            .buckets
            .iter()
            .find(|b| b.first <= c && c <= b.last)
            .map(|b| short_time(&b.ts, days))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{top:.1}\" y2=\"{:.1}\" stroke=\"#999999\"/><text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{INK}\" font-size=\"11\">{c}</text>",
            top + 4.0,
            top + 15.0
        );
        if !ts.is_empty() {
            let _ = write!(
                out,
                "<text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"#666666\" font-size=\"10\">{}</text>",
                top + 27.0,
                text(&ts)
            );
        }
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#666666\" font-size=\"11\">check</text>",
        LEFT - 4.0,
        top + 15.0
    );
}

/// Vertical lines through every panel: where a rule fired, where the rollback finished.
fn markers(out: &mut String, run: &Run, t: &TargetRun, x: &X) {
    let bottom = HEIGHT - AXIS_H;
    if let Some(f) = &t.fired {
        let px = x.at(f.check as f64);
        let rule = f.rule.map_or("rollback", rule_name);
        let label = format!("\u{25bc} rollback: {rule} at check {}", f.check);
        vline(out, px, bottom, THRESHOLD, "", 2.5, &label, 15.0);
    }
    if let (Some(after), Some(rb)) = (t.rollback_after, &run.rollback) {
        let px = x.at(after as f64 + 0.5).min(LEFT + PLOT_W - 1.0);
        let took = rb
            .duration_ms
            .map(|ms| format!(" in {:.1} s", ms as f64 / 1000.0))
            .unwrap_or_default();
        let label = format!("\u{25bc} rollback finished: {}{took}", rb.outcome);
        vline(
            out,
            px,
            bottom,
            "#333333",
            " stroke-dasharray=\"2 3\"",
            2.0,
            &label,
            31.0,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn vline(
    out: &mut String,
    px: f64,
    bottom: f64,
    colour: &str,
    dash: &str,
    width: f64,
    label: &str,
    label_y: f64,
) {
    let anchor = if px > LEFT + PLOT_W * 0.6 {
        "end"
    } else {
        "start"
    };
    let lx = if anchor == "end" { px + 4.0 } else { px - 4.0 };
    let _ = write!(
        out,
        "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{:.1}\" y2=\"{bottom:.1}\" stroke=\"{colour}\" stroke-width=\"{width}\"{dash}/><text x=\"{lx:.1}\" y=\"{label_y:.1}\" text-anchor=\"{anchor}\" fill=\"{colour}\" font-weight=\"bold\">{}</text>",
        label_y + 3.0,
        text(label)
    );
}

fn legend(out: &mut String, top: f64, items: &[(&str, &str)]) {
    let mut lx = LEFT + PLOT_W - 8.0;
    for (colour, label) in items.iter().rev() {
        let w = 6.5 * label.len() as f64;
        lx -= w;
        let _ = write!(
            out,
            "<text x=\"{lx:.1}\" y=\"{:.1}\" fill=\"{INK}\" font-size=\"11\">{label}</text><rect x=\"{:.1}\" y=\"{:.1}\" width=\"14\" height=\"4\" fill=\"{colour}\"/>",
            top - 5.0,
            lx - 18.0,
            top - 10.0
        );
        lx -= 30.0;
    }
}

pub fn rule_name(r: mobius_core::records::Rule) -> &'static str {
    use mobius_core::records::Rule;
    match r {
        Rule::ConsecutiveFailures => "consecutive_failures",
        Rule::SuccessRate => "success_rate",
        Rule::P95Latency => "p95_latency",
        Rule::ErrorRate => "error_rate",
    }
}

/// `HH:MM:SS` of an RFC 3339 time, with the date when the run spans days.
fn short_time(ts: &str, days: bool) -> String {
    match (ts.get(5..10), ts.get(11..19)) {
        (Some(d), Some(t)) if days => format!("{d} {}", t.get(..5).unwrap_or(t)),
        (_, Some(t)) => t.to_owned(),
        _ => String::new(),
    }
}

pub fn pct(v: f64) -> String {
    let p = v * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

pub fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A step of 1, 2 or 5 times a power of ten giving at most about `ticks` steps up to `max`.
fn nice_step(max: f64, ticks: u32) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let raw = max / f64::from(ticks);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let step = nice_step(v, 4);
    (v / step).ceil() * step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_step(5400.0, 4), 2000.0);
        assert_eq!(nice_ceiling(5400.0), 6000.0);
        assert_eq!(nice_step(6.0, 7), 1.0);
        assert_eq!(pct(0.7), "70%");
        assert_eq!(pct(0.055), "5.5%");
    }
}
