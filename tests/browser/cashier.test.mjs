// The hosted cashier, as an outside payer meets it on a phone: a business system creates an
// order through the signed open API; the payer opens the cashier link, pays with Alipay's
// mobile cashier, sees success and the way back to the business system.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { startDemo, launchBrowser, viewports, guardRequests, screenshotDir, api, whenShown, runClock, installClock } from "./harness.mjs";

const IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });


test("an outside payer pays a training fee at the hosted cashier on a phone", async () => {
  const creds = JSON.parse(readFileSync(join(demo.dataDir, "sandbox", "api", "demo_app.json"), "utf8"));
  const created = await api(creds, "POST", "/api/v1/orders", {
    out_order_no: `B-${Date.now()}`,
    payer: { name: "李外来", phone: "13900139000" },
    items: [{ fee_item_code: "PXF", academic_year: "2026-2027", amount_fen: 45000 }],
    description: "职业技能培训（夜班）",
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));

  const context = await browser.newContext({ viewport: viewports.phone, locale: "zh-CN", userAgent: IPHONE });
  const page = await context.newPage();
  const outside = guardRequests(page, [demo.base, demo.simBase]);
  const shot = (step) => page.screenshot({ path: join(screenshotDir, `phone-cashier-${step}.png`), fullPage: true });
  await page.goto(created.body.cashier_url);
  await page.getByRole("heading", { name: "培训报名系统" }).waitFor();
  assert.ok((await page.locator("main").innerText()).includes("450.00"));
  await shot("01-cashier");
  await page.getByLabel("支付宝").check();
  await page.getByRole("button", { name: "确定支付" }).click();
  await page.getByRole("button", { name: "确认付款" }).waitFor({ timeout: 15_000 });
  await shot("02-alipay");
  // Frozen clock: the success page stays put until the test has read it (it returns to the
  // business system after 3 s, checked below).
  await installClock(page);
  await page.getByRole("button", { name: "确认付款" }).click();
  await whenShown(page, page.getByRole("heading", { name: "支付成功" }));
  const back = await page.locator("#return-link").getAttribute("href");
  assert.match(back, /status=paid/);
  assert.match(back, /signature=[0-9a-f]{64}/);
  await shot("03-success");
  const order = await api(creds, "GET", `/api/v1/orders/${created.body.id}`);
  assert.equal(order.body.status, "paid");
  await runClock(page, 3_500);
  await page.waitForURL((u) => u.href.startsWith(back.split("?")[0]), { timeout: 15_000 });
  assert.deepEqual(outside, [], "no request leaves the machine");
  await context.close();
});
