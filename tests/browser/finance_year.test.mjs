// The finance office's year in a real browser, end to end: a department applies for a fee item;
// the approver approves it with a channel; finance sets its standard (approved by the approver)
// and raises it for a college's students; finance asks, on a student's record, for a reduction
// and a green-channel deferral, which the approver grants on 减免缓缴; the student sees the
// original amount, the reduction and the deferral, and pays the rest by campus card.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, launchBrowser, viewports, loginOperator, postgresUrl } from "./harness.mjs";
import { checkPage } from "./inspect.mjs";

const CARD_PASSWORD = "246810";
let demo;
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const operatorPage = (viewport, user, password) => loginOperator(browser, demo, viewport, user, password);

/** The academic year now (it starts on 1 September), as the pages default to it. */
function thisYear() {
  const now = new Date(Date.now() + 8 * 3600_000);
  const start = now.getUTCMonth() >= 8 ? now.getUTCFullYear() : now.getUTCFullYear() - 1;
  return `${start}-${start + 1}`;
}

// Each size on SQLite; the desktop walk again on PostgreSQL when the suite has a server.
const runs = [["desktop", "sqlite"], ["phone", "sqlite"], ...(postgresUrl ? [["desktop", "postgres"]] : [])];
for (const [size, store] of runs) {
  test(`department → approval → standard → raise → reduction and deferral → the student pays (${size}, ${store})`, { timeout: 300_000 }, async () => {
    demo = await startDemo({ postgres: store === "postgres" });
    try { await walk(size, store); } finally { await demo.stop(); }
  });
}

async function walk(size, store) {
  {
    const viewport = viewports[size];
    const tag = store === "postgres" ? `${size}-pg` : size;
    const code = size === "desktop" ? "KWF-D" : "KWF-P";
    const name = size === "desktop" ? "考务费（桌面）" : "考务费（手机）";

    // A department applies.
    const dept = await operatorPage(viewport, demo.department.user, demo.department.password);
    await dept.page.goto(`${demo.base}/admin/fee-items`);
    await dept.page.getByLabel("项目编码").fill(code);
    await dept.page.getByLabel("项目名称").fill(name);
    await dept.page.getByLabel("所属部门").selectOption({ label: "后勤管理处" });
    await dept.page.getByLabel("收费类型").selectOption({ label: "服务性收费" });
    // For 计算机学院's enrolled students only, with a notice they read before paying.
    const whom = dept.page.locator("fieldset", { hasText: "收费对象" });
    await whom.getByLabel("在校生").check();
    await whom.getByLabel("计算机学院").check();
    await dept.page.getByLabel("缴费须知（缴费人付款前看到，可留空）").fill("考务费用于期末考试组织，缴费后不予退还。");
    await dept.page.getByLabel("申请说明").fill("依据校财〔2026〕12 号，每人 200 元");
    await dept.page.getByRole("button", { name: "提交申请" }).click();
    await dept.page.getByText("申请已提交，等待财务处审核。").waitFor();
    const itemUrl = dept.page.url().split("?")[0];
    assert.match(await dept.page.locator("dl.facts").innerText(), /收费对象\s*在校生；计算机学院[\s\S]*票据种类\s*增值税电子发票/);
    await dept.context.close();

    // The approver approves it, collecting into the campus card account.
    const approver = await operatorPage(viewport, demo.approver.user, demo.approver.password);
    await approver.page.goto(itemUrl);
    await approver.page.locator("#ch-campus_card").selectOption({ index: 1 });
    await approver.page.getByRole("button", { name: "审核通过" }).click();
    await approver.page.getByText("已审核通过。").waitFor();

    // Finance proposes one amount for the year; the approver puts it in force.
    const fin = await operatorPage(viewport, demo.finance.user, demo.finance.password);
    await fin.page.goto(`${itemUrl}/standards`);
    await fin.page.getByLabel("学年").fill(thisYear());
    await fin.page.getByLabel("统一金额（元）").fill("200");
    await fin.page.getByRole("button", { name: "提交审核" }).click();
    await fin.page.getByText("收费标准已提交，等待审核。").waitFor();
    await approver.page.goto(`${itemUrl}/standards`);
    await approver.page.getByRole("button", { name: "审核通过" }).click();
    await approver.page.getByText("收费标准已审核通过").waitFor();

    // Finance raises it for 计算机学院's enrolled students.
    await fin.page.goto(`${demo.base}/admin/receivables/raise`);
    await fin.page.getByLabel("收费项目").selectOption({ label: `${name}（${code}）` });
    await fin.page.getByLabel("缴费人类别").selectOption({ label: "在校生" });
    await fin.page.getByLabel("院系").selectOption({ label: "计算机学院" });
    await fin.page.getByRole("button", { name: "预览" }).click();
    await fin.page.getByRole("button", { name: /确认生成 \d+ 笔应收/ }).click();
    await fin.page.getByText(/已为 \d+ 人生成/).waitFor();

    // On the student's record: a ¥50 reduction and a green-channel deferral.
    await fin.page.goto(`${demo.base}/admin/payers?q=${demo.student.user}`);
    await fin.page.getByRole("link", { name: demo.student.user }).click();
    const row = () => fin.page.locator("tr", { hasText: name });
    await row().locator("summary").click();
    await row().getByLabel("减免金额（元，留空为全部）").fill("50");
    await row().getByLabel("原因", { exact: true }).fill("家庭经济困难认定");
    await row().getByRole("button", { name: "申请减免" }).click();
    await fin.page.getByText("减免申请已提交").waitFor();
    const until = new Date(Date.now() + 8 * 3600_000 + 60 * 86_400_000).toISOString().slice(0, 10);
    await row().locator("summary").click();
    await row().getByLabel("缓缴类型").selectOption({ label: "绿色通道" });
    await row().getByLabel("缓缴至").fill(until);
    await row().getByLabel("缓缴原因").fill("新生绿色通道");
    await row().getByRole("button", { name: "申请缓缴" }).click();
    await fin.page.getByText("缓缴申请已提交").waitFor();
    await checkPage(fin.page, `finance-year-${tag}-record`, fin.missing);
    await fin.context.close();

    // The approver grants both.
    await approver.page.goto(`${demo.base}/admin/waivers/review`);
    await approver.page.getByRole("button", { name: "批准", exact: true }).first().click();
    await approver.page.getByText("已处理。").waitFor();
    await approver.page.getByRole("button", { name: "批准缓缴" }).first().click();
    await approver.page.getByText("已处理。").waitFor();
    await checkPage(approver.page, `finance-year-${tag}-review`, approver.missing);
    await approver.context.close();

    // The student sees it all and pays the ¥150 left by campus card.
    const student = await browser.newContext({ viewport, locale: "zh-CN" });
    const sp = await student.newPage();
    await sp.goto(`${demo.base}/portal/login`);
    await sp.locator("#identifier").fill(demo.student.user);
    await sp.locator("#password").fill(demo.student.password);
    await sp.locator("form[action='/portal/login'] button[type=submit]").click();
    await sp.waitForURL(/\/portal\/fees/);
    const line = await sp.locator("tr", { hasText: name }).innerText();
    assert.match(line, /原应缴 ¥200\.00，已减免 ¥50\.00：家庭经济困难认定/);
    assert.match(line, new RegExp(`缓缴至 ${until}（绿色通道）`));
    await sp.goto(`${demo.base}/portal/pay`);
    const boxes = sp.locator("input[name=sel]:not([disabled])");
    for (let i = 0; i < (await boxes.count()); i++) await boxes.nth(i).uncheck();
    const item = sp.locator("li.item", { hasText: name });
    await item.locator("input[name=sel]").check();
    assert.match(await item.innerText(), /票据：增值税电子发票/);
    await item.locator("summary", { hasText: "缴费须知" }).click();
    await item.getByText("考务费用于期末考试组织，缴费后不予退还。").waitFor();
    await checkPage(sp, `finance-year-${tag}-pay`, []);
    await sp.locator("form[action='/portal/orders'] button[type=submit]").click();
    await sp.waitForURL(/\/portal\/orders\//);
    await sp.locator("input[name=method][value=campus_card]").check();
    await sp.locator("#card_password").fill(CARD_PASSWORD);
    await sp.locator("form[action$='/pay'] button[type=submit]").click();
    await sp.locator("a[href$='/voucher']").waitFor({ timeout: 15_000 });
    assert.match(await sp.locator("main").innerText(), /150\.00/);
    await student.close();
  }
}
