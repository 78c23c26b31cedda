(function () {
  "use strict";
  var refreshes = 0;
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === undefined || c === null) continue;
      e.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  function badge(status) { return el("span", { "class": "badge s-" + status }, status.replace(/_/g, " ")); }
  function num(v, digits) {
    if (v === undefined || v === null) return "\u2013";
    if (typeof v !== "number") return String(v);
    return v.toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 1 : digits });
  }
  function pct(v) { return v === undefined || v === null ? "\u2013" : num(v * 100, 1) + " %"; }
  function ms(v) {
    if (v === undefined || v === null) return "\u2013";
    if (v >= 1000) return num(v / 1000, 2) + " s";
    return num(v, v < 10 ? 2 : 1) + " ms";
  }
  function span(millis) {
    var s = millis / 1000;
    return s >= 120 ? num(s / 60, 0) + " min" : num(s, 0) + " s";
  }
  function td(v, cls, field) { return el("td", { "class": cls, "data-field": field }, v); }
  function tnum(v, field) { return td(v, "num", field); }
  function table(head, rows) {
    var thead = el("tr");
    head.forEach(function (h) { thead.appendChild(el("th", null, h)); });
    var t = el("table", null, el("thead", null, thead));
    var body = el("tbody");
    rows.forEach(function (r) { body.appendChild(r); });
    t.appendChild(body);
    return t;
  }
  function section(title, content, wide) {
    return el("section", { "class": wide ? "wide" : null, "data-section": title.toLowerCase() }, el("h2", null, title), content);
  }
  function bar(ratio) {
    var r = Math.max(0, Math.min(1, ratio || 0));
    var i = el("i"); i.style.width = (r * 100).toFixed(1) + "%";
    return el("span", { "class": r >= 1 ? "bar hot" : "bar" }, i);
  }
  function spark(values) {
    var w = 120, h = 24;
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "spark"); svg.setAttribute("width", w); svg.setAttribute("height", h);
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    if (values && values.length > 1) {
      var max = Math.max.apply(null, values) || 1;
      var pts = values.map(function (v, i) {
        return (i * (w - 2) / (values.length - 1) + 1).toFixed(1) + "," + (h - 2 - (v / max) * (h - 4)).toFixed(1);
      }).join(" ");
      var line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      line.setAttribute("points", pts);
      svg.appendChild(line);
    }
    return svg;
  }
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

  function draw(doc) {
    var comps = doc.components || {};
    var summary = document.getElementById("summary");
    summary.textContent = "";
    summary.appendChild(el("span", null, "overall ", badge(doc.status)));
    summary.appendChild(el("span", null, "readiness ", badge(doc.groups.readiness)));
    summary.appendChild(el("span", null, "liveness ", badge(doc.groups.liveness)));
    var main = document.getElementById("main");
    main.textContent = "";

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
          el("td", { "data-field": "utilization" }, bar(d.utilization), pct(d.utilization)),
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
      main.appendChild(section("Latency \u2014 " + n, routes.length ? table(
        ["route", "req/s", "errors", "p50", "p95", "p99", "p99, last " + span((d.history_checks || 0) * (comps[n].interval_ms || 0))],
        routes.map(function (r) {
          var tr = el("tr", { "data-route": r.method + " " + r.route });
          tr.appendChild(td(r.method + " " + r.route, null, "route"));
          [tnum(num(r.rate_per_sec), "rate"), tnum(num(r.errors, 0), "errors"), tnum(ms(r.p50_ms), "p50"),
           tnum(ms(r.p95_ms), "p95"), tnum(ms(r.p99_ms), "p99"), el("td", { "data-field": "sparkline" }, spark(r.history_p99_ms))
          ].forEach(function (c) { tr.appendChild(c); });
          return tr;
        })) : el("p", { "class": "muted" }, "no requests in the last " + num(d.window_s, 0) + " s"), true));
    });

    var others = ofKind(comps, ["check"]);
    if (others.length) main.appendChild(section("Checks", table(
      ["check", "status", "detail", "took"],
      others.map(function (n) {
        var c = comps[n];
        return row(n, c.status, [td(c.detail || "", "detail", "detail"), tnum(ms(c.duration_ms), "duration")]);
      }))));

    var updated = document.getElementById("updated");
    updated.textContent = "data of " + (doc.generated_at || "").replace("T", " ").replace("Z", " UTC") + " \u00b7 refreshes: " + refreshes;
    document.body.setAttribute("data-refreshes", String(refreshes));
    document.body.setAttribute("data-status", doc.status);
  }

  var initial = JSON.parse(document.getElementById("initial").textContent);
  draw(initial);
  var every = initial.refresh_ms || 2000;
  function tick() {
    fetch(window.location.pathname + "?format=json", { headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (doc) { refreshes++; draw(doc); })
      .catch(function (e) { document.getElementById("updated").textContent = "refresh failed: " + e; })
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, Math.min(every, 500));
})();
