// The latency report: the shared renderer (page.js) drawing one tracker's
// snapshot JSON — the cumulative view, with the rate and p99 of the recent window.
Palisade.start(function (doc, main) {
  "use strict";
  var P = Palisade;
  function ms(us) { return us === undefined || us === null ? null : us / 1000; }
  var summary = document.getElementById("summary");
  summary.textContent = "up " + P.span((doc.uptime_secs || 0) * 1000) + " \u00b7 window " + P.span((doc.window_secs || 0) * 1000);
  var recent = {};
  ((doc.window || {}).routes || []).forEach(function (r) { recent[r.method + " " + r.route] = r; });
  var rows = ((doc.cumulative || {}).routes || []).map(function (r) {
    var w = recent[r.method + " " + r.route];
    var classes = Object.keys(r.classes || {}).map(function (c) { return c + " " + P.num(r.classes[c].count, 0); }).join(" \u00b7 ");
    return {
      method: r.method, route: r.route, count: r.count, classes: classes,
      rate_per_sec: w ? w.rate_per_sec : 0, errors: r.errors, aborted: r.aborted,
      blocking_polls: r.blocking_polls, slow: r.slow,
      p50_ms: ms(r.p50_us), p90_ms: ms(r.p90_us), p95_ms: ms(r.p95_us), p99_ms: ms(r.p99_us),
      p999_ms: ms(r.p999_us), max_ms: ms(r.max_us), head_p99_ms: ms(r.head_p99_us),
      window_p99_ms: w ? ms(w.p99_us) : null,
      distribution: (r.distribution || []).map(function (b) { return [ms(b[0]), b[1]]; })
    };
  });
  main.appendChild(P.section("Latency \u2014 " + doc.name, rows.length ? P.latencyTable(rows,
    ["count", "rate", "errors", "aborted", "blocking_polls", "slow", "p50", "p90", "p95", "p99", "p999", "max", "head_p99", "window_p99", "distribution"],
    { rate: "req/s, window", blocking_polls: "blocking" }) : P.el("p", { "class": "muted" }, "No requests recorded yet."), true));
  return "since start; durations to the end of the response body, 1% precision; bars: requests per power-of-two bucket, p99 highlighted";
});
