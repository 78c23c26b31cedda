// The health status page: the shared renderer (palisade-latency's page.js)
// drawing every component of the health JSON.
Palisade.start(function (doc, main) {
  "use strict";
  var P = Palisade, el = P.el, badge = P.badge, num = P.num, pct = P.pct, ms = P.ms;
  var td = P.td, tnum = P.tnum, table = P.table, section = P.section;
  function row(name, status, cells) {
    var tr = el("tr", { "data-component": name });
    tr.appendChild(td(name, null, "name"));
    if (status) tr.appendChild(el("td", null, badge(status)));
    cells.forEach(function (c) { tr.appendChild(c); });
    return tr;
  }
  function ofKind(comps, kinds) {
    return Object.keys(comps).filter(function (n) { return kinds.indexOf(comps[n].kind) >= 0; });
  }

  var comps = doc.components || {};
  var summary = document.getElementById("summary");
  summary.textContent = "";
  summary.appendChild(el("span", null, "overall ", badge(doc.status)));
  summary.appendChild(el("span", null, "readiness ", badge(doc.groups.readiness)));
  summary.appendChild(el("span", null, "liveness ", badge(doc.groups.liveness)));

  main.appendChild(section("Health", table(
    ["component", "status", "kind", "detail", "last check", "took", "checks"],
    Object.keys(comps).map(function (n) {
      var c = comps[n];
      return row(n, c.status, [
        td(c.kind, "muted", "kind"), td(c.detail || "", "detail", "detail"),
        td(c.checked_at ? c.checked_at.replace("T", " ").replace("Z", "") : "never", null, "checked_at"),
        tnum(ms(c.duration_ms), "duration"), tnum(num(c.checks, 0), "checks")
      ]);
    })), true));

  var breakers = ofKind(comps, ["breaker"]);
  if (breakers.length) main.appendChild(section("Breakers", table(
    ["breaker", "health", "state", "failure rate", "slow rate", "calls in window", "calls/s", "opened", "next probe in"],
    breakers.map(function (n) {
      var d = comps[n].data || {};
      return row(n, comps[n].status, [
        td(d.state, null, "state"), tnum(pct(d.failure_rate), "failure_rate"), tnum(pct(d.slow_call_rate), "slow_call_rate"),
        tnum(num(d.calls, 0), "calls"), tnum(num(d.calls_per_sec), "calls_per_sec"), tnum(num(d.times_opened, 0), "times_opened"),
        tnum(d.next_probe_in_ms === null || d.next_probe_in_ms === undefined ? "\u2013" : ms(d.next_probe_in_ms), "next_probe")
      ]);
    })), true));

  var limits = ofKind(comps, ["limit"]);
  if (limits.length) main.appendChild(section("Limits", table(
    ["limit", "health", "in flight", "of", "use", "rejections/s", "saturated for"],
    limits.map(function (n) {
      var d = comps[n].data || {};
      return row(n, comps[n].status, [
        tnum(num(d.in_flight, 0), "in_flight"), tnum(num(d.max_in_flight, 0), "max_in_flight"),
        el("td", { "data-field": "utilization" }, P.bar(d.utilization), pct(d.utilization)),
        tnum(num(d.rejections_per_sec), "rejections_per_sec"),
        tnum(d.saturated_for_ms ? ms(d.saturated_for_ms) : "\u2013", "saturated_for")
      ]);
    }))));

  var caches = ofKind(comps, ["cache", "redis"]);
  if (caches.length) main.appendChild(section("Caches", table(
    ["cache", "health", "hit ratio", "hits", "misses", "stale served", "entries", "L2"],
    caches.map(function (n) {
      var d = comps[n].data || {};
      return row(n, comps[n].status, [
        tnum(pct(d.hit_ratio), "hit_ratio"), tnum(num(d.hits, 0), "hits"), tnum(num(d.misses, 0), "misses"),
        tnum(num(d.stale_hits, 0), "stale_hits"), tnum(num(d.entries, 0), "entries"),
        el("td", { "data-field": "l2" }, d.l2 ? badge(d.l2 === "up" ? "UP" : "DOWN") : "\u2013")
      ]);
    })), true));

  var batchers = ofKind(comps, ["batch"]);
  if (batchers.length) main.appendChild(section("Batchers", table(
    ["batcher", "health", "queued", "batches in flight", "workers", "batch size", "flushes"],
    batchers.map(function (n) {
      var d = comps[n].data || {};
      var flushes = d.flushes ? Object.keys(d.flushes).map(function (k) { return k + " " + num(d.flushes[k], 0); }).join(", ") : "\u2013";
      return row(n, comps[n].status, [
        tnum(num(d.queued, 0), "queued"), tnum(num(d.in_flight, 0), "in_flight"), tnum(num(d.workers, 0), "workers"),
        tnum(num(d.batch_size), "batch_size"), td(flushes, null, "flushes")
      ]);
    }))));

  ofKind(comps, ["latency"]).forEach(function (n) {
    var d = comps[n].data || {};
    var routes = d.routes || [];
    main.appendChild(section("Latency \u2014 " + n, routes.length ? P.latencyTable(routes,
      ["rate", "errors", "p50", "p95", "p99", "sparkline"],
      { sparkline: "p99, last " + P.span((d.history_checks || 0) * (comps[n].interval_ms || 0)) })
      : el("p", { "class": "muted" }, "no requests in the last " + num(d.window_s, 0) + " s"), true));
  });

  var others = ofKind(comps, ["check"]);
  if (others.length) main.appendChild(section("Checks", table(
    ["check", "status", "detail", "took"],
    others.map(function (n) {
      var c = comps[n];
      return row(n, c.status, [td(c.detail || "", "detail", "detail"), tnum(ms(c.duration_ms), "duration")]);
    }))));

  document.body.setAttribute("data-status", doc.status);
  return "data of " + (doc.generated_at || "").replace("T", " ").replace("Z", " UTC");
});
