// Forms keep what was typed (except secrets) and say what went wrong next to the field concerned;
// the words a payer reads say what a control does.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, launchBrowser, viewports, typeSmsCode } from "./harness.mjs";
import { checkPage, watchMissing } from "./inspect.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

async function fresh(viewport = viewports.phone) {
  const context = await browser.newContext({ viewport, locale: "zh-CN" });
  const page = await context.newPage();
  return { context, page, missing: watchMissing(page) };
}

test("the academic-year selector says it switches the year", async () => {
  const { context, page } = await fresh();
  await page.goto(`${demo.base}/portal/login`);
  await page.locator("#identifier").fill(demo.student.user);
  await page.locator("#password").fill(demo.student.password);
  await page.getByRole("button", { name: "登录", exact: true }).click();
  await page.waitForURL(/\/portal\/fees/);
  await page.goto(`${demo.base}/portal/pay`);
  assert.equal(await page.locator("form.year-select button").innerText(), "切换学年");
  await context.close();
});

test("a refused registration keeps what was typed, clears the passwords, and marks the field", async () => {
  const { context, page, missing } = await fresh();
  await page.goto(`${demo.base}/portal/register`);
  await page.getByLabel("姓名").fill("周表单");
  await page.getByLabel("手机号（登录账号）").fill("13922220001");
  await typeSmsCode(page, demo, "13922220001");
  await page.getByLabel(/^密码/).fill("Learn2026x");
  await page.getByLabel("确认密码").fill("Learn2026y");
  await page.getByLabel("密保问题一").fill("出生城市");
  await page.getByLabel("答案一").fill("济南");
  await page.getByLabel("密保问题二").fill("小学名称");
  await page.getByLabel("答案二").fill("实验小学");
  await page.getByLabel("我已阅读并同意注册须知").check();
  await page.getByRole("button", { name: "注册" }).click();
  await page.locator("#confirm-error").waitFor();
  assert.equal(await page.locator("#confirm-error").innerText(), "两次输入的密码不一致");
  assert.equal(await page.getByLabel("确认密码").getAttribute("aria-invalid"), "true");
  assert.equal(await page.getByLabel("姓名").inputValue(), "周表单");
  assert.equal(await page.getByLabel("手机号（登录账号）").inputValue(), "13922220001");
  assert.equal(await page.getByLabel("密保问题一").inputValue(), "出生城市");
  assert.equal(await page.getByLabel("密保问题二").inputValue(), "小学名称");
  assert.equal(await page.getByLabel(/^密码/).inputValue(), "", "a password is never sent back");
  assert.equal(await page.getByLabel("答案一").inputValue(), "", "nor a security answer");
  await checkPage(page, "forms-phone-zh-register-refused", missing);
  // A refusal the platform's rules make (a short phone number) is shown at its field too.
  await page.getByLabel("手机号（登录账号）").fill("1392222000");
  await page.getByLabel("短信验证码").fill("000000");
  await page.getByLabel(/^密码/).fill("Learn2026x");
  await page.getByLabel("确认密码").fill("Learn2026x");
  await page.getByLabel("答案一").fill("济南");
  await page.getByLabel("答案二").fill("实验小学");
  await page.getByLabel("我已阅读并同意注册须知").check();
  await page.evaluate(() => document.querySelector("#phone").removeAttribute("maxlength"));
  await page.getByRole("button", { name: "注册" }).click();
  await page.locator("#phone-error").waitFor();
  assert.equal(await page.locator("#phone-error").innerText(), "手机号须为 11 位数字");
  assert.equal(await page.getByLabel("手机号（登录账号）").getAttribute("aria-invalid"), "true");
  await context.close();
});

test("a refused new-student login answers on its own card and keeps both fields", async () => {
  const { context, page, missing } = await fresh();
  await page.goto(`${demo.base}/portal/login`);
  await page.getByLabel("证件号码").fill("370303200804040047");
  await page.getByLabel("姓名").fill("王不对");
  await page.getByRole("button", { name: "新生登录" }).click();
  await page.locator("#ns-error").waitFor();
  assert.equal(await page.locator("#login-error").count(), 0, "the password card shows no error");
  assert.equal(await page.getByLabel("证件号码").inputValue(), "370303200804040047");
  assert.equal(await page.getByLabel("姓名").inputValue(), "王不对");
  await checkPage(page, "forms-phone-zh-new-student-refused", missing);
  await context.close();
});

test("after repeated failures the captcha is shown before it is asked for, and can be changed", async () => {
  const { context, page, missing } = await fresh(viewports.desktop);
  const attempt = async (password) => {
    await page.locator("#identifier").fill(demo.student.user);
    await page.locator("#password").fill(password);
    await page.getByRole("button", { name: "登录", exact: true }).click();
    await page.locator("#login-error").waitFor();
  };
  await page.goto(`${demo.base}/portal/login`);
  await attempt("wrong-1");
  await attempt("wrong-2");
  // A fresh login page knows nobody yet: no captcha; the next attempt asks for one politely.
  await page.goto(`${demo.base}/portal/login`);
  assert.equal(await page.locator("#captcha").count(), 0);
  await attempt(demo.student.password);
  assert.match(await page.locator("#login-error").innerText(), /请输入下方的验证码/);
  assert.equal(await page.locator("#captcha").count(), 1);
  assert.equal(await page.locator("#identifier").inputValue(), demo.student.user);
  const first = await page.locator("input[name=captcha_token]").inputValue();
  await page.getByRole("link", { name: "看不清？换一张" }).click();
  await page.locator("#captcha").waitFor();
  assert.notEqual(await page.locator("input[name=captcha_token]").inputValue(), first, "a new captcha");
  assert.equal(await page.locator("#identifier").inputValue(), demo.student.user, "the account is kept");
  await checkPage(page, "forms-desktop-zh-login-captcha", missing);
  await context.close();
});
