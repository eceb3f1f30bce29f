// The live page: draws the totals the server streams from its Kafka consumer. It only reads.
// Everything shown comes from the topic, where anyone may have written anything: text goes in with
// textContent only, never as HTML.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var seen = {};  // "partition:offset" of the events already shown, to flash the new ones
  var byId = function (id) { return document.getElementById(id); };

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function status(text, kind) {
    var element = byId("status");
    element.textContent = text;
    element.className = kind;
  }

  // JSON with a space after ":" and ",", as Python prints it: easier to read aloud than JSON.stringify's.
  function jsonLine(value) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return JSON.stringify(value);
    return "{" + Object.keys(value).map(function (key) {
      return JSON.stringify(key) + ": " + JSON.stringify(value[key]);
    }).join(", ") + "}";
  }

  function drawChart(perSecond) {
    var chart = byId("chart");
    var peak = Math.max.apply(null, perSecond.concat([1]));
    var width = 600 / perSecond.length, height = 150;
    while (chart.firstChild) chart.removeChild(chart.firstChild);
    perSecond.forEach(function (count, i) {
      if (!count) return;
      var bar = document.createElementNS(SVG, "rect");
      var tall = Math.max(2, (count / peak) * (height - 22));
      bar.setAttribute("x", (i * width + 1).toFixed(1));
      bar.setAttribute("width", (width - 2).toFixed(1));
      bar.setAttribute("y", (height - tall).toFixed(1));
      bar.setAttribute("height", tall.toFixed(1));
      if (i === perSecond.length - 1) bar.setAttribute("class", "latest");
      chart.appendChild(bar);
    });
    var scale = document.createElementNS(SVG, "text");
    scale.setAttribute("x", "4");
    scale.setAttribute("y", "16");
    scale.textContent = "max " + peak + "/s";
    chart.appendChild(scale);
    byId("peak").textContent = Math.max.apply(null, perSecond);
    // The current second is still filling up: "now" is the last whole second.
    byId("now").textContent = perSecond[perSecond.length - 2] || 0;
  }

  // The lag of a consumer group (make demo ARGS=--lag): how many events wait in Kafka for it, over the last minute.
  function drawLag(lag) {
    var box = byId("lag");
    box.hidden = !lag;
    if (!lag) return;
    byId("lag-now").textContent = lag.now === null ? "?" : lag.now;
    byId("lag-group").textContent = lag.group;
    var state = lag.state === "stopped" ? "(processing stopped)" : lag.state === "running" ? "(processing)" : "";
    byId("lag-state").textContent = lag.problem ? state + " " + lag.problem : state;
    byId("lag-state").className = lag.state === "stopped" || lag.problem ? "stopped" : "";
    var chart = byId("lag-chart");
    var values = lag.per_second.map(function (v) { return v || 0; });
    var peak = Math.max.apply(null, values.concat([1]));
    var width = 600 / values.length, height = 60;
    while (chart.firstChild) chart.removeChild(chart.firstChild);
    lag.per_second.forEach(function (count, i) {
      if (count === null) return;
      var bar = document.createElementNS(SVG, "rect");
      var tall = Math.max(1, (count / peak) * (height - 4));
      bar.setAttribute("x", (i * width).toFixed(1));
      bar.setAttribute("width", width.toFixed(1));
      bar.setAttribute("y", (height - tall).toFixed(1));
      bar.setAttribute("height", tall.toFixed(1));
      chart.appendChild(bar);
    });
  }

  function row(name, count, className) {
    var tr = document.createElement("tr");
    var th = document.createElement("th");
    var td = document.createElement("td");
    th.textContent = name;
    th.title = name;
    td.textContent = count;
    tr.appendChild(th);
    tr.appendChild(td);
    if (className) tr.className = className;
    return tr;
  }

  function drawCounts(name, count) {
    var body = byId("count-" + name).tBodies[0];
    var rows = count.rows.map(function (r) { return row(r[0], r[1]); });
    if (count.others) rows.push(row((count.distinct - count.rows.length) + " others", count.others, "others"));
    body.replaceChildren.apply(body, rows);
  }

  function drawEvents(last) {
    var items = last.map(function (record) {
      var key = record.partition + ":" + record.offset;
      var li = document.createElement("li");
      li.textContent = record.json ? jsonLine(record.value) : "(not JSON) " + record.value;
      li.dataset.partition = record.partition;
      li.dataset.offset = record.offset;
      li.className = (record.json ? "" : "not-json ") + (seen[key] ? "" : "new");
      return li;
    });
    seen = {};
    last.forEach(function (record) { seen[record.partition + ":" + record.offset] = true; });
    var list = byId("events");
    list.replaceChildren.apply(list, items);
  }

  function drawAnswers(answers) {
    var footer = byId("answers");
    if (!answers) {
      footer.textContent = "Rejected events never reach Kafka, so this page cannot count them: see the " +
        "sender's summary (make fake-website prints one) or the endpoint's log.";
      return;
    }
    var strong = document.createElement("strong");
    strong.id = "rejected";
    strong.textContent = answers.rejected;
    footer.replaceChildren("Endpoint's answers to this site: " + answers.accepted + " accepted · ", strong,
      " rejected (4xx) · " + answers.failed + " not stored (5xx). Rejected events never reach Kafka.");
  }

  function draw(data) {
    byId("topic").textContent = data.topic;
    byId("total").textContent = data.total;
    byId("total").dataset.version = data.version;
    byId("since").textContent = "since " + (data.starting_at === "the beginning of the topic"
      ? "the beginning of the topic" : clock(data.started_ms)) +
      (data.not_json ? " · " + data.not_json + " not JSON" : "");
    drawChart(data.per_second);
    ["country", "platform", "article"].forEach(function (name) { drawCounts(name, data.counts[name]); });
    drawEvents(data.last);
    drawAnswers(data.answers);
    drawLag(data.lag);
    if (data.kafka_error) status(data.kafka_error, "problem");
    else status("reading " + data.topic + " at " + data.bootstrap_servers, "ok");
  }

  var stream = new EventSource("stream");
  stream.onmessage = function (message) { draw(JSON.parse(message.data)); };
  // EventSource reconnects by itself; say so meanwhile, and what to check.
  stream.onerror = function () { status("no connection to the demo: is make demo still running?", "problem"); };
})();
