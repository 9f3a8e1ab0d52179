// A donation whose amount the payer chooses (自愿金额): the bounds are on the page, an amount
// outside them is refused with the reason and kept in the field, one inside is registered and
// owed; in English too.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, launchBrowser, viewports } from "./harness.mjs";
import { checkPage } from "./inspect.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

test("a student gives an amount of their choosing within the bounds (desktop)", { timeout: 300_000 }, async () => {
  const context = await browser.newContext({ viewport: viewports.desktop, locale: "zh-CN" });
  const page = await context.newPage();
  const missing = [];
  await page.goto(`${demo.base}/portal/login`);
  await page.locator("#identifier").fill(demo.student.user);
  await page.locator("#password").fill(demo.student.password);
  await page.locator("form[action='/portal/login'] button[type=submit]").click();
  await page.waitForURL(/\/portal\/fees/);
  await page.goto(`${demo.base}/portal/projects`);
  await page.locator("li.project", { hasText: "爱心捐赠" }).getByRole("link").first().click();
  assert.match(await page.locator("dl.facts").innerText(), /自愿金额 ¥10\.00 至 ¥10,000\.00/);
  await page.getByLabel("缴费金额（元）").fill("5");
  await page.getByLabel("我已阅读并同意报名须知").check();
  await page.getByRole("button", { name: "提交报名并确认金额" }).click();
  await page.locator("#register-error").waitFor();
  assert.match(await page.locator("#register-error").innerText(), /缴费金额须在 ¥10\.00 至 ¥10,000\.00 之间/);
  assert.equal(await page.getByLabel("缴费金额（元）").inputValue(), "5", "what was typed stays");
  await checkPage(page, "donation-desktop-refused", missing);
  await page.getByLabel("缴费金额（元）").fill("50");
  await page.getByLabel("我已阅读并同意报名须知").check();
  await page.getByRole("button", { name: "提交报名并确认金额" }).click();
  await page.waitForURL(/\/portal\/registrations/);
  await page.goto(`${demo.base}/portal/fees`);
  assert.match(await page.locator("main").innerText(), /爱心捐赠[\s\S]*50\.00/);
  await context.close();
});

test("the donation's bounds, in English, before logging in (phone)", { timeout: 300_000 }, async () => {
  const context = await browser.newContext({ viewport: viewports.phone, locale: "en-US" });
  const page = await context.newPage();
  const missing = [];
  await page.goto(`${demo.base}/lang/en?back=/portal/projects`);
  await page.locator("li.project", { hasText: "爱心捐赠" }).getByRole("link").first().click();
  assert.match(await page.locator("dl.facts").innerText(), /Your choice, ¥10\.00 to ¥10,000\.00/);
  await checkPage(page, "donation-phone-en", missing);
  await context.close();
});
