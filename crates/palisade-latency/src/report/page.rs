//! The page shared by Palisade's pages — this crate's latency report and
//! `palisade-health`'s status page: one self-contained HTML document (inline
//! CSS and script, no CDN, works offline) that embeds its JSON data, draws it
//! with the shared renderer (`page.js`, `page.css`) and a page's own drawing
//! script, and fetches the data again from its own URL on its own.
//!
//! An internal building block, public only for `palisade-health`.

/// The shared stylesheet.
pub const STYLE: &str = include_str!("page.css");
/// The shared renderer: DOM helpers, the latency table, the refresh loop
/// (`Palisade.start(draw)`).
pub const SCRIPT: &str = include_str!("page.js");
/// The latency report's drawing script.
pub(crate) const REPORT_SCRIPT: &str = include_str!("report.js");

/// A page titled `title`, headed `heading`, with `footer` as its footer's
/// label, that draws `data` (JSON, embedded so it draws at once) with the
/// shared renderer and `draw` (a script that calls `Palisade.start`).
pub fn render(title: &str, heading: &str, footer: &str, data: &[u8], draw: &str) -> String {
    let data = String::from_utf8_lossy(data);
    let mut html =
        String::with_capacity(STYLE.len() + SCRIPT.len() + draw.len() + data.len() + 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    html.push_str("<title>");
    html.push_str(&escape_html(title));
    html.push_str("</title><style>");
    html.push_str(STYLE);
    html.push_str("</style></head><body><header><h1>");
    html.push_str(&escape_html(heading));
    html.push_str("</h1><div id=\"summary\"></div></header><main id=\"main\"></main>");
    html.push_str("<noscript><p>This page draws its data with JavaScript; ask with ");
    html.push_str("<code>Accept: application/json</code> for the data.</p></noscript>");
    html.push_str("<footer>");
    html.push_str(&escape_html(footer));
    html.push_str(" \u{b7} <span id=\"updated\"></span></footer>");
    html.push_str("<script type=\"application/json\" id=\"initial\">");
    // `</` cannot appear outside a JSON string, and `<\/` means the same
    // inside one, so this keeps the data from closing the script element.
    html.push_str(&data.replace("</", "<\\/"));
    html.push_str("</script><script>");
    html.push_str(SCRIPT);
    html.push_str("</script><script>");
    html.push_str(draw);
    html.push_str("</script></body></html>\n");
    html
}

/// Whether `req` asks for the page's data rather than the page: an `Accept`
/// header naming `application/json`, or `format=json` in the query (how the
/// page refreshes itself).
pub fn wants_json<B>(req: &http::Request<B>) -> bool {
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|part| part.trim().starts_with("application/json"))
        });
    accept
        || req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv == "format=json"))
}

/// Escapes text for HTML content and attribute values.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_close_the_script_and_text_is_escaped() {
        let html = render(
            "<b>api</b>",
            "h & 'x'",
            "f\"",
            br#"{"detail":"</script><script>alert(1)</script>"}"#,
            "Palisade.start(function () { return \"\"; });",
        );
        assert!(html.contains("<title>&lt;b&gt;api&lt;/b&gt;</title>"));
        assert!(html.contains("<h1>h &amp; &#39;x&#39;</h1>"));
        assert!(html.contains("<footer>f&quot;"));
        assert!(!html.contains("</script><script>alert(1)"));
        assert!(html.contains(r"<\/script><script>alert(1)<\/script>"));
        assert!(html.contains(STYLE) && html.contains(SCRIPT));
        // Self-contained: nothing is loaded from elsewhere (the only URL is
        // the SVG namespace, an identifier).
        for fetches in ["src=", "href=", "url(", "@import"] {
            assert!(!html.contains(fetches), "{fetches}");
        }
    }

    #[test]
    fn accept_parsing() {
        let req = |accept: Option<&'static str>, uri: &str| {
            let mut b = http::Request::get(uri);
            if let Some(a) = accept {
                b = b.header(http::header::ACCEPT, a);
            }
            b.body(()).unwrap()
        };
        assert!(wants_json(&req(Some("application/json"), "/")));
        assert!(wants_json(&req(
            Some("text/plain, application/json;q=0.9"),
            "/"
        )));
        assert!(!wants_json(&req(
            Some("text/html,application/xhtml+xml"),
            "/"
        )));
        assert!(!wants_json(&req(None, "/")));
        assert!(wants_json(&req(None, "/latency?format=json")));
        assert!(!wants_json(&req(None, "/latency?format=jsonx")));
    }
}
