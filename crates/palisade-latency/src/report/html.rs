//! The snapshot as a self-contained HTML page: inline CSS and SVG, no scripts.

use std::{fmt::Write as _, time::Duration};

use crate::snapshot::{RouteStats, Snapshot, View};

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2430;background:#fafbfc}\
h1{font-size:20px;margin:0 0 4px}p.meta{color:#5a6472;margin:0 0 16px}\
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002}\
th,td{padding:6px 10px;border-bottom:1px solid #e4e7eb;text-align:right;white-space:nowrap}\
th{background:#f0f2f5;font-weight:600}td.l,th.l{text-align:left}\
td.err{color:#b42318;font-weight:600}small{color:#5a6472}\
svg rect.b{fill:#3b82f6}svg rect.b.p99{fill:#f59e0b}svg text{font-size:9px;fill:#5a6472}\
h2{font-size:16px;margin:24px 0 8px}";

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A duration for people: `850 µs`, `12.3 ms`, `1.25 s`.
fn human(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// An inline SVG bar chart of the latency distribution (power-of-two buckets).
fn distribution_svg(s: &RouteStats) -> String {
    const W: f64 = 260.0;
    const H: f64 = 44.0;
    let buckets = s.distribution();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{}\" role=\"img\" \
         aria-label=\"latency distribution of {} {}\">",
        H + 12.0,
        esc(s.method),
        esc(&s.route)
    );
    // Skip the empty buckets below the fastest request.
    let first = buckets.iter().position(|(_, c)| *c > 0).unwrap_or(0);
    let shown = &buckets[first..];
    let peak = shown.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
    let p99 = s.quantile(0.99);
    #[allow(clippy::cast_precision_loss)]
    let bar_w = W / shown.len().max(1) as f64;
    let mut lower = shown
        .first()
        .map_or(Duration::ZERO, |(upper, _)| *upper / 2);
    for (i, (upper, count)) in shown.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let h = if *count == 0 {
            0.0
        } else {
            (H * (*count as f64) / (peak as f64)).max(1.0)
        };
        let class = if lower < p99 && p99 <= *upper {
            "b p99"
        } else {
            "b"
        };
        #[allow(clippy::cast_precision_loss)]
        let x = i as f64 * bar_w;
        let _ = write!(
            svg,
            "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\">\
             <title>{} – {}: {count}</title></rect>",
            H - h,
            (bar_w - 1.0).max(0.5),
            esc(&human(lower)),
            esc(&human(*upper)),
        );
        lower = *upper;
    }
    if let (Some((lo, _)), Some((hi, _))) = (shown.first(), shown.last()) {
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\">{}</text><text x=\"{W}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            H + 10.0,
            esc(&human(*lo / 2)),
            H + 10.0,
            esc(&human(*hi)),
        );
    }
    svg.push_str("</svg>");
    svg
}

fn table(out: &mut String, view: &View, window: &View) {
    out.push_str(
        "<table><thead><tr><th class=\"l\">route</th><th class=\"l\">method</th><th>requests</th>\
         <th>rate/s (window)</th><th>errors</th><th>aborted</th><th>blocking polls</th><th>slow</th>\
         <th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>head p99</th>\
         <th>window p99</th><th class=\"l\">distribution</th></tr></thead><tbody>",
    );
    for s in view.routes() {
        let classes: Vec<String> = view
            .classes()
            .iter()
            .filter(|c| c.method == s.method && c.route == s.route)
            .filter_map(|c| Some(format!("{} {}", c.class?.as_str(), c.count)))
            .collect();
        let recent = window.route(s.method, &s.route);
        let err = if s.errors > 0 { " class=\"err\"" } else { "" };
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}<br><small>{}</small></td>\
             <td>{:.2}</td><td{err}>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"l\">{}</td></tr>",
            esc(&s.route),
            esc(s.method),
            s.count,
            esc(&classes.join(" · ")),
            recent.map_or(0.0, |r| r.rate_per_sec),
            s.errors,
            s.aborted,
            s.blocking_polls,
            s.slow,
            human(s.quantile(0.5)),
            human(s.quantile(0.9)),
            human(s.quantile(0.99)),
            human(s.quantile(0.999)),
            human(s.max),
            human(s.head_quantile(0.99)),
            recent.map_or_else(|| "–".to_owned(), |r| human(r.quantile(0.99))),
            distribution_svg(s),
        );
    }
    out.push_str("</tbody></table>");
}

/// The report page.
pub(crate) fn render(snap: &Snapshot) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>latency · {name}</title><style>{STYLE}</style></head><body>\
         <h1>Latency · {name}</h1><p class=\"meta\">up {uptime}, window {window} \
         (the recent view covers the previous and the current window). Durations are to the end \
         of the response body; 1% precision. Bars: requests per power-of-two latency bucket, \
         p99 bucket highlighted. Ask with <code>Accept: application/json</code> for JSON.</p>",
        name = esc(snap.name()),
        uptime = human(snap.uptime()),
        window = human(snap.window_length()),
    );
    if snap.routes().is_empty() {
        out.push_str("<p>No requests recorded yet.</p>");
    } else {
        out.push_str("<h2>Since start</h2>");
        table(&mut out, snap.cumulative(), snap.window());
    }
    out.push_str("</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_formats() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(human(Duration::from_micros(850)), "850 µs");
        assert_eq!(human(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(human(Duration::from_millis(1250)), "1.25 s");
    }
}
