// 收费监控 and 统计报表 in a real browser, as a school leader (read-only) uses them: the headline
// figures and the 30-day trend; a day's column drills down to that day's payments; the reports
// take filters; the Excel file downloads and holds the same totals as the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, launchBrowser, viewports, loginOperator } from "./harness.mjs";
import { checkPage } from "./inspect.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

const yuan = (text) => Number(text.replace(/[¥,\s]/g, ""));

for (const size of ["desktop", "phone"]) {
  test(`a leader reads the dashboard, drills into a day, filters a report and exports it (${size})`, { timeout: 300_000 }, async () => {
    const viewport = viewports[size];
    const leader = await loginOperator(browser, demo, viewport, "leader", demo.finance.password);
    const page = leader.page;
    await page.getByRole("heading", { name: "收费监控" }).waitFor();
    // The demo school's fortnight of cash-desk collections: a column (a link) for each day.
    const bars = page.locator("#trend-chart a");
    assert.ok(await bars.count() >= 10, "each day with collections is a link");
    await checkPage(page, `dashboard-${size}`, leader.missing);
    // The trend's data table says what the chart draws; a day's link opens that day's detail.
    await page.locator("summary", { hasText: "查看数据表" }).first().click();
    const dayRow = page.locator("#trend-table tbody tr").filter({ hasNot: page.locator("td:nth-child(2)", { hasText: /^0$/ }) }).first();
    const dayAmount = yuan(await dayRow.locator("td").nth(2).innerText());
    const dayCount = Number(await dayRow.locator("td").nth(1).innerText());
    assert.ok(dayAmount > 0 && dayCount > 0);
    await dayRow.getByRole("link").click();
    await page.getByRole("heading", { name: "收费明细" }).waitFor();
    const rows = page.locator("#report-table tbody tr");
    assert.equal(await rows.count(), dayCount, "the detail lists that day's payments");
    assert.equal(yuan(await page.locator("#report-table tfoot td").nth(9).innerText()), dayAmount, "and adds up to the day's figure");
    await checkPage(page, `report-detail-${size}`, leader.missing);

    // 班级缴费情况 filtered to one college; its Excel file holds the same totals.
    await page.goto(`${demo.base}/admin/reports`);
    await page.getByRole("link", { name: "班级缴费情况" }).click();
    await page.getByRole("heading", { name: "班级缴费情况" }).waitFor();
    await page.locator("#college").selectOption({ label: "计算机学院" });
    await page.getByRole("button", { name: "查询" }).click();
    await page.locator("#report-filters-words", { hasText: "计算机学院" }).waitFor();
    const classes = await page.locator("#report-table tbody tr").allInnerTexts();
    assert.ok(classes.length > 0 && classes.every((r) => r.includes("计算机学院")), "only that college's classes");
    await checkPage(page, `report-classes-${size}`, leader.missing);
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#report-export").click()]);
    assert.match(download.suggestedFilename(), /^report-classes-\d{4}-\d{2}-\d{2}\.xlsx$/);
    const bytes = await (await import("node:fs/promises")).readFile(await download.path());
    assert.equal(bytes.subarray(0, 2).toString(), "PK", "an xlsx (zip) file");
    // (Its contents are read back and checked against the ledger by the Rust tests.)

    // A bad period is refused with the reason; nothing else breaks.
    await page.goto(`${demo.base}/admin/reports/daily?from=2026-12-31&to=2026-01-01`);
    await page.getByText("开始日期不能晚于结束日期").waitFor();
    await leader.context.close();
  });
}
