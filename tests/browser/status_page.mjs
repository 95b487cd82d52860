// The status page in a real browser (Debian's chromium, driven by playwright-core): rows appear
// and change status without reloading; when the WebSocket server side is cut off, updates keep
// coming by polling and the page says so; filters narrow the list; an admin retries a
// `needs_review` transaction and sees it end `confirmed`.
//
// Run by tests/browser.rs with BASE_URL, ADMIN_TOKEN, REVIEW_ID (a needs_review transaction)
// and SCREENSHOT_DIR. UPDATE_README_SCREENSHOT=1 also writes docs/status-page.png.
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { test } from "node:test";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE ?? "playwright-core");

const BASE_URL = process.env.BASE_URL;
const ADMIN_TOKEN = process.env.ADMIN_TOKEN;
const CLIENT_KEY = process.env.CLIENT_KEY;
const AS_ADMIN = { Authorization: `Bearer ${process.env.ADMIN_TOKEN}` };
const REVIEW_ID = process.env.REVIEW_ID;
const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? "target/browser";
const DATA = (weight) =>
  "0x1c41742f0000000000000000000000004242424242424242424242424242424242424242" +
  weight.toString(16).padStart(64, "0");

async function submit(weight) {
  const response = await fetch(`${BASE_URL}/transaction/broadcast`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": CLIENT_KEY },
    body: JSON.stringify({ message_type: "add_weight(address _addr, uint256 _weight)", data: DATA(weight) }),
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return JSON.parse(text).transaction_id;
}

const row = (page, id) => page.locator(`tbody tr[data-id="${id}"]`);

test("the status page stays live, falls back to polling, filters, and retries", async (t) => {
  assert.ok(BASE_URL && ADMIN_TOKEN && CLIENT_KEY && REVIEW_ID, "BASE_URL, ADMIN_TOKEN, CLIENT_KEY and REVIEW_ID are required");
  mkdirSync(SCREENSHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  let step = "start";
  try {
    step = "open";
    await page.goto(BASE_URL + "/");
    // Nothing is shown, and nothing connects, before the operator signs in.
    await page.locator("#error").filter({ hasText: /operator token/ }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator("tbody tr[data-id]").count(), 0);
    await page.fill("#admin-token", ADMIN_TOKEN);
    await page.click("#admin-unlock");
    await page.locator('#live[data-state="live"]').waitFor({ timeout: 20000 });
    const loads = [];
    page.on("framenavigated", () => loads.push(Date.now()));

    // First the admin retry: until the transaction under review is sent, its open nonce holds
    // every later one (by design: nobody knows whether the node has it).
    step = "admin retry";
    await row(page, REVIEW_ID).click();
    const details = page.locator("tr.details");
    await details.waitFor();
    assert.match(await details.innerText(), /needs review/);
    assert.match(await details.innerText(), /In dead-letter queue\s*yes/);
    await details.locator("button.retry").click();
    await page.locator(`tbody tr[data-id="${REVIEW_ID}"][data-status="confirmed"]`).waitFor({ timeout: 40000 });
    assert.match(await page.locator("tr.details").innerText(), /retry requested/);
    await row(page, REVIEW_ID).click(); // fold the details again

    step = "live rows";
    const first = await submit(1);
    await row(page, first).waitFor({ timeout: 20000 });
    await page.locator(`tbody tr[data-id="${first}"][data-status="confirmed"]`).waitFor({ timeout: 30000 });
    assert.equal(loads.length, 0, "no reload happened");

    step = "polling fallback";
    const refused = await fetch(`${BASE_URL}/_dev/websocket/stop`, { method: "POST" });
    assert.equal(refused.status, 401, "the dev switches are the operator's");
    const stopped = await fetch(`${BASE_URL}/_dev/websocket/stop`, { method: "POST", headers: AS_ADMIN });
    assert.equal(stopped.status, 204);
    await page.locator('#live[data-state="polling"]').waitFor({ timeout: 20000 });
    assert.match(await page.locator("#banner").innerText(), /interrupted/);
    const second = await submit(2);
    await page.locator(`tbody tr[data-id="${second}"][data-status="confirmed"]`).waitFor({ timeout: 30000 });
    await fetch(`${BASE_URL}/_dev/websocket/start`, { method: "POST", headers: AS_ADMIN });
    await page.locator('#live[data-state="live"]').waitFor({ timeout: 40000 });
    assert.equal(await page.locator("#banner").isHidden(), true);

    step = "filters";
    const shownStatuses = () => page.locator("tbody tr[data-id]").evaluateAll((rows) => rows.map((r) => r.dataset.status));
    await page.selectOption("#f-status", "needs_review");
    await page.click('#filters button[type="submit"]');
    await page.locator("#empty").waitFor({ state: "visible", timeout: 10000 });
    await page.selectOption("#f-status", "confirmed");
    await page.click('#filters button[type="submit"]');
    await page.waitForFunction(() => document.querySelectorAll("tbody tr[data-id]").length === 3, null, { timeout: 10000 });
    assert.deepEqual([...new Set(await shownStatuses())], ["confirmed"]);
    await page.fill("#f-q", first);
    await page.click('#filters button[type="submit"]');
    await page.waitForFunction(() => document.querySelectorAll("tbody tr[data-id]").length === 1, null, { timeout: 10000 });
    await row(page, first).waitFor();
    await page.click('#filters button[type="reset"]');
    await page.fill("#f-type", "ping()");
    await page.click('#filters button[type="submit"]');
    await page.locator("#empty").waitFor({ state: "visible", timeout: 10000 });
    await page.click('#filters button[type="reset"]');
    await page.waitForFunction(() => document.querySelectorAll("tbody tr[data-id]").length === 3, null, { timeout: 10000 });
    // Each row names its chain; the list filters by chain (name or id) and by lane.
    assert.equal(await row(page, first).locator("td").nth(2).innerText(), "anvil");
    await page.fill("#f-chain", "anvil");
    await page.click('#filters button[type="submit"]');
    await page.waitForFunction(() => document.querySelectorAll("tbody tr[data-id]").length === 3, null, { timeout: 10000 });
    await page.fill("#f-chain", "8453");
    await page.click('#filters button[type="submit"]');
    await page.locator("#empty").waitFor({ state: "visible", timeout: 10000 });
    await page.click('#filters button[type="reset"]');
    await page.fill("#f-lane", "0x000000000000000000000000000000000000dead");
    await page.click('#filters button[type="submit"]');
    await page.locator("#empty").waitFor({ state: "visible", timeout: 10000 });
    await page.click('#filters button[type="reset"]');
    await page.waitForFunction(() => document.querySelectorAll("tbody tr[data-id]").length === 3, null, { timeout: 10000 });

    step = "counts";
    await page.waitForFunction(() => Number(document.getElementById("count-passed").textContent) >= 3, null, { timeout: 10000 });

    step = "charts";
    // The last hour from the operators' timeline: the three confirmations (and their
    // acceptances) drawn, and the time between stages.
    // Every confirmation; of the acceptances, those after the local stream reader opened the
    // stream at its latest point (the first request may come before it).
    await page.waitForFunction(() => {
      const chart = document.getElementById("chart-throughput").dataset;
      return Number(chart.confirmed) >= 3 && Number(chart.accepted) >= 2;
    }, null, { timeout: 40000 });
    await page.waitForFunction(() => Number(document.getElementById("chart-latency").dataset.mined) > 0, null, { timeout: 10000 });
    assert.ok(await page.locator("#chart-latency .series.mined").count() > 0);
    assert.match(await page.locator("#chart-throughput-max").innerText(), /tx\/min/);
    if (process.env.UPDATE_README_SCREENSHOT === "1") {
      // The admin view of the retried transaction: its whole history.
      await row(page, REVIEW_ID).click();
      await page.locator("tr.details").waitFor();
      await page.screenshot({ path: "docs/status-page.png", fullPage: true });
    }
  } catch (error) {
    const file = path.join(SCREENSHOTS, `status-page-failure-${step.replaceAll(" ", "-")}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    t.diagnostic(`screenshot of the failure: ${file}`);
    throw error;
  } finally {
    await browser.close();
  }
});
