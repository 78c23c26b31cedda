// The shared renderer of Palisade's pages (the latency report, the health
// status page): DOM helpers, the latency table, and the refresh loop. A page
// adds its own drawing script, which calls `Palisade.start(draw)`.
(function () {
  "use strict";
  var P = (window.Palisade = {});

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
  var SVG = "http://www.w3.org/2000/svg";
  function svg(cls, w, h) {
    var s = document.createElementNS(SVG, "svg");
    s.setAttribute("class", cls); s.setAttribute("width", w); s.setAttribute("height", h);
    s.setAttribute("viewBox", "0 0 " + w + " " + h);
    return s;
  }
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function spark(values) {
    var w = 120, h = 24, s = svg("spark", w, h);
    if (values && values.length > 1) {
      var max = Math.max.apply(null, values) || 1;
      var pts = values.map(function (v, i) {
        return (i * (w - 2) / (values.length - 1) + 1).toFixed(1) + "," + (h - 2 - (v / max) * (h - 4)).toFixed(1);
      }).join(" ");
      s.appendChild(svgEl("polyline", { points: pts }));
    }
    return s;
  }
  // Requests per power-of-two latency bucket ([upper bound in ms, count]),
  // the bucket of the p99 highlighted.
  function distribution(buckets, p99) {
    var w = 160, h = 32, s = svg("dist", w, h + 12);
    if (!buckets || !buckets.length) return s;
    var peak = Math.max.apply(null, buckets.map(function (b) { return b[1]; })) || 1;
    var bw = w / buckets.length, lower = buckets[0][0] / 2;
    buckets.forEach(function (b, i) {
      var bh = b[1] ? Math.max(1, h * b[1] / peak) : 0;
      var rect = svgEl("rect", {
        "class": lower < p99 && p99 <= b[0] ? "p99" : "",
        x: (i * bw).toFixed(1), y: (h - bh).toFixed(1), width: Math.max(0.5, bw - 1).toFixed(1), height: bh.toFixed(1)
      });
      rect.appendChild(svgEl("title", {}, ms(lower) + " \u2013 " + ms(b[0]) + ": " + b[1]));
      s.appendChild(rect);
      lower = b[0];
    });
    s.appendChild(svgEl("text", { x: 0, y: h + 10 }, ms(buckets[0][0] / 2)));
    s.appendChild(svgEl("text", { x: w, y: h + 10, "text-anchor": "end" }, ms(buckets[buckets.length - 1][0])));
    return s;
  }

  // The latency table's columns: [heading, cell]. A row is one route and
  // method, durations in milliseconds: {method, route, count, classes,
  // rate_per_sec, errors, aborted, blocking_polls, slow, p50_ms, p90_ms,
  // p95_ms, p99_ms, p999_ms, max_ms, head_p99_ms, window_p99_ms,
  // history_p99_ms, distribution}; each page picks the columns it has data for.
  var LATENCY_COLUMNS = {
    count: ["requests", function (r) {
      return el("td", { "class": "num", "data-field": "count" }, num(r.count, 0),
        r.classes ? el("div", { "class": "muted" }, r.classes) : null);
    }],
    rate: ["req/s", function (r) { return tnum(num(r.rate_per_sec), "rate"); }],
    errors: ["errors", function (r) { return td(num(r.errors, 0), r.errors > 0 ? "num err" : "num", "errors"); }],
    aborted: ["aborted", function (r) { return tnum(num(r.aborted, 0), "aborted"); }],
    blocking_polls: ["blocking polls", function (r) { return tnum(num(r.blocking_polls, 0), "blocking_polls"); }],
    slow: ["slow", function (r) { return tnum(num(r.slow, 0), "slow"); }],
    p50: ["p50", function (r) { return tnum(ms(r.p50_ms), "p50"); }],
    p90: ["p90", function (r) { return tnum(ms(r.p90_ms), "p90"); }],
    p95: ["p95", function (r) { return tnum(ms(r.p95_ms), "p95"); }],
    p99: ["p99", function (r) { return tnum(ms(r.p99_ms), "p99"); }],
    p999: ["p99.9", function (r) { return tnum(ms(r.p999_ms), "p999"); }],
    max: ["max", function (r) { return tnum(ms(r.max_ms), "max"); }],
    head_p99: ["head p99", function (r) { return tnum(ms(r.head_p99_ms), "head_p99"); }],
    window_p99: ["p99, window", function (r) { return tnum(ms(r.window_p99_ms), "window_p99"); }],
    distribution: ["distribution", function (r) { return el("td", { "data-field": "distribution" }, distribution(r.distribution, r.p99_ms)); }],
    sparkline: [null, function (r) { return el("td", { "data-field": "sparkline" }, spark(r.history_p99_ms)); }]
  };
  // A latency table: `columns` names entries of LATENCY_COLUMNS (`headings`
  // overrides their headings by name).
  function latencyTable(rows, columns, headings) {
    return table(["route"].concat(columns.map(function (c) { return (headings && headings[c]) || LATENCY_COLUMNS[c][0]; })),
      rows.map(function (r) {
        var tr = el("tr", { "data-route": r.method + " " + r.route });
        tr.appendChild(td(r.method + " " + r.route, null, "route"));
        columns.forEach(function (c) { tr.appendChild(LATENCY_COLUMNS[c][1](r)); });
        return tr;
      }));
  }

  // Draws the page from its embedded data, then fetches the data again from
  // the page's own URL every `refresh_ms` (2 s by default) and redraws.
  // `draw(doc, main)` fills <main> and returns the footer's text.
  function start(draw) {
    var refreshes = 0;
    var main = document.getElementById("main");
    var updated = document.getElementById("updated");
    function redraw(doc) {
      main.textContent = "";
      var footer = draw(doc, main);
      updated.textContent = (footer ? footer + " \u00b7 " : "") + "refreshes: " + refreshes;
      document.body.setAttribute("data-refreshes", String(refreshes));
    }
    var initial = JSON.parse(document.getElementById("initial").textContent);
    redraw(initial);
    var every = initial.refresh_ms || 2000;
    function tick() {
      fetch(window.location.pathname + "?format=json", { headers: { "Accept": "application/json" }, cache: "no-store" })
        .then(function (r) { return r.json(); })
        .then(function (doc) { refreshes++; redraw(doc); })
        .catch(function (e) { updated.textContent = "refresh failed: " + e; })
        .then(function () { setTimeout(tick, every); });
    }
    setTimeout(tick, Math.min(every, 500));
  }

  P.el = el; P.badge = badge; P.num = num; P.pct = pct; P.ms = ms; P.span = span;
  P.td = td; P.tnum = tnum; P.table = table; P.section = section; P.bar = bar;
  P.spark = spark; P.distribution = distribution; P.latencyTable = latencyTable; P.start = start;
})();
