// 批量减免缓缴 in a real browser: finance asks for reductions from a spreadsheet (a bad file is
// refused with its rows named, nothing asked for); the approver reads the batch, approves it whole
// on 减免缓缴; the student sees the reduction and its reason.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, launchBrowser, viewports, loginOperator } from "./harness.mjs";
import { checkPage } from "./inspect.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

const operatorPage = (viewport, user, password) => loginOperator(browser, demo, viewport, user, password);
const csv = (rows) => ({
  name: "减免名单.csv",
  mimeType: "text/csv",
  buffer: Buffer.from(["学号,项目编码,学年,类型,减免金额,缓缴至,原因", ...rows].join("\n") + "\n"),
});

for (const size of ["desktop", "phone"]) {
  test(`a reduction list is checked, approved as one batch, and seen by the student (${size})`, { timeout: 300_000 }, async () => {
    const viewport = viewports[size];
    const reason = `批量减免（${size === "desktop" ? "桌面" : "手机"}）`;
    const fin = await operatorPage(viewport, demo.finance.user, demo.finance.password);
    await fin.page.goto(`${demo.base}/admin/relief`);
    // The template's own headers are what the import reads: its example rows are checked (and
    // refused: those students are not in the demo school).
    const template = await fin.page.request.get(`${demo.base}/admin/relief-template.xlsx`);
    assert.equal(template.status(), 200);
    await fin.page.locator("#file").setInputFiles({
      name: "模板.xlsx",
      mimeType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
      buffer: await template.body(),
    });
    await fin.page.getByRole("button", { name: "提交申请" }).click();
    await fin.page.getByText("整个文件未导入").waitFor();
    const refusedTemplate = await fin.page.locator("#import-result").innerText();
    assert.match(refusedTemplate, /2026010001[\s\S]*缴费人不存在/);
    assert.doesNotMatch(refusedTemplate, /缺少列/);
    // A bad row: the whole file is refused and the row named.
    await fin.page.locator("#file").setInputFiles(csv([
      `${demo.student.user},ZSF,2026-2027,减免,10,,${reason}`,
      `${demo.student.user},ZSF,2026-2027,打折,,,类型不对`,
    ]));
    await fin.page.getByRole("button", { name: "提交申请" }).click();
    await fin.page.getByText("整个文件未导入").waitFor();
    assert.match(await fin.page.locator("#import-result").innerText(), /类型应为/);
    await checkPage(fin.page, `relief-${size}-refused`, fin.missing);
    // The good file.
    await fin.page.locator("#file").setInputFiles(csv([`${demo.student.user},ZSF,2026-2027,减免,10,,${reason}`]));
    await fin.page.getByRole("button", { name: "提交申请" }).click();
    await fin.page.getByText(/申请减免 1 笔（合计 ¥10\.00）、缓缴 0 笔，已提交审批/).waitFor();
    await fin.context.close();

    // The approver reads the batch and approves it whole.
    const approver = await operatorPage(viewport, demo.approver.user, demo.approver.password);
    await approver.page.goto(`${demo.base}/admin/waivers/review`);
    const waiting = approver.page.locator("#batch-list tr", { hasText: "待审批" }).first();
    await waiting.getByRole("link").click();
    await approver.page.getByRole("heading", { name: "批量申请明细" }).waitFor();
    const detail = await approver.page.locator("main").innerText();
    assert.match(detail, new RegExp(demo.student.user));
    assert.match(detail, new RegExp(reason.replace(/[()（）]/g, ".")));
    assert.doesNotMatch(detail, /[0-9a-f]{8}-[0-9a-f]{4}-/, "no internal ids on screen");
    await checkPage(approver.page, `relief-${size}-batch`, approver.missing);
    await approver.page.goto(`${demo.base}/admin/waivers/review`);
    await approver.page.locator("#batch-list tr", { hasText: "待审批" }).first()
      .getByRole("button", { name: "整批批准" }).click();
    await approver.page.getByText("已处理。").waitFor();
    await checkPage(approver.page, `relief-${size}-review`, approver.missing);
    await approver.context.close();

    // The student sees the reduction with its reason.
    const student = await browser.newContext({ viewport, locale: "zh-CN" });
    const sp = await student.newPage();
    await sp.goto(`${demo.base}/portal/login`);
    await sp.locator("#identifier").fill(demo.student.user);
    await sp.locator("#password").fill(demo.student.password);
    await sp.locator("form[action='/portal/login'] button[type=submit]").click();
    await sp.waitForURL(/\/portal\/fees/);
    assert.match(await sp.locator("main").innerText(), new RegExp(reason.replace(/[()（）]/g, ".")));
    await student.close();
  });
}
