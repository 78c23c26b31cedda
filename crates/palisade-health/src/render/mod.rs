//! The status page renderer: the page shared with `palisade-latency`'s
//! report (`palisade_latency::page`: one self-contained HTML document, inline
//! CSS and script, no CDN, that draws its JSON data and fetches it again on
//! its own) with this crate's drawing script, `health.js`, which draws every
//! component. Imports nothing from the rest of the crate.

/// The script that draws every component with the shared renderer.
const DRAW: &str = include_str!("health.js");

/// The status page for `name`, with `data` (the JSON of every component)
/// embedded so that it draws at once, before its first fetch.
pub(crate) fn page(name: &str, data: &[u8]) -> String {
    palisade_latency::page::render(
        &format!("{name} \u{2014} status"),
        name,
        "palisade-health status page",
        data,
        DRAW,
    )
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
        // The shared renderer, and this crate's drawing.
        assert!(html.contains(palisade_latency::page::SCRIPT));
        assert!(html.contains(super::DRAW));
    }
}
