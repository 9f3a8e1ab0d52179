// A fee standard from proposal to payment in a real browser: finance proposes next year's
// tuition standard (a table by college, uploaded as CSV) on the item's 收费标准 page; the
// approver puts it in force there; finance previews raising it for the enrolled students of one
// college (who, how much, who is left out), confirms; and a student of that college sees the
// new tuition on the portal.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemo, launchBrowser, viewports, loginOperator } from "./harness.mjs";
import { checkPage } from "./inspect.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

const operatorPage = (viewport, user, password) => loginOperator(browser, demo, viewport, user, password);

const years = { desktop: "2028-2029", phone: "2029-2030" };

for (const size of ["desktop", "phone"]) {
  test(`a tuition standard is approved, raised for a college and seen by a student (${size})`, { timeout: 300_000 }, async () => {
    const year = years[size];
    const viewport = viewports[size];

    // Finance proposes the standard: 计算机学院 ¥5,200; everyone else ¥4,800.
    const clerk = await operatorPage(viewport, demo.finance.user, demo.finance.password);
    let page = clerk.page;
    await page.goto(`${demo.base}/admin/fee-items`);
    await page.locator("tbody tr").filter({ has: page.locator("td[data-label='编码']", { hasText: /^XF$/ }) })
      .getByRole("link").click();
    await page.getByRole("link", { name: /收费标准/ }).click();
    await page.getByRole("heading", { name: /^收费标准/ }).waitFor();
    const standardsUrl = page.url();
    const dir = mkdtempSync(join(tmpdir(), "bursar-standard-"));
    const file = join(dir, "standard.csv");
    writeFileSync(file, "院系,专业,年级,缴费人类别,金额\n计算机学院,,,,5200\n,,,,4800.00\n");
    await page.getByLabel("学年").fill(year);
    await page.locator("#file").setInputFiles(file);
    await page.getByLabel(/说明/).fill("物价批文 2028-3");
    await page.getByRole("button", { name: "提交审核" }).click();
    await page.getByText("收费标准已提交，等待审核。").waitFor();
    assert.match(await page.locator("main").innerText(), /这是您本人提交的标准/);
    await checkPage(page, `standards-${size}-proposed`, clerk.missing);

    // The approver puts it in force.
    const approver = await operatorPage(viewport, demo.approver.user, demo.approver.password);
    await approver.page.goto(standardsUrl);
    await approver.page.getByLabel(/审核意见/).fill("同意");
    await approver.page.getByRole("button", { name: "审核通过" }).click();
    await approver.page.getByText("收费标准已审核通过").waitFor();
    assert.match(await approver.page.locator("main").innerText(), /现行/);
    await approver.context.close();

    // Finance previews raising it for the college's enrolled students, then confirms.
    await page.goto(`${demo.base}/admin/receivables`);
    await page.getByRole("link", { name: "按标准生成应收" }).click();
    await page.getByLabel("收费项目").selectOption({ label: "学费（XF）" });
    await page.getByLabel("学年").fill(year);
    await page.getByLabel("缴费人类别").selectOption({ label: "在校生" });
    await page.getByLabel("院系").selectOption({ label: "计算机学院" });
    await page.getByRole("button", { name: "预览" }).click();
    await page.getByRole("heading", { name: "预览（尚未生成）" }).waitFor();
    const plan = await page.locator("#plan").innerText();
    assert.match(plan, /¥5,200\.00/);
    assert.doesNotMatch(plan, /¥4,800\.00/, "only the college's line applies");
    await checkPage(page, `standards-${size}-preview`, clerk.missing);
    await page.getByRole("button", { name: /确认生成 \d+ 笔应收/ }).click();
    await page.getByText(/已为 \d+ 人生成/).waitFor();
    await checkPage(page, `standards-${size}-raised`, clerk.missing);
    await clerk.context.close();

    // A student of the college sees next year's tuition.
    const student = await browser.newContext({ viewport, locale: "zh-CN" });
    const sp = await student.newPage();
    await sp.goto(`${demo.base}/portal/login`);
    await sp.locator("#identifier").fill(demo.student.user);
    await sp.locator("#password").fill(demo.student.password);
    await sp.locator("form[action='/portal/login'] button[type=submit]").click();
    await sp.waitForURL(/\/portal\/fees/);
    await sp.goto(`${demo.base}/portal/fees?year=${year}`);
    const fees = await sp.locator("main").innerText();
    assert.match(fees, /学费/);
    assert.match(fees, /5,200\.00/);
    await student.close();
  });
}
