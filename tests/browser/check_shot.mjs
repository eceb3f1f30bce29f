// Screenshot the first failing check of an executed notebook (its message in the middle of the window), as JupyterLab shows it in Debian's headless chromium.
// Usage: node check_shot.mjs LAB_URL NOTEBOOK_NAME OUT.png   (the lab runs without a token)
import { openBrowser } from "./launch.mjs";

const [lab, name, out] = process.argv.slice(2);
setTimeout(() => { console.error("check_shot.mjs: gave up after 120 s"); process.exit(3); }, 120_000).unref();

const { context, close } = await openBrowser();
try {
  const page = context.pages()[0] || await context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${lab}/lab/tree/${name}?reset`, { waitUntil: "load" });  // ?reset: no tab of an earlier run
  const failing = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell", { has: page.locator("[data-mime-type='application/vnd.jupyter.stderr']") })
    .filter({ hasText: "with check(" }).first();
  await failing.waitFor({ state: "attached", timeout: 90_000 });
  const output = failing.locator(".jp-OutputArea-output").last();
  for (let attempt = 0; attempt < 3; attempt++) {  // the notebook's layout settles as its cells render: scroll again
    await output.evaluate((element) => element.scrollIntoView({ block: "center" }));
    await page.waitForTimeout(1500);
  }
  await page.screenshot({ path: out });  // the window as the student sees it: the check's end and its message
  console.log(JSON.stringify({ name, out, text: (await failing.locator(".jp-OutputArea").innerText()).slice(0, 400) }));
} finally {
  await close();
}
