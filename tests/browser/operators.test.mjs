// 操作员管理 and 操作日志 in a real browser: the system administrator adds a cashier (a temporary
// password shown once), the cashier must set their own password first, the administrator
// disables the account with a reason and reads the operator's actions in the log.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, launchBrowser, viewports, loginOperator } from "./harness.mjs";
import { checkPage } from "./inspect.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

for (const size of ["desktop", "phone"]) {
  test(`the system administrator adds, and disables, an operator; the log shows it (${size})`, { timeout: 300_000 }, async () => {
    const viewport = viewports[size];
    const user = `cashier${size === "desktop" ? "d" : "p"}`;
    const admin = await loginOperator(browser, demo, viewport, "sysadmin", demo.finance.password);
    const page = admin.page;
    await page.goto(`${demo.base}/admin/operators`);
    await page.getByRole("heading", { name: "操作员" }).first().waitFor();
    await page.getByLabel("用户名").fill(user);
    await page.getByLabel("姓名").fill("财务处 新收费员");
    await page.getByLabel("收费员", { exact: true }).check();
    await page.getByRole("button", { name: "添加并生成临时密码" }).click();
    const temp = (await page.locator("#issued code.temp-password").innerText()).trim();
    assert.match(temp, /^[a-z0-9]{10}$/);
    await checkPage(page, `operators-${size}`, admin.missing);

    // The new cashier sets their own password before anything else.
    const cashier = await browser.newContext({ viewport, locale: "zh-CN" });
    const cp = await cashier.newPage();
    await cp.goto(`${demo.base}/admin/login`);
    await cp.locator("#username").fill(user);
    await cp.locator("#password").fill(temp);
    await cp.locator("form[action='/admin/login'] button[type=submit]").click();
    await cp.getByRole("heading", { name: "我的账号" }).waitFor();
    await cp.getByLabel("当前密码").fill(temp);
    await cp.getByLabel("新密码（至少 8 位，含字母和数字）").fill("Counter@2027");
    await cp.getByLabel("再输入一次新密码").fill("Counter@2027");
    await cp.getByRole("button", { name: "修改密码" }).click();
    await cp.getByRole("heading", { name: "收费窗口" }).waitFor();

    // Disabled with a reason: the cashier is logged out at once.
    await page.locator("#operators tr", { hasText: user }).getByRole("link").click();
    await page.getByLabel("停用原因").fill("调离财务处");
    await page.getByRole("button", { name: "停用账号" }).click();
    await page.getByText("已保存。").waitFor();
    assert.match(await page.locator("main").innerText(), /停用[\s\S]*调离财务处/);
    await checkPage(page, `operator-${size}`, admin.missing);
    await cp.reload();
    await cp.waitForURL(/\/admin\/login/);
    await cashier.close();

    // The log, filtered to the administrator's own actions.
    await page.goto(`${demo.base}/admin/oplog`);
    await page.getByLabel("操作员").selectOption({ label: "信息中心 系统管理员" });
    await page.getByRole("button", { name: "查询" }).click();
    const log = await page.locator("main").innerText();
    assert.match(log, /添加操作员/);
    assert.match(log, /启用\/停用操作员/);
    await checkPage(page, `oplog-${size}`, admin.missing);
    await admin.context.close();
  });
}
