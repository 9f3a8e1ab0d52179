// Payer accounts in a real browser (payer guide §1–2): a staff member forced to change the
// initial password (desktop), a new student signing in by ID number and name (phone), an
// outside person registering (phone), and personal information with security questions.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startDemo, launchBrowser, viewports, guardRequests, screenshotDir, typeSmsCode } from "./harness.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

function parseOther(output) {
  const m = /staff (\S+) \/ (\S+) \(must change it; ID number (\S+)\); new student (\S+) \+ (\S+);/.exec(output);
  return { staff: m[1], staffPassword: m[2], staffId: m[3], newId: m[4], newName: m[5] };
}

test("staff change the initial password before anything else (desktop)", async () => {
  const who = parseOther(demo.output());
  const context = await browser.newContext({ viewport: viewports.desktop, locale: "zh-CN" });
  const page = await context.newPage();
  const outside = guardRequests(page, [demo.base, demo.simBase]);
  await page.goto(`${demo.base}/portal/login`);
  await page.getByLabel("身份").selectOption("staff");
  await page.getByLabel("学号/工号/登记号/手机号").fill(who.staff);
  await page.getByLabel("密码", { exact: true }).fill(who.staffPassword);
  await page.getByRole("button", { name: "登录", exact: true }).click();
  await page.locator("#forced-change").waitFor();
  await page.screenshot({ path: join(screenshotDir, "desktop-account-01-forced.png"), fullPage: true });
  await page.getByRole("link", { name: "当前费用" }).click();
  await page.locator("#forced-change").waitFor(); // sent back
  await page.getByLabel("当前密码", { exact: true }).fill(who.staffPassword);
  // The first change also asks for the whole ID number the school registered.
  await page.getByLabel("证件号码（核实身份）").fill(who.staffId);
  await page.getByLabel(/^新密码/).fill("Teacher2026");
  await page.getByLabel("确认新密码").fill("Teacher2026");
  await page.getByRole("button", { name: "修改密码" }).click();
  await page.getByText("密码已修改。").waitFor();
  await page.getByRole("link", { name: "当前费用" }).click();
  await page.getByRole("heading", { name: "当前费用" }).waitFor();
  assert.ok((await page.locator("main").innerText()).includes("职业技能培训费"));
  await page.screenshot({ path: join(screenshotDir, "desktop-account-02-fees.png"), fullPage: true });
  assert.deepEqual(outside, []);
  await context.close();
});

test("a new student signs in by ID number and name; an outside person registers (phone)", async () => {
  const who = parseOther(demo.output());
  const context = await browser.newContext({ viewport: viewports.phone, locale: "zh-CN" });
  const page = await context.newPage();
  await page.goto(`${demo.base}/portal/login`);
  await page.screenshot({ path: join(screenshotDir, "phone-account-01-login.png"), fullPage: true });
  await page.getByLabel("证件号码").fill(who.newId);
  await page.getByLabel("姓名").fill(who.newName);
  await page.getByRole("button", { name: "新生登录" }).click();
  await page.getByRole("heading", { name: "当前费用" }).waitFor();
  assert.ok((await page.locator("main").innerText()).includes("4,800.00"));
  await page.getByRole("link", { name: "个人信息" }).click();
  await page.getByRole("heading", { name: "个人信息" }).waitFor();
  await page.screenshot({ path: join(screenshotDir, "phone-account-02-info.png"), fullPage: true });
  await page.getByRole("button", { name: "退出" }).click();

  await page.goto(`${demo.base}/portal/register`);
  await page.getByLabel("姓名").fill("陈校外");
  await page.getByLabel("手机号（登录账号）").fill("13700002222");
  await typeSmsCode(page, demo, "13700002222");
  await page.getByLabel(/^密码/).fill("Outside2026");
  await page.getByLabel("确认密码").fill("Outside2026");
  await page.getByLabel("密保问题一").fill("出生城市");
  await page.getByLabel("答案一").fill("淄博");
  await page.getByLabel("密保问题二").fill("宠物名字");
  await page.getByLabel("答案二").fill("花花");
  await page.getByLabel("我已阅读并同意注册须知").check();
  await page.screenshot({ path: join(screenshotDir, "phone-account-03-register.png"), fullPage: true });
  await page.getByRole("button", { name: "注册" }).click();
  await page.getByRole("heading", { name: "当前费用" }).waitFor();
  await context.close();
});
