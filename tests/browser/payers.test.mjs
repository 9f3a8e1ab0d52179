// Finance imports the school's roster in a real browser: downloads the template (an xlsx with an
// example row), uploads it back as it is, uploads a CSV with a bad row (refused whole, the problem
// shown by row and column), then only its good rows; searches the new student and opens their
// record; and the student logs in with the initial password and must prove the ID number.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemo, launchBrowser, viewports } from "./harness.mjs";
import { checkPage, watchMissing } from "./inspect.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

function residentId(prefix17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...prefix17].reduce((s, c, i) => s + Number(c) * w[i], 0);
  return prefix17 + "10X98765432"[sum % 11];
}

for (const size of ["desktop", "phone"]) {
  test(`finance imports a roster and finds the new student (${size})`, async () => {
    const context = await browser.newContext({ viewport: viewports[size], locale: "zh-CN", acceptDownloads: true });
    const page = await context.newPage();
    const missing = watchMissing(page);
    await page.goto(`${demo.base}/admin/login`);
    await page.locator("#username").fill(demo.finance.user);
    await page.locator("#password").fill(demo.finance.password);
    await page.locator("form[action='/admin/login'] button[type=submit]").click();
    await page.waitForURL((u) => !u.pathname.endsWith("/login"));
    await page.goto(`${demo.base}/admin/payers`);
    await page.getByRole("heading", { name: "缴费人", exact: true }).waitFor();
    const dir = mkdtempSync(join(tmpdir(), "bursar-roster-"));

    // The template, uploaded back as it is: its example row is a good one.
    if (size === "desktop") {
      const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "下载模板" }).click()]);
      const template = join(dir, "template.xlsx");
      await download.saveAs(template);
      await page.locator("#file").setInputFiles(template);
      await page.getByRole("button", { name: "导入", exact: true }).click();
      await page.locator("#import-result").waitFor();
      assert.match(await page.locator("#import-result").innerText(), /新增 1 人/);
    }

    // A CSV with one good and one bad row: refused whole, the problem by row and column.
    const n = size === "desktop" ? "1" : "2";
    const id = residentId(`3703032008050${n}567`);
    const csv = `学号,姓名,证件号码,性别,院系,班级\n00202677${n}1,何浏览${n},${id},女,计算机学院,软件2677\n00202677${n}2,坏行,123,男,计算机学院,软件2677\n`;
    const file = join(dir, "roster.csv");
    writeFileSync(file, csv);
    await page.locator("#file").setInputFiles(file);
    await page.getByRole("button", { name: "导入", exact: true }).click();
    await page.locator("#import-result").waitFor();
    const refused = await page.locator("#import-result").innerText();
    assert.match(refused, /整个文件未导入/);
    assert.match(refused, /证件号码/);
    await checkPage(page, `payers-${size}-refused`, missing);
    await page.locator("#file").setInputFiles(file);
    await page.getByLabel(/只导入正确的行/).check();
    await page.getByRole("button", { name: "导入", exact: true }).click();
    await page.locator("#import-result").waitFor();
    assert.match(await page.locator("#import-result").innerText(), /新增 1 人/);

    // Found by name; their record.
    await page.getByLabel(/学号\/工号、姓名/).fill(`何浏览${n}`);
    await page.getByRole("button", { name: "查询" }).click();
    await page.getByRole("link", { name: `00202677${n}1` }).click();
    await page.getByRole("heading", { name: `何浏览${n}` }).waitFor();
    assert.ok(!(await page.locator("main").innerText()).includes(id), "the ID number is masked");
    await checkPage(page, `payers-${size}-record`, missing);
    await context.close();

    // The student logs in with the initial password (last six of the ID number) and must prove it.
    const student = await browser.newContext({ viewport: viewports[size], locale: "zh-CN" });
    const sp = await student.newPage();
    await sp.goto(`${demo.base}/portal/login`);
    await sp.locator("#identifier").fill(`00202677${n}1`);
    await sp.locator("#password").fill(id.slice(-6));
    await sp.getByRole("button", { name: "登录", exact: true }).click();
    await sp.getByLabel("证件号码（核实身份）").waitFor();
    await sp.getByLabel("当前密码", { exact: true }).fill(id.slice(-6));
    await sp.getByLabel("证件号码（核实身份）").fill(id);
    await sp.getByLabel(/^新密码/).fill("Browser2026");
    await sp.getByLabel("确认新密码").fill("Browser2026");
    await sp.getByRole("button", { name: "修改密码" }).click();
    await sp.getByText("密码已修改。").waitFor();
    await student.close();
  });
}
