// Usage: node check-page.js URL TEXT SCREENSHOT
// Opens URL in Debian's headless Chromium, waits until the rendered page shows TEXT (after
// the page's JavaScript ran), saves a screenshot, and prints the matching element's text.
// Exits 1 when TEXT does not appear within 60 s of a load; a load that fails (a busy machine
// can make Chromium's first navigation or the app's websocket give up) is tried 3 times.
const { chromium } = require('playwright-core');

(async () => {
  const [url, text, shot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
      '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const el = page.getByText(text, { exact: true }).first();
    for (let attempt = 1; ; attempt++) {
      try {
        await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60000 });
        await el.waitFor({ state: 'visible', timeout: 60000 });
        break;
      } catch (e) {
        if (attempt === 3) throw e;
        console.error(`check-page: attempt ${attempt}: ${e.message.split('\n')[0]}; loading again`);
      }
    }
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`${await el.evaluate((e) => e.tagName.toLowerCase())}: ${await el.innerText()}`);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(`check-page: ${e.message.split('\n')[0]}`);
  process.exit(1);
});
