// Read the fake website like a person would, in Debian's headless chromium: open an article, scroll to
// the bottom, click a link. Usage: node tour.mjs http://127.0.0.1:PORT  (prints a JSON report on stdout)
import { openBrowser } from "./launch.mjs";

const site = process.argv[2];
// Never hang a test run: give up after a minute whatever happens.
setTimeout(() => { console.error("tour.mjs: gave up after 60 s"); process.exit(3); }, 60_000).unref();

const { context, close } = await openBrowser();
try {
  const page = context.pages()[0] || await context.newPage();
  const answers = [];
  page.on("response", (r) => { if (r.url().endsWith("/clicks")) answers.push(r.status()); });
  await page.goto(`${site}/brussels.html`, { waitUntil: "load" });
  let atBottom = false;
  for (let step = 0; step < 60 && !atBottom; step++) {
    await page.mouse.wheel(0, 300);
    await page.waitForTimeout(100);
    atBottom = await page.evaluate(() => window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 1);
  }
  const scrollHeight = await page.evaluate(() => document.documentElement.scrollHeight);
  await Promise.all([page.waitForURL("**/ghent.html"), page.locator("ul.see-also a[href='ghent.html']").click()]);
  await page.waitForLoadState("load");
  await page.waitForTimeout(1500);  // let the keepalive requests finish
  console.log(JSON.stringify({ atBottom, scrollHeight, answers, userAgent: await page.evaluate(() => navigator.userAgent) }));
} finally {
  await close();
}
