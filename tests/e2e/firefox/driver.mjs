// Firefox side of tests/e2e/test_firefox.py: Debian's /usr/bin/firefox-esr, headless,
// driven by puppeteer-core over WebDriver BiDi, with a fake camera and microphone.
//
// Serves a line protocol on stdin/stdout. Each input line is JSON {"id", "op", ...}:
//   {"op": "new_page", "init": SCRIPT?}   -> a page id (SCRIPT runs before every document)
//   {"op": "goto", "page", "url"}          {"op": "reload", "page"}
//   {"op": "eval", "page", "expr"}         -> the (awaited) value of the expression
//   {"op": "console", "page"}              -> the page's console lines so far
//   {"op": "close_page", "page"}           {"op": "quit"}
// and the reply is {"id", "result"} or {"id", "error"}. The first output line is
// {"ready": true, "version"} (or {"ready": false, "error"}). EOF on stdin closes Firefox.
//
// Usage: node driver.mjs PROFILE_DIR [FIREFOX]
import readline from "node:readline";
import puppeteer from "puppeteer-core";

const MAX_CONSOLE = 200; // console lines kept per page

async function main() {
  const [profile, executable = "/usr/bin/firefox-esr"] = process.argv.slice(2);
  const browser = await puppeteer.launch({
    browser: "firefox",
    protocol: "webDriverBiDi",
    executablePath: executable,
    headless: true,
    userDataDir: profile,
    extraPrefsFirefox: {
      "media.navigator.streams.fake": true,
      "media.navigator.permission.disabled": true,
      // Loopback candidates: the test machine may have no other interface.
      "media.peerconnection.ice.loopback": true,
    },
  });
  const pages = new Map();
  const consoles = new Map();
  let next = 0;
  const ops = {
    async new_page({ init }) {
      const page = await browser.newPage();
      const id = String(next++);
      const lines = [];
      page.on("console", (m) => {
        lines.push(`${m.type()}: ${m.text()}`);
        if (lines.length > MAX_CONSOLE) lines.shift();
      });
      page.on("pageerror", (e) => lines.push(`pageerror: ${e}`));
      if (init) await page.evaluateOnNewDocument(init);
      pages.set(id, page);
      consoles.set(id, lines);
      return id;
    },
    async goto({ page, url }) {
      await pages.get(page).goto(url);
      return null;
    },
    async reload({ page }) {
      await pages.get(page).reload();
      return null;
    },
    async eval({ page, expr }) {
      return await pages.get(page).evaluate(expr);
    },
    async console({ page }) {
      return consoles.get(page) ?? [];
    },
    async close_page({ page }) {
      await pages.get(page)?.close();
      pages.delete(page);
      return null;
    },
  };
  process.stdout.write(JSON.stringify({ ready: true, version: await browser.version() }) + "\n");
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const { id, op, ...args } = JSON.parse(line);
    if (op === "quit") break;
    try {
      if (!(op in ops)) throw new Error(`unknown op ${op}`);
      const result = await ops[op](args);
      process.stdout.write(JSON.stringify({ id, result: result ?? null }) + "\n");
    } catch (err) {
      process.stdout.write(JSON.stringify({ id, error: String(err) }) + "\n");
    }
  }
  await browser.close();
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ready: false, error: String(err && err.stack) }) + "\n");
  process.exit(1);
});
