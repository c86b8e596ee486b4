// Firefox ESR side of scripts/gen_sdp_corpus.py (not run in CI).
//
// Launches /usr/bin/firefox-esr headless through puppeteer-core (WebDriver BiDi), opens
// the URL given as argv[2], then serves a tiny line protocol on stdin/stdout: each input
// line is JSON {"id", "expr"}; `expr` is evaluated in the page (awaited) and the reply is
// JSON {"id", "result"} or {"id", "error"}. The first output line is {"ready", "version"}.
//
// Usage: NODE_PATH=<dir with puppeteer-core> node gen_sdp_corpus_firefox.js URL PROFILE_DIR
"use strict";

const readline = require("node:readline");
const puppeteer = require("puppeteer-core");

async function main() {
  const [url, profile] = process.argv.slice(2);
  const browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: "/usr/bin/firefox-esr",
    headless: true,
    userDataDir: profile,
    extraPrefsFirefox: {
      "media.navigator.streams.fake": true,
      "media.navigator.permission.disabled": true,
      "media.peerconnection.ice.loopback": true,
      "network.dns.disableIPv6": false,
    },
  });
  const page = await browser.newPage();
  await page.goto(url);
  const version = await browser.version();
  process.stdout.write(JSON.stringify({ ready: true, version }) + "\n");
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const { id, expr } = JSON.parse(line);
    try {
      const result = await page.evaluate(expr);
      process.stdout.write(JSON.stringify({ id, result }) + "\n");
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
