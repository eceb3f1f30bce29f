// Start Debian's headless chromium with a fresh profile, as this machine needs it (no downloaded browser,
// no background connections), at a 1280×720 window in Belgian Dutch: the tracker takes the country from it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export async function openBrowser() {
  const profile = mkdtempSync(join(tmpdir(), "clickkit-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    locale: "nl-BE",
    viewport: { width: 1280, height: 720 },
    timeout: 45_000,
  });
  const close = async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); };
  return { context, close };
}
