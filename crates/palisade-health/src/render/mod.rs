//! The status page renderer: one self-contained HTML document (inline CSS
//! and script, no CDN) that draws every component from the JSON data and
//! fetches it again on its own. Imports nothing from the rest of the crate.

/// The page's stylesheet and script.
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The status page for `name`, with `data` (the JSON of every component)
/// embedded so that it draws at once, before its first fetch.
pub(crate) fn page(name: &str, data: &[u8]) -> String {
    let data = String::from_utf8_lossy(data);
    let title = escape_html(name);
    let mut html = String::with_capacity(STYLE.len() + SCRIPT.len() + data.len() + 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    html.push_str("<title>");
    html.push_str(&title);
    html.push_str(" \u{2014} status</title><style>");
    html.push_str(STYLE);
    html.push_str("</style></head><body><header><h1>");
    html.push_str(&title);
    html.push_str("</h1><div id=\"summary\"></div></header><main id=\"main\"></main>");
    html.push_str(
        "<footer>palisade-health status page \u{b7} <span id=\"updated\"></span></footer>",
    );
    html.push_str("<script type=\"application/json\" id=\"initial\">");
    // `</` cannot appear outside a JSON string, and `<\/` means the same
    // inside one, so this keeps the data from closing the script element.
    html.push_str(&data.replace("</", "<\\/"));
    html.push_str("</script><script>");
    html.push_str(SCRIPT);
    html.push_str("</script></body></html>\n");
    html
}

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
    use super::page;

    #[test]
    fn data_cannot_close_the_script_and_name_is_escaped() {
        let html = page(
            "<b>api</b>",
            br#"{"detail":"</script><script>alert(1)</script>"}"#,
        );
        assert!(html.contains("<title>&lt;b&gt;api&lt;/b&gt;"));
        assert!(!html.contains("</script><script>alert(1)"));
        assert!(html.contains(r"<\/script><script>alert(1)<\/script>"));
        // Self-contained: nothing is loaded from elsewhere (the only URL is
        // the SVG namespace, an identifier).
        for fetches in ["src=", "href=", "url(", "@import"] {
            assert!(!html.contains(fetches), "{fetches}");
        }
    }
}
