// Every channel of the demo in a real browser: Alipay's mobile cashier on a phone, the campus
// card and UnionPay online banking on a desktop, a payment code at the finance counter, and
// finance's channel configuration and offline import pages. Screenshots land in screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { startDemo, launchBrowser, viewports, guardRequests, screenshotDir } from "./harness.mjs";

const IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

async function login(page) {
  await page.goto(`${demo.base}/portal`);
  await page.getByLabel("学号").fill(demo.student.user);
  await page.getByLabel("密码").fill(demo.student.password);
  await page.getByRole("button", { name: "登录", exact: true }).click();
  await page.getByRole("heading", { name: "当前费用" }).waitFor();
}

/** Chooses exactly one item (whole amount) and goes on to the confirmation page. */
async function orderFor(page, item) {
  await page.goto(`${demo.base}/portal/pay?year=2026-2027`);
  const boxes = page.locator("input[name=sel]:not([disabled])");
  for (let i = 0; i < (await boxes.count()); i++) await boxes.nth(i).uncheck();
  await page.locator("li.item", { hasText: item }).first().locator("input[name=sel]").check();
  await page.getByRole("button", { name: /下一步：确认缴费信息/ }).click();
  await page.getByRole("heading", { name: "确认缴费信息" }).waitFor();
}

test("a phone pays the dorm fee through Alipay's mobile cashier", async () => {
  const context = await browser.newContext({ viewport: viewports.phone, locale: "zh-CN", userAgent: IPHONE });
  const page = await context.newPage();
  const outside = guardRequests(page, [demo.base, demo.simBase]);
  const shot = (step) => page.screenshot({ path: join(screenshotDir, `phone-alipay-${step}.png`), fullPage: true });
  await login(page);
  await orderFor(page, "住宿费");
  const methods = await page.locator("fieldset").innerText();
  for (const m of ["微信支付", "支付宝", "校园卡", "银联"]) assert.ok(methods.includes(m), `offers ${m}`);
  await shot("01-methods");
  await page.getByLabel("支付宝").check();
  await page.getByRole("button", { name: "确定支付" }).click();
  // The page posts the signed form to Alipay by itself; the (simulated) cashier opens.
  await page.getByRole("button", { name: "确认付款" }).waitFor({ timeout: 15_000 });
  assert.ok(page.url().startsWith(`${demo.simBase}/alipay/pay`));
  await shot("02-cashier");
  await page.getByRole("button", { name: "确认付款" }).click();
  // Back on Bursar's payment page, which turns to success by itself.
  await page.getByRole("heading", { name: "支付成功" }).waitFor({ timeout: 20_000 });
  assert.ok(page.url().startsWith(`${demo.base}/portal/payments/`));
  await shot("03-success");
  assert.deepEqual(outside, [], "no request leaves the machine");
  await context.close();
});

test("a desktop pays textbooks by campus card and tuition by UnionPay online banking", async () => {
  const context = await browser.newContext({ viewport: viewports.desktop, locale: "zh-CN" });
  const page = await context.newPage();
  const outside = guardRequests(page, [demo.base, demo.simBase]);
  const shot = (step) => page.screenshot({ path: join(screenshotDir, `desktop-channels-${step}.png`), fullPage: true });
  await login(page);

  await orderFor(page, "教材费");
  await page.getByLabel(/校园卡（余额/).check();
  await page.getByLabel(/校园卡密码/).fill("000000");
  await page.getByRole("button", { name: "确定支付" }).click();
  await page.getByRole("alert").waitFor();
  assert.match(await page.getByRole("alert").innerText(), /密码错误/);
  // The refusal keeps the card chosen and says so next to the password (which is cleared).
  assert.ok(await page.getByLabel(/校园卡（余额/).isChecked(), "the card stays chosen");
  assert.equal(await page.getByLabel(/校园卡密码/).getAttribute("aria-invalid"), "true");
  assert.equal(await page.getByLabel(/校园卡密码/).inputValue(), "");
  await page.getByLabel(/校园卡密码/).fill("246810");
  await shot("01-card");
  await page.getByRole("button", { name: "确定支付" }).click();
  await page.getByRole("heading", { name: "支付成功" }).waitFor();
  await shot("02-card-success");

  await orderFor(page, "学费");
  assert.ok(!(await page.locator("fieldset").innerText()).includes("校园卡"), "tuition is not paid by card");
  await page.getByLabel(/银联/).check();
  await page.getByRole("button", { name: "确定支付" }).click();
  await page.getByRole("button", { name: "确认付款" }).waitFor({ timeout: 15_000 });
  await shot("03-unionpay-cashier");
  await page.getByRole("button", { name: "确认付款" }).click();
  // UnionPay posts the payer back (front return); the payment page shows the result.
  await page.getByRole("heading", { name: "支付成功" }).waitFor({ timeout: 20_000 });
  await shot("04-unionpay-success");
  assert.deepEqual(outside, [], "no request leaves the machine");
  await context.close();
});

test("finance: counter payment code, channel configuration, offline import", async () => {
  const context = await browser.newContext({ viewport: viewports.desktop, locale: "zh-CN" });
  const page = await context.newPage();
  const shot = (step) => page.screenshot({ path: join(screenshotDir, `desktop-finance-${step}.png`), fullPage: true });
  await page.goto(`${demo.base}/admin`);
  await page.getByLabel("用户名").fill(demo.finance.user);
  await page.getByLabel("密码").fill(demo.finance.password);
  await page.getByRole("button", { name: "登录", exact: true }).click();
  await page.getByRole("heading", { name: "收费监控" }).waitFor();

  // The payer's phone shows a WeChat payment code; the cashier scans it.
  const phone = await context.newPage();
  await phone.goto(`${demo.simBase}/phone/paycode`);
  await phone.getByRole("button", { name: "生成付款码" }).click();
  const code = (await phone.locator("#paycode").innerText()).trim();
  await phone.close();
  await page.getByRole("link", { name: "收费窗口" }).click();
  await page.getByLabel("找缴费人").fill(demo.student.user);
  await page.getByRole("button", { name: "查询" }).click();
  await page.getByLabel("选择 英语四六级考试报名费").check();
  await page.getByLabel("付款码（扫码枪输入后回车）").fill(code);
  // The scanned code chose its method (cash is the counter's default).
  assert.ok(await page.getByLabel("微信付款码").isChecked());
  await shot("01-counter");
  await page.getByLabel("付款码（扫码枪输入后回车）").press("Enter");
  await page.getByRole("heading", { name: "支付成功" }).waitFor();
  await shot("02-counter-paid");

  await page.getByRole("link", { name: "收款渠道" }).click();
  await page.getByRole("heading", { name: "收费项目可用的支付渠道" }).waitFor();
  assert.ok((await page.locator("main").innerText()).includes("已加密保存"));
  await shot("03-channels");

  await page.getByRole("link", { name: "线下导入" }).click();
  const dir = mkdtempSync(join(tmpdir(), "bursar-import-"));
  const file = join(dir, "cash.csv");
  writeFileSync(file, `来源参考号,学号/工号,收费项目代码,学年,金额,方式,收款时间\nCASH-1,${demo.student.user},JCF,2026-2027,1.00,现金,2026-11-20 09:00:00\nCASH-2,nobody,JCF,2026-2027,1.00,现金,2026-11-20 09:00:00\n`);
  await page.getByLabel("选择文件").setInputFiles(file);
  await page.getByRole("button", { name: "导入" }).click();
  await page.locator("#import-result").waitFor();
  assert.match(await page.locator("#import-result").innerText(), /整个文件未导入/);
  await shot("04-import-refused");
  await context.close();
});
