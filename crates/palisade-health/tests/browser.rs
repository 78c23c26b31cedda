//! The status page in a real browser: headless Chromium against the running
//! `status_page` example. Checks the rendered DOM shows every component with
//! live numbers, that the latency report (the same renderer) shows p50 … p99.9
//! per route, p95 included, and takes a screenshot (to the target dir, or to
//! `docs/health-status-page.png` with `PALISADE_UPDATE_SCREENSHOT=1`).
//!
//! Skipped with a message when Chromium is absent, unless
//! `PALISADE_REQUIRE_CHROMIUM=1` (as in `.ci/run`), which makes it fail.

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../examples/status_page.rs"]
mod status_page;

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::process::Command;

fn chromium() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return Some(path.into());
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

async fn run_chromium(chromium: &PathBuf, args: &[String]) -> String {
    let profile = tempdir();
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                &format!("--user-data-dir={}", profile.display()),
            ])
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finished within 90 s")
    .expect("chromium ran");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "palisade-health-chromium-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The text of the cell `data-field="{field}"` in the row whose attribute
/// is `marker`, in the section `section`.
fn cell<'a>(dom: &'a str, section: &str, marker: &str, field: &str) -> &'a str {
    let from = dom
        .find(&format!("data-section=\"{section}\""))
        .unwrap_or_else(|| panic!("no section {section}"));
    let dom = &dom[from..];
    let start = dom
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in the page:\n{dom}"));
    let row = &dom[start..];
    let row = &row[..row.find("</tr>").unwrap_or(row.len())];
    let key = format!("data-field=\"{field}\">");
    let at = row
        .find(&key)
        .unwrap_or_else(|| panic!("{field} not in {row}"))
        + key.len();
    let text = &row[at..];
    &text[..text.find("</td>").unwrap()]
}

fn number(text: &str) -> f64 {
    let digits: String = text
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a number"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_every_component_live_in_chromium() {
    let Some(chromium) = chromium() else {
        if std::env::var("PALISADE_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
            panic!("Chromium is not installed and PALISADE_REQUIRE_CHROMIUM=1");
        }
        eprintln!("skipping: Chromium is not installed (apt-get install chromium)");
        return;
    };
    let status_page::Demo { app, health } = status_page::demo().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    // Let the load generator and the checks produce figures.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let url = format!("http://{addr}/status");

    let dom = run_chromium(
        &chromium,
        &[
            "--virtual-time-budget=5000".to_owned(),
            "--dump-dom".to_owned(),
            url.clone(),
        ],
    )
    .await;

    // The script ran and refreshed from the JSON at least once.
    let refreshes = dom
        .split("data-refreshes=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no data-refreshes on <body>:\n{dom}"));
    assert!(refreshes >= 1, "the page refreshed itself from its JSON");

    // Every component is on the page, in the health table and its own section.
    let json: serde_json::Value = serde_json::from_slice(&health.to_json()).unwrap();
    for name in json["components"].as_object().unwrap().keys() {
        assert!(
            dom.contains(&format!("data-component=\"{name}\"")),
            "{name} is missing"
        );
    }
    for section in [
        "health",
        "breakers",
        "limits",
        "caches",
        "batchers",
        "latency \u{2014} http",
    ] {
        assert!(
            dom.contains(&format!("data-section=\"{section}\"")),
            "section {section} is missing"
        );
    }

    // Live numbers.
    let breaker_state = cell(&dom, "breakers", "data-component=\"inventory\"", "state");
    assert!(
        ["closed", "open", "half_open"].contains(&breaker_state),
        "{breaker_state}"
    );
    assert!(number(cell(&dom, "caches", "data-component=\"items\"", "hits")) > 0.0);
    assert!(cell(&dom, "caches", "data-component=\"items\"", "hit_ratio").contains('%'));
    assert!(
        number(cell(
            &dom,
            "limits",
            "data-component=\"api\"",
            "max_in_flight"
        )) == 16.0
    );
    assert!(
        number(cell(
            &dom,
            "batchers",
            "data-component=\"lengths\"",
            "workers"
        )) >= 1.0
    );
    let route = "data-route=\"GET /api/items/{id}\"";
    for p in ["p50", "p95", "p99"] {
        let v = cell(&dom, "latency \u{2014} http", route, p);
        assert!(v.ends_with("ms") || v.ends_with(" s"), "{p} = {v:?}");
        assert!(number(v) > 0.0, "{p} = {v:?}");
    }
    assert!(number(cell(&dom, "latency \u{2014} http", route, "rate")) > 0.0);
    assert!(dom.contains("<polyline"), "the sparkline is drawn");

    // The latency report: the same renderer, the latency section only, with p95.
    let report = run_chromium(
        &chromium,
        &[
            "--virtual-time-budget=5000".to_owned(),
            "--dump-dom".to_owned(),
            format!("http://{addr}/latency"),
        ],
    )
    .await;
    let refreshes = report
        .split("data-refreshes=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no data-refreshes on the report's <body>:\n{report}"));
    assert!(refreshes >= 1, "the report refreshed itself from its JSON");
    assert!(!report.contains("data-section=\"health\""), "only latency");
    for p in ["p50", "p90", "p95", "p99", "p999", "max"] {
        let v = cell(&report, "latency \u{2014} http", route, p);
        assert!(v.ends_with("ms") || v.ends_with(" s"), "{p} = {v:?}");
        assert!(number(v) > 0.0, "{p} = {v:?}");
    }
    assert!(number(cell(&report, "latency \u{2014} http", route, "count")) > 0.0);
    assert!(
        report.contains("<th>p95</th>"),
        "the report has a p95 column"
    );
    assert!(
        cell(&report, "latency \u{2014} http", route, "distribution").contains("<rect"),
        "the distribution is drawn"
    );

    // A screenshot to look at.
    let shot = if std::env::var("PALISADE_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/health-status-page.png")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("health-status-page.png")
    };
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &chromium,
        &[
            "--virtual-time-budget=3000".to_owned(),
            "--window-size=1400,1250".to_owned(),
            format!("--screenshot={}", shot.display()),
            url,
        ],
    )
    .await;
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
    eprintln!("screenshot: {}", shot.display());

    // And one of the latency report.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("latency-report.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &chromium,
        &[
            "--virtual-time-budget=3000".to_owned(),
            "--window-size=1920,420".to_owned(),
            format!("--screenshot={}", shot.display()),
            format!("http://{addr}/latency"),
        ],
    )
    .await;
    let png = std::fs::read(&shot).expect("chromium wrote the report's screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a real screenshot");
    eprintln!("screenshot: {}", shot.display());
}
