// Refunds in a real browser: the payer pays tuition + dorm; the dorm office asks for the dorm fee
// back; finance approves; the channel pays it out; the payer sees it and the voucher is red-lettered.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startDemo, launchBrowser, viewports, screenshotDir } from "./harness.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

async function login(context, path, userLabel, user, password) {
  const page = await context.newPage();
  await page.goto(`${demo.base}${path}`);
  await page.getByLabel(userLabel).fill(user);
  await page.getByLabel("密码").fill(password);
  await page.getByRole("button", { name: "登录", exact: true }).click();
  return page;
}

test("a department's refund, approved by finance, reaches the payer", async () => {
  const shot = (page, step) => page.screenshot({ path: join(screenshotDir, `refund-${step}.png`), fullPage: true });
  // The payer pays tuition (part) and the dorm fee.
  const payerCtx = await browser.newContext({ viewport: viewports.phone, locale: "zh-CN" });
  const payer = await login(payerCtx, "/portal/login", "学号", demo.student.user, demo.student.password);
  await payer.getByRole("link", { name: "缴费", exact: true }).click();
  const boxes = payer.locator("input[name=sel]:not([disabled])");
  for (let i = 0; i < (await boxes.count()); i++) await boxes.nth(i).uncheck();
  const tuition = payer.locator("li.item", { hasText: "学费" }).first();
  await tuition.locator("input[name=sel]").check();
  await tuition.locator("input[name^=amount_]").fill("1000");
  await payer.locator("li.item", { hasText: "住宿费" }).locator("input[name=sel]").check();
  await payer.getByRole("button", { name: /下一步：确认缴费信息/ }).click();
  await payer.getByRole("button", { name: "确定支付" }).click();
  const phoneUrl = await payer.locator("#sim-phone").getAttribute("href");
  const phone = await payerCtx.newPage();
  await phone.goto(phoneUrl);
  await phone.getByRole("button", { name: "确认支付" }).click();
  await payer.getByRole("heading", { name: "支付成功" }).waitFor({ timeout: 15_000 });
  // The number is shown truncated with a copy button; its whole value is in the title.
  const no = await payer.locator("p", { hasText: "商户订单号" }).locator(".id").getAttribute("title");

  // The dorm office (后勤管理处) asks for the dorm fee back.
  const deptCtx = await browser.newContext({ viewport: viewports.desktop, locale: "zh-CN" });
  const dept = await login(deptCtx, "/admin/login", "用户名", demo.department.user, demo.department.password);
  // A department lands on its own collection; refunds are one step away.
  await dept.getByRole("heading", { name: "收费监控" }).waitFor();
  await dept.getByRole("link", { name: "退款管理" }).click();
  await dept.getByRole("link", { name: "申请退款" }).click();
  await dept.getByLabel("商户订单号").fill(no);
  await dept.getByRole("button", { name: "查询交易" }).click();
  await dept.getByLabel("退款金额（元）").fill("1200");
  await dept.getByLabel(/误缴/).check();
  await dept.getByLabel("退款原因").fill("已办理退宿，误缴住宿费");
  await shot(dept, "01-request");
  await dept.getByRole("button", { name: "提交申请" }).click();
  await dept.getByText("待审批").waitFor();

  // Finance approves.
  const finCtx = await browser.newContext({ viewport: viewports.desktop, locale: "zh-CN" });
  const fin = await login(finCtx, "/admin/login", "用户名", demo.finance.user, demo.finance.password);
  await fin.getByRole("link", { name: "退款管理" }).click();
  await fin.getByRole("button", { name: "批准" }).click();
  for (let i = 0; i < 40 && !(await fin.getByText("退款成功").count()); i++) {
    await fin.waitForTimeout(500);
    await fin.reload();
  }
  assert.ok(await fin.getByText("退款成功").count(), "the channel paid the refund out");
  await shot(fin, "02-finance");

  // The payer sees it, and the receipt is red-lettered.
  await payer.goto(`${demo.base}/portal/records`);
  assert.match(await payer.locator("main").innerText(), /退款 ¥1,200\.00（退款成功）/);
  await payer.getByRole("link", { name: "缴费凭证" }).first().click();
  await payer.getByRole("note").waitFor();
  assert.match(await payer.getByRole("note").innerText(), /部分退款/);
  await shot(payer, "03-voucher");
  await Promise.all([payerCtx.close(), deptCtx.close(), finCtx.close()]);
});
