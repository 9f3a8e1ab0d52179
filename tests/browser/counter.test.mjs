// The counter (收费窗口) as a cashier works a day, in a real browser: find the payer by name, take
// cash for one item and a POS slip for another, print the voucher, count the till at the end of
// the day with a shortfall explained, hand it to the chief cashier (出纳) who confirms it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startDemo, launchBrowser, viewports, loginOperator, screenshotDir } from "./harness.mjs";
import { checkPage } from "./inspect.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

const walks = {
  desktop: { cash: "住宿费", pos: "教材费", ref: "D", words: "桌面" },
  phone: { cash: "学费", pos: "英语四六级考试报名费", ref: "P", words: "手机" },
};

for (const size of ["desktop", "phone"]) {
  test(`a cashier takes cash and a POS slip, prints the voucher, closes the day; the chief cashier confirms (${size})`, { timeout: 300_000 }, async () => {
    const viewport = viewports[size];
    const walk = walks[size];
    const cashier = await loginOperator(browser, demo, viewport, "cashier", demo.finance.password);
    const page = cashier.page;
    await page.getByRole("heading", { name: "收费窗口" }).waitFor();
    // By number (the demo's student), then the payer's name from the page, then by that name.
    await page.getByLabel("找缴费人").fill(demo.student.user);
    await page.getByRole("button", { name: "查询" }).click();
    const heading = await page.locator("h2").first().innerText();
    const name = heading.split("（")[0];
    await page.getByLabel("找缴费人").fill(name);
    await page.getByRole("button", { name: "查询" }).click();
    const pick = page.locator("#found a", { hasText: demo.student.user });
    if (await pick.count()) await pick.click();
    await page.getByRole("heading", { name: new RegExp(demo.student.user) }).waitFor();
    await checkPage(page, `counter-${size}-payer`, cashier.missing);

    // Cash (the default method) for one item.
    await page.getByLabel(`选择 ${walk.cash}`).first().check();
    await page.getByRole("button", { name: "收款" }).click();
    await page.getByRole("heading", { name: "支付成功" }).waitFor();
    assert.match(await page.locator("main").innerText(), /现金/);
    await page.getByRole("link", { name: "打印缴费凭证" }).click();
    await page.getByText("人民币大写").first().waitFor().catch(() => {});
    const voucher = await page.locator("main").innerText();
    assert.match(voucher, /元整|角|分/, "the amount in capitals");
    assert.match(voucher, new RegExp(walk.cash));
    await checkPage(page, `counter-${size}-voucher`, cashier.missing);
    await page.emulateMedia({ media: "print" });
    await page.screenshot({ path: join(screenshotDir, `counter-${size}-voucher-print.png`), fullPage: true });
    await page.emulateMedia({ media: "screen" });
    await page.getByRole("link", { name: "下一位" }).click();

    // A POS slip for another: typing its reference chooses POS.
    await page.getByLabel("找缴费人").fill(demo.student.user);
    await page.getByRole("button", { name: "查询" }).click();
    await page.getByLabel(`选择 ${walk.pos}`).first().check();
    await page.getByLabel("POS 签购单参考号（刷卡时填写）").fill(`${walk.ref}${Date.now()}`.slice(0, 20));
    assert.ok(await page.getByLabel("POS 刷卡").isChecked());
    await page.getByRole("button", { name: "收款" }).click();
    await page.getByRole("heading", { name: "支付成功" }).waitFor();

    // The day close: a yuan short, explained; handed over.
    await page.goto(`${demo.base}/admin/counter/close`);
    await page.getByRole("heading", { name: /日结/ }).first().waitFor();
    const cashField = page.getByLabel("清点现金（元）");
    const expected = Number((await cashField.inputValue()).replace(/,/g, ""));
    assert.ok(expected > 0, "the system's cash is offered as the count");
    await cashField.fill((expected - 1).toFixed(2));
    await page.getByRole("button", { name: /交出纳确认|提交更正/ }).click();
    await page.getByRole("alert").filter({ hasText: "短款" }).waitFor();
    // What was typed is kept: only the reason is added.
    assert.equal(await cashField.inputValue(), (expected - 1).toFixed(2));
    await page.getByLabel("差额或更正原因（有差额时必填）").fill(`找零多给 1 元（${walk.words}）`);
    await page.getByRole("button", { name: /交出纳确认|提交更正/ }).click();
    await page.getByText("已交出纳确认。").waitFor();
    await checkPage(page, `counter-${size}-close`, cashier.missing);
    await cashier.context.close();

    // The chief cashier confirms it.
    const chief = await loginOperator(browser, demo, viewport, "chief", demo.finance.password);
    await chief.page.goto(`${demo.base}/admin/day-closes`);
    await chief.page.getByRole("heading", { name: "日结确认" }).waitFor();
    const waiting = await chief.page.locator("table.day-closes tr", { hasText: `找零多给 1 元（${walk.words}）` }).innerText();
    assert.match(waiting, /短款 ¥1\.00/, "the shortfall is recorded");
    await checkPage(chief.page, `day-closes-${size}`, chief.missing);
    await chief.page.locator("form.decide").first().getByRole("button", { name: "确认收妥" }).click();
    await chief.page.getByText("已处理。").waitFor();
    assert.match(await chief.page.locator("table.day-closes").innerText(), /已确认/);
    await chief.context.close();
  });
}
