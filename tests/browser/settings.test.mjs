// 系统设置 › 标志与印章 and the printed voucher, in a real browser: the system administrator
// uploads the receiving unit's seal and the school's logo and chooses the counter's 80 mm
// thermal roll as the vouchers' paper; a cashier's voucher then carries the seal and prints on
// an 80 mm page, and on A5 when chosen (the PDF's page size is checked, not only looked at).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startDemo, launchBrowser, viewports, loginOperator, screenshotDir } from "./harness.mjs";
import { checkPage } from "./inspect.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

// A seal drawn as a school would scan it: a red ring, a star and the unit's name (PNG, transparent).
async function drawSeal(context) {
  const p = await context.newPage();
  await p.setContent(`<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 240 240">
    <circle cx="120" cy="120" r="110" fill="none" stroke="#d40000" stroke-width="8"/>
    <polygon points="120,80 131,112 165,112 138,132 148,165 120,145 92,165 102,132 75,112 109,112" fill="#d40000"/>
    <text x="120" y="200" font-size="22" text-anchor="middle" fill="#d40000" font-family="Noto Sans CJK SC">财务专用章</text></svg>`);
  const png = await p.locator("svg").screenshot({ omitBackground: true });
  await p.close();
  return png;
}

// The first page's size of a PDF, in points (from its MediaBox).
function pageSize(pdf) {
  const m = pdf.toString("latin1").match(/\/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]/);
  assert.ok(m, "a page size in the PDF");
  return [Number(m[3]) - Number(m[1]), Number(m[4]) - Number(m[2])];
}
const mm = (pt) => Math.round((pt / 72) * 25.4);

test("the administrator sets the seal, the logo and the paper; the voucher prints on it", { timeout: 300_000 }, async () => {
  const admin = await loginOperator(browser, demo, viewports.desktop, "sysadmin", demo.finance.password);
  const page = admin.page;
  const seal = await drawSeal(admin.context);
  await page.goto(`${demo.base}/admin/settings`);
  await page.locator("#image-seal input[type=file]").setInputFiles({ name: "seal.png", mimeType: "image/png", buffer: seal });
  await page.getByRole("button", { name: "上传收款单位印章" }).click();
  await page.getByText("已保存。").waitFor();
  await page.locator("#image-logo input[type=file]").setInputFiles({ name: "logo.png", mimeType: "image/png", buffer: seal });
  await page.getByRole("button", { name: "上传学校标志" }).click();
  await page.getByText("已保存。").waitFor();
  await page.locator("header .brand img.logo").waitFor();
  // Not an image: refused in words.
  await page.locator("#image-seal input[type=file]").setInputFiles({ name: "seal.txt", mimeType: "text/plain", buffer: Buffer.from("印章") });
  await page.getByRole("button", { name: "上传收款单位印章" }).click();
  await page.getByRole("alert").filter({ hasText: "须为 PNG 或 JPEG 图片" }).waitFor();
  await page.goto(`${demo.base}/admin/settings`);
  await page.getByLabel("80 毫米热敏纸").check();
  await page.getByRole("button", { name: "保存", exact: true }).click();
  await page.getByText("已保存。").waitFor();
  assert.ok(await page.getByLabel("80 毫米热敏纸").isChecked());
  await checkPage(page, "settings-images-desktop", admin.missing);
  await admin.context.close();

  for (const size of ["desktop", "phone"]) {
    const cashier = await loginOperator(browser, demo, viewports[size], "cashier", demo.finance.password);
    const cp = cashier.page;
    await cp.getByLabel("找缴费人").fill(demo.student.user);
    await cp.getByRole("button", { name: "查询" }).click();
    await cp.getByLabel(size === "desktop" ? "选择 住宿费" : "选择 教材费").first().check();
    await cp.getByRole("button", { name: "收款" }).click();
    await cp.getByRole("heading", { name: "支付成功" }).waitFor();
    await cp.getByRole("link", { name: "打印缴费凭证" }).click();
    await cp.locator(".voucher img.seal").waitFor();
    assert.ok(await cp.locator(".voucher img.seal").evaluate((img) => img.complete && img.naturalWidth > 0), "the seal loads");
    await checkPage(cp, `voucher-seal-${size}`, cashier.missing);
    if (size === "desktop") {
      // The school's paper: an 80 mm roll.
      await cp.emulateMedia({ media: "print" });
      await cp.screenshot({ path: join(screenshotDir, "voucher-thermal80-print.png"), fullPage: true });
      const [w] = pageSize(await cp.pdf({ preferCSSPageSize: true, printBackground: true }));
      assert.equal(mm(w), 80, "printed 80 mm wide");
      // A5 when chosen for this print.
      await cp.emulateMedia({ media: "screen" });
      await cp.getByRole("link", { name: "A5 纸（半张 A4）" }).click();
      await cp.getByText("A5 纸（半张 A4）").waitFor();
      await cp.emulateMedia({ media: "print" });
      await cp.screenshot({ path: join(screenshotDir, "voucher-a5-print.png"), fullPage: true });
      const [aw, ah] = pageSize(await cp.pdf({ preferCSSPageSize: true, printBackground: true }));
      assert.deepEqual([mm(aw), mm(ah)], [148, 210], "printed on A5");
    }
    await cashier.context.close();
  }
});
