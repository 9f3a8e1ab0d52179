// The payer guide walked section by section at a phone and a desktop size (§1 login/logout,
// §2 personal info, §3 current fees, §5 business-order reuse, §6 records and voucher, §7 paid
// info, §8 project registration by someone without an account, §9 notices, §10 English,
// keyboard and an accessibility audit of every page visited with axe-core, no outside requests).
// §4 (tuition with a part payment) is walked at both sizes in payment.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startDemo, launchBrowser, viewports, guardRequests, screenshotDir, typeSmsCode } from "./harness.mjs";
import { axeFindings } from "./inspect.mjs";

const IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

/** Runs axe-core (WCAG 2 A and AA rules, colour contrast included) on the page; fails on any violation. */
async function audit(page, what) {
  assert.deepEqual(await axeFindings(page), [], `accessibility of ${what}`);
}

function walker(page, name) {
  return async (step, what = step) => {
    await audit(page, `${what} (${name})`);
    await page.screenshot({ path: join(screenshotDir, `${name}-guide-${step}.png`), fullPage: true });
  };
}

const people = {
  phone: { phone: "13911110002", name: "钱参训", size: "M" },
  desktop: { phone: "13911110001", name: "孙参训", size: "L" },
};

for (const [name, viewport] of Object.entries(viewports)) {
  test(`§8 someone without an account signs up for a project and pays; §2 §6 §7 §9 §10 (${name})`, async () => {
    const who = people[name];
    const context = await browser.newContext({
      viewport, locale: "zh-CN", bypassCSP: true, ...(name === "phone" ? { userAgent: IPHONE } : {}),
    });
    const page = await context.newPage();
    const outside = guardRequests(page, [demo.base, demo.simBase]);
    const done = walker(page, name);

    // §8: the open projects, readable without logging in.
    await page.goto(`${demo.base}/portal/projects`);
    await page.getByRole("heading", { name: "项目报名" }).waitFor();
    const list = await page.locator("main").innerText();
    for (const t of ["Python 数据分析", "第十二届校园学术会议", "心理健康讲座", "剩余名额"]) assert.ok(list.includes(t), t);
    await done("01-projects", "project list");
    await page.getByRole("link", { name: /查看并报名.*职业技能培训/ }).click();
    await page.getByRole("heading", { name: /Python 数据分析/ }).waitFor();
    assert.ok((await page.locator("#project-notice").innerText()).includes("开课后不予退还"));
    await done("02-project", "project page");

    // No account: register as a new user, accepting the notices, and come back to the project.
    await page.getByRole("link", { name: "注册新用户" }).click();
    await page.getByRole("heading", { name: "校外人员注册" }).waitFor();
    assert.ok((await page.locator("#notice").innerText()).includes("报名须知"));
    await page.getByLabel("姓名").fill(who.name);
    await page.getByLabel("手机号（登录账号）").fill(who.phone);
    await typeSmsCode(page, demo, who.phone);
    await page.getByLabel(/^密码/).fill("Learn2026x");
    await page.getByLabel("确认密码").fill("Learn2026x");
    await page.getByLabel("密保问题一").fill("出生城市");
    await page.getByLabel("答案一").fill("济南");
    await page.getByLabel("密保问题二").fill("小学名称");
    await page.getByLabel("答案二").fill("实验小学");
    await page.getByLabel("我已阅读并同意注册须知和报名须知").check();
    await done("03-register", "registration of a new user");
    await page.getByRole("button", { name: "注册" }).click();
    await page.getByRole("heading", { name: /Python 数据分析/ }).waitFor();

    // The project's own fields; a wrong phone is refused with the reason, then it goes through.
    await page.getByLabel(/联系电话/).fill("1391111");
    await page.getByLabel(/服装尺码/).selectOption(who.size);
    await page.getByLabel("我已阅读并同意报名须知").check();
    await page.evaluate(() => document.querySelector("#f_phone").removeAttribute("required")); // let the server judge
    await page.getByRole("button", { name: /提交报名/ }).click();
    await page.locator("#register-error").waitFor();
    assert.match(await page.locator("#register-error").innerText(), /联系电话：手机号须为 11 位数字/);
    await done("04-refused", "refused registration");
    await page.getByLabel(/联系电话/).fill(who.phone);
    await page.getByLabel("我已阅读并同意报名须知").check();
    await page.getByRole("button", { name: /提交报名/ }).click();
    await page.getByRole("heading", { name: "我的报名" }).waitFor();
    assert.ok((await page.locator("main").innerText()).includes("待缴报名费 ¥800.00"));
    await done("05-registrations", "my registrations");

    // Registering raised the fee: pay it (WeChat QR on a computer, Alipay's cashier on a phone).
    await page.getByRole("button", { name: /去缴费/ }).click();
    await page.getByRole("heading", { name: "确认缴费信息" }).waitFor();
    assert.ok((await page.locator("tfoot").innerText()).includes("800.00"));
    await done("06-confirm", "order confirmation");
    if (name === "phone") {
      await page.getByLabel("支付宝").check();
      await page.getByRole("button", { name: "确定支付" }).click();
      await page.getByRole("button", { name: "确认付款" }).waitFor({ timeout: 15_000 });
      await page.getByRole("button", { name: "确认付款" }).click();
    } else {
      await page.getByLabel("微信支付").check();
      await page.getByRole("button", { name: "确定支付" }).click();
      await page.getByRole("img", { name: "支付二维码" }).waitFor();
      await done("07-qr", "QR payment page");
      const phoneUrl = await page.locator("#sim-phone").getAttribute("href");
      const phone = await context.newPage();
      await phone.goto(phoneUrl);
      await phone.getByRole("button", { name: "确认支付" }).click();
      await phone.getByText("支付成功").waitFor();
      await phone.close();
    }
    await page.getByRole("heading", { name: "支付成功" }).waitFor({ timeout: 20_000 });
    await done("08-success", "payment success");

    // §6: the voucher, printable, and the transaction records.
    await page.getByRole("link", { name: "查看缴费凭证" }).click();
    await page.getByRole("heading", { name: /缴费凭证/ }).waitFor();
    assert.ok((await page.locator("main").innerText()).includes("800.00"));
    await page.getByRole("button", { name: "打印" }).waitFor();
    await done("09-voucher", "voucher");
    await page.getByRole("link", { name: "交易记录" }).click();
    await page.getByRole("heading", { name: "交易记录" }).waitFor();
    assert.ok((await page.locator("main").innerText()).includes("支付成功"));
    await done("10-records", "transaction records");
    await page.getByRole("link", { name: "明细" }).first().click();
    await page.getByRole("heading", { name: "支付成功" }).waitFor();

    // §7: paid information by fee type, across channels; §8: my registrations say it is paid.
    await page.getByRole("link", { name: "已缴信息" }).click();
    await page.getByRole("heading", { name: "已缴信息" }).waitFor();
    assert.ok((await page.locator("main").innerText()).includes("Python 数据分析"));
    await done("11-paid", "paid information");
    await page.goto(`${demo.base}/portal/registrations`);
    assert.ok((await page.locator("main").innerText()).includes("报名费 ¥800.00 已缴清"));
    // The project list says it is done, not "查看并报名" again.
    await page.goto(`${demo.base}/portal/projects`);
    const mine = page.locator("li.project", { hasText: "Python 数据分析" });
    assert.ok((await mine.innerText()).includes("您已报名"));
    assert.equal(await mine.getByRole("link", { name: /查看并报名/ }).count(), 0);

    // §3 and §9: nothing owed now; the cautions are on the page.
    await page.getByRole("link", { name: "当前费用" }).click();
    await page.getByRole("heading", { name: "当前费用" }).waitFor();
    const fees = await page.locator("main").innerText();
    assert.ok(fees.includes("您当前没有欠费") && fees.includes("请勿重复缴费"));
    await done("12-fees", "current fees");

    // §2: personal information; an edit is undone by reset before saving.
    await page.getByRole("link", { name: "个人信息" }).click();
    await page.getByRole("heading", { name: "个人信息" }).waitFor();
    const info = await page.locator("dl.info").innerText();
    assert.ok(info.includes(who.phone) && !info.includes(`M${who.phone}`), "the account is the phone number as typed");
    await page.getByLabel("修改手机号").fill("13000000000");
    await page.getByRole("button", { name: "重置" }).click();
    assert.equal(await page.getByLabel("修改手机号").inputValue(), who.phone);
    await done("13-account", "personal information");

    // §10: English, switched on any page and kept; every page still passes the audit.
    await page.getByRole("link", { name: "English" }).click();
    await page.getByRole("heading", { name: "My account" }).waitFor();
    assert.equal(await page.locator("html").getAttribute("lang"), "en");
    await done("14-account-en", "personal information in English");
    await page.getByRole("link", { name: "Registration" }).click();
    await page.getByRole("heading", { name: "Registration" }).waitFor();
    assert.ok((await page.locator("main").innerText()).includes("Places left"));
    await done("15-projects-en", "projects in English");
    await page.getByRole("link", { name: "Paid", exact: true }).click();
    assert.ok((await page.locator("main").innerText()).includes("paid in total"));
    await page.getByRole("link", { name: "中文" }).click();
    await page.getByRole("heading", { name: "已缴信息" }).waitFor();

    // Keyboard: the first Tab reaches "skip to main content", which moves focus to the content.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "跳到主要内容");
    await page.keyboard.press("Enter");
    await page.waitForURL(/#main$/, { timeout: 5_000 });

    // §1: a clear logout; the portal then asks to log in again.
    await page.getByRole("button", { name: "退出" }).click();
    await page.getByRole("heading", { name: "缴费人登录" }).waitFor();
    await done("16-logged-out", "login page");
    await page.goto(`${demo.base}/portal/fees`);
    await page.getByRole("heading", { name: "缴费人登录" }).waitFor();

    assert.deepEqual(outside, [], "no request leaves the machine");
    await context.close();
  });
}

const items = { phone: "住宿费", desktop: "教材费" };

for (const [name, viewport] of Object.entries(viewports)) {
  test(`§3 §5 a student's fees, an unfinished business order reused with all its attempts (${name})`, async () => {
    const context = await browser.newContext({ viewport, locale: "zh-CN", bypassCSP: true });
    const page = await context.newPage();
    const outside = guardRequests(page, [demo.base, demo.simBase]);
    const done = walker(page, `${name}-student`);
    await page.goto(`${demo.base}/portal/login`);
    await page.getByLabel("学号").fill(demo.student.user);
    await page.getByLabel("密码", { exact: true }).fill(demo.student.password);
    await page.getByRole("button", { name: "登录", exact: true }).click();
    await page.getByRole("heading", { name: "当前费用" }).waitFor();
    // §3: what cannot be paid now says why.
    const fees = await page.locator("main").innerText();
    assert.match(fees, /可缴费/);
    assert.match(fees, /已停止收费|尚未开始收费|已过收费期限/);
    await done("01-fees", "current fees of a student");

    const choose = async () => {
      await page.getByRole("link", { name: "缴费", exact: true }).click();
      await page.getByRole("heading", { name: "选择缴费项目" }).waitFor();
      const boxes = page.locator("input[name=sel]:not([disabled])");
      for (let i = 0; i < (await boxes.count()); i++) await boxes.nth(i).uncheck();
      await page.locator("li.item", { hasText: items[name] }).first().locator("input[name=sel]").check();
      await page.getByRole("button", { name: /下一步：确认缴费信息/ }).click();
      await page.getByRole("heading", { name: "确认缴费信息" }).waitFor();
      return page.url();
    };
    const first = await choose();
    await done("02-order", "business order");
    await page.getByLabel("微信支付").check();
    await page.getByRole("button", { name: "确定支付" }).click();
    await page.getByRole("button", { name: "放弃本次支付" }).waitFor();
    await done("03-waiting", "waiting payment");
    await page.getByRole("button", { name: "放弃本次支付" }).click();
    // §5: choosing the same item again reuses the unfinished business order, whose detail lists
    // the earlier attempt.
    const again = await choose();
    assert.equal(again, first, "the business order is reused");
    const attempts = page.locator("section", { hasText: "该订单的支付记录" }).locator("tbody tr");
    assert.equal(await attempts.count(), 1);
    await done("04-order-reused", "reused business order");
    assert.deepEqual(outside, [], "no request leaves the machine");
    await context.close();
  });
}

test("the accessibility audit fails on what it should", async () => {
  const context = await browser.newContext({ viewport: viewports.desktop, locale: "zh-CN", bypassCSP: true });
  const page = await context.newPage();
  await page.goto(`${demo.base}/portal/login`);
  await audit(page, "login page");
  // An unlabelled field and grey-on-grey text: both must be reported.
  await page.evaluate(() => {
    const main = document.querySelector("main");
    main.insertAdjacentHTML("beforeend", '<input id="nolabel"><p style="color:#bbb;background:#ccc">低对比度</p>');
  });
  await assert.rejects(audit(page, "a broken page"), (e) => /label/.test(e.message) && /color-contrast/.test(e.message));
  await context.close();
});
