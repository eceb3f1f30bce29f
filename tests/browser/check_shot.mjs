// Screenshot the first failing check of an executed notebook, as JupyterLab shows it in Debian's headless chromium.
// Usage: node check_shot.mjs LAB_URL NOTEBOOK_NAME OUT.png   (the lab runs without a token)
import { openBrowser } from "./launch.mjs";

const [lab, name, out] = process.argv.slice(2);
setTimeout(() => { console.error("check_shot.mjs: gave up after 120 s"); process.exit(3); }, 120_000).unref();

const { context, close } = await openBrowser();
try {
  const page = context.pages()[0] || await context.newPage();
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.goto(`${lab}/lab/tree/${name}`, { waitUntil: "load" });
  const failing = page.locator(".jp-CodeCell", { has: page.locator("[data-mime-type='application/vnd.jupyter.stderr']") })
    .filter({ hasText: "with check(" }).first();
  await failing.waitFor({ timeout: 90_000 });
  await failing.scrollIntoViewIfNeeded();
  await page.waitForTimeout(1000);  // let the editor finish its highlighting
  await failing.screenshot({ path: out });
  console.log(JSON.stringify({ name, out, text: (await failing.locator(".jp-OutputArea").innerText()).slice(0, 400) }));
} finally {
  await close();
}
