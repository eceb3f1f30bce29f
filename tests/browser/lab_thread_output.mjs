// Run a notebook's cells in JupyterLab as a student would (Shift+Enter, one cell after the other), then send
// the server that its first cell started two requests, and report what each cell's output area shows.
// Usage: node lab_thread_output.mjs LAB_URL_WITH_TOKEN SCREENSHOT.png  (prints a JSON report on stdout)
import { openBrowser } from "./launch.mjs";

const [labUrl, screenshot] = process.argv.slice(2);
// Never hang a test run: give up after 50 s whatever happens.
setTimeout(() => { console.error("lab_thread_output.mjs: gave up after 50 s"); process.exit(3); }, 50_000).unref();

const { context, close } = await openBrowser();
const page = context.pages()[0] || await context.newPage();
try {
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(labUrl, { waitUntil: "domcontentloaded" });
  const cells = page.locator(".jp-NotebookPanel .jp-Cell.jp-CodeCell");
  await cells.first().waitFor({ timeout: 30_000 });
  // The kernel is ready once the status bar says so: a cell run before that is dropped.
  await page.locator(".jp-StatusBar-Widget", { hasText: /\| Idle/ }).first().waitFor({ timeout: 30_000 });
  const count = await cells.count();
  await cells.first().locator(".jp-InputPrompt").click();  // select the first cell, in command mode
  for (let index = 0; index < count; index++) {
    await page.keyboard.press(index < count - 1 ? "Shift+Enter" : "Control+Enter");  // the last: no new cell
    // A cell has run when its prompt shows its execution count, [1]: and so on.
    await cells.nth(index).locator(".jp-InputPrompt", { hasText: /\[\d+\]/ }).waitFor({ timeout: 20_000 });
  }
  const outputOf = (index) => cells.nth(index).locator(".jp-OutputArea").innerText();
  const served = (await outputOf(0)).match(/Serving on (http:\/\/127\.0\.0\.1:\d+)/);
  if (!served) throw new Error(`the first cell did not start the server: ${await outputOf(0)}`);
  // The requests come after every cell ran: the server's threads print while another cell is the last one.
  const answers = [];
  for (const path of ["/hello", "/boom"]) answers.push((await fetch(served[1] + path)).status);
  const firstArea = cells.nth(0).locator(".jp-OutputArea");
  await firstArea.filter({ hasText: "GET /boom" }).waitFor({ timeout: 10_000 });
  await firstArea.filter({ hasText: "ZeroDivisionError" }).waitFor({ timeout: 10_000 });
  await page.waitForTimeout(500);  // anything that went astray would show by now
  const outputs = [];
  for (let index = 0; index < count; index++) outputs.push(await outputOf(index));
  await page.screenshot({ path: screenshot });
  console.log(JSON.stringify({ answers, outputs }));
} catch (error) {
  await page.screenshot({ path: screenshot }).catch(() => {});  // what the page showed when it went wrong
  throw error;
} finally {
  await close();
}
