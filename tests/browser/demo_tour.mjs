// The classroom demo in Debian's headless chromium: read an article (open, scroll, click a link), then open
// the live page and read what it shows; then time a few clicks until the live page counts them.
// Usage: node demo_tour.mjs http://127.0.0.1:PORT [--rounds N] [--screenshot FILE]
// Prints one JSON report on stdout. It checks nothing itself: the test compares the report with the topic.
import { parseArgs } from "node:util";
import { openBrowser } from "./launch.mjs";

const { positionals, values: options } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: "string", default: "3" }, screenshot: { type: "string" } },
});
const site = positionals[0].replace(/\/$/, "");
const WAIT_MS = 30_000;  // for any one condition; generous, for a busy 2-core machine
// Never hang a test run, whatever happens.
setTimeout(() => { console.error("demo_tour.mjs: gave up after 100 s"); process.exit(3); }, 100_000).unref();

const { context, close } = await openBrowser();

// What the tracker sends (docs/traffic.md): one event when a page opens, one per milestone (25, 50, 75,
// 100 %) on the way to the bottom, one per link click.
const OPENED = 1, READ_TO_THE_BOTTOM = 4, CLICKED = 1;

async function until(condition, what) {
  const deadline = Date.now() + WAIT_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`demo_tour.mjs: waited ${WAIT_MS / 1000} s for ${typeof what === "function" ? what() : what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function liveTotal(live) {
  liveTotal.last = await live.evaluate(() => Number(document.getElementById("total").textContent));
  return liveTotal.last;
}

async function shows(live, expected) {
  await until(async () => (await liveTotal(live)) === expected,
    () => `the live page to show ${expected} events (it shows ${liveTotal.last})`);
}

async function readToTheBottom(page) {
  const bottom = await page.evaluate(() => document.documentElement.scrollHeight - window.innerHeight);
  for (let y = 300; y < bottom + 300; y += 300) {
    await page.mouse.wheel(0, 300);
    await page.waitForFunction((target) => window.scrollY >= target, Math.min(y, bottom));
  }
  return page.evaluate(() => document.documentElement.scrollHeight);
}

// What the live page counted before this tour (0 on a fresh demo): one update of its stream, read here.
async function countedBefore() {
  const answer = await fetch(`${site}/live/stream`, { signal: AbortSignal.timeout(WAIT_MS) });
  const reader = answer.body.getReader();
  let text = "";
  while (!text.includes("\n\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`demo_tour.mjs: the live page's stream ended at once: ${text}`);
    text += new TextDecoder().decode(value);
  }
  await reader.cancel();
  return JSON.parse(text.split("\n\n")[0].replace(/^data: /, "")).total;
}

try {
  const before = await countedBefore();
  const article = context.pages()[0] || await context.newPage();
  await article.goto(`${site}/brussels.html`, { waitUntil: "load" });
  const scrollHeight = await readToTheBottom(article);
  await Promise.all([article.waitForURL("**/ghent.html"), article.locator("ul.see-also a[href='ghent.html']").click()]);
  await article.waitForLoadState("load");
  let expected = before + OPENED + READ_TO_THE_BOTTOM + CLICKED + OPENED;

  // Only now the live page: its consumer has been reading since the demo started.
  const live = await context.newPage();
  live.on("pageerror", (error) => console.error(`live page error: ${error}`));
  // When each event first appeared on the live page: a mutation observer runs at once, even in a background tab.
  await live.addInitScript(() => {
    window.shownAt = new Map();
    new MutationObserver(() => {
      for (const li of document.querySelectorAll("#events li")) {
        if (!window.shownAt.has(li.textContent)) window.shownAt.set(li.textContent, Date.now());
      }
    }).observe(document, { childList: true, subtree: true });
  });
  await live.goto(`${site}/live/`, { waitUntil: "load" });
  await shows(live, expected);
  const tour = { scrollHeight, before, events: expected - before };

  // From a click to the live page showing that very event (same clock: one machine).
  const delays = [];
  // The tab in front gets animation frames; Playwright's click waits for two of them, and scroll events come
  // with them: the reader's tab goes in front, the live page reads its stream in the background all the same.
  await article.bringToFront();
  for (let round = 0; round < Number(options.rounds); round++) {
    await readToTheBottom(article);
    expected += READ_TO_THE_BOTTOM;
    await shows(live, expected);
    const title = await article.evaluate(() => document.querySelector("h1").textContent.trim());
    const link = article.locator("ul.see-also a").first();
    const navigated = article.waitForURL(`**/${await link.getAttribute("href")}`);
    const clickedAt = Date.now();
    await link.click();
    let found = null;
    await until(async () => {
      found = await live.evaluate(({ title, clickedAt }) => {
        for (const li of document.querySelectorAll("#events li")) {
          try {
            const event = JSON.parse(li.textContent);
            if (event.article_title === title && event.visitor_page_timer > 0 && event.ts_ingest >= clickedAt) {
              return { clickedMs: event.ts_ingest, shownMs: window.shownAt.get(li.textContent) };
            }
          } catch { /* not JSON: not the click */ }
        }
        return null;
      }, { title, clickedAt });
      return found !== null;
    }, `the live page to show the click on ${title}`);
    // From the tracker's timestamp, taken in the click handler, to the moment the event was in the live page.
    delays.push(found.shownMs - found.clickedMs);
    await navigated;
    expected += CLICKED + OPENED;
    await shows(live, expected);
  }

  const shown = await live.evaluate(() => {
    const table = (name) => [...document.querySelectorAll(`#count-${name} tbody tr`)]
      .map((tr) => [tr.querySelector("th").textContent, Number(tr.querySelector("td").textContent)]);
    return {
      total: Number(document.getElementById("total").textContent),
      counts: { country: table("country"), platform: table("platform"), article: table("article") },
      events: [...document.querySelectorAll("#events li")].map((li) => li.textContent),
      rejected: document.getElementById("rejected")?.textContent ?? null,
      status: document.getElementById("status").textContent,
      chartBars: document.querySelectorAll("#chart rect").length,
    };
  });
  await live.bringToFront();
  if (options.screenshot) await live.screenshot({ path: options.screenshot });
  console.log(JSON.stringify({ tour, delays, shown }));
} finally {
  await close();
}
