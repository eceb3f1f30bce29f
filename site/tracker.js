// The fake website's click tracker: one JSON click event per page open, scroll milestone and link click.
// It posts to /clicks on the page's own origin (the demo site forwards it), so no CORS is involved.
// <script src="tracker.js" data-endpoint="http://other-host/clicks"> sends elsewhere; that host must allow CORS.
(function () {
  "use strict";
  var script = document.currentScript;
  var endpoint = (script && script.dataset.endpoint) || "/clicks";
  var openedAt = performance.now();
  var milestones = [25, 50, 75, 100];
  var ua = navigator.userAgent;

  function platform() {
    if (/iPad|Tablet/.test(ua) || (/Android/.test(ua) && !/Mobile/.test(ua))) return "tablet";
    if (/Mobi|iPhone|iPod|Android/.test(ua)) return "mobile";
    return "desktop";
  }

  function os() {
    if (/iPhone|iPad|iPod/.test(ua)) return "ios";  // checked first: iOS user agents also say "Mac OS X"
    if (/Android/.test(ua)) return "android";
    if (/Windows/.test(ua)) return "windows";
    if (/Mac OS X|Macintosh/.test(ua)) return "mac os x";
    if (/Linux|X11/.test(ua)) return "linux";
    return "unknown";
  }

  function browser() {
    // Order matters: Edge says "Chrome" too, and Chrome says "Safari".
    if (/Edg\//.test(ua)) return "edge";
    if (/Firefox\/|FxiOS/.test(ua)) return "firefox";
    if (/Chrome\/|CriOS/.test(ua)) return "chrome";
    if (/Safari\//.test(ua)) return "safari";
    return "unknown";
  }

  function country() {
    // The browser does not know where the reader is; the region of its language ("nl-BE") is the best guess.
    var region = (navigator.language || "").split("-")[1];
    return region && region.length === 2 ? region.toUpperCase() : null;
  }

  // A random UUID (version 4) per event, so that a consumer can drop a click it has already processed.
  // crypto.randomUUID() exists only on https:// and localhost pages; phones open the demo over plain
  // http://, where crypto.getRandomValues() still works.
  function eventId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;  // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80;  // the RFC 4122 variant
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function article() {
    var canonical = document.querySelector("link[rel=canonical]");
    return canonical ? canonical.href : location.href;
  }

  function send() {
    var event = {
      ts_ingest: Date.now(),
      article: article(),
      article_title: document.querySelector("h1").textContent.trim(),
      visitor_page_timer: sent ? Math.round(performance.now() - openedAt) : 0,  // ms
      visitor_page_height: Math.round(window.scrollY),  // px scrolled from the top
      visitor_platform: platform(),
      visitor_os: os(),
      visitor_browser: browser(),
      visitor_country: country(),
      event_id: eventId()
    };
    sent += 1;
    // keepalive lets the request finish even when the click navigates away from the page.
    fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(event),
      keepalive: true
    }).catch(function (error) { console.warn("click tracker: the event was not sent", error); });
  }

  function scrolledPercent() {
    var page = document.documentElement.scrollHeight;
    return page ? ((window.scrollY + window.innerHeight) / page) * 100 : 100;
  }

  function onScroll() {
    var reached = scrolledPercent();
    // One event per milestone passed, even when a jump to the bottom passes several at once.
    while (milestones.length && reached >= milestones[0] - 0.5) {
      milestones.shift();
      send();
    }
    if (!milestones.length) window.removeEventListener("scroll", onScroll);
  }

  function onClick(e) {
    var link = e.target.closest && e.target.closest("a[href]");
    if (link) send();
  }

  var sent = 0;
  send();  // the page was opened: timer 0, height 0
  // What the first screen already shows counts as read only once the reader scrolls.
  window.addEventListener("scroll", onScroll, { passive: true });
  document.addEventListener("click", onClick, true);
})();
