// 动态口令 in a real browser: the system administrator requires it for the roles that approve
// money; an approver (desktop) and the chief cashier (phone) are sent to set it up, scan (here:
// read) the secret, confirm with a code, and next time log in with password and code.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { startDemo, launchBrowser, viewports, loginOperator } from "./harness.mjs";
import { checkPage } from "./inspect.mjs";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

function base32Decode(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0;
  const out = [];
  for (const ch of s.replace(/\s+/g, "")) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) { bits -= 8; out.push((value >>> bits) & 0xff); }
  }
  return Buffer.from(out);
}

// RFC 6238 with HMAC-SHA1 and 30-second steps, as authenticator apps compute it.
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac("sha1", secret).update(counter).digest();
  const o = h[h.length - 1] & 15;
  const bin = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(bin % 1_000_000).padStart(6, "0");
}
const stepNow = () => Math.floor(Date.now() / 30_000);

test("the system administrator requires a second factor for money roles", { timeout: 120_000 }, async () => {
  const admin = await loginOperator(browser, demo, viewports.desktop, "sysadmin", demo.finance.password);
  const page = admin.page;
  await page.goto(`${demo.base}/admin/settings`);
  await page.locator("#second-factor-relaxed").waitFor();
  await page.getByLabel("须输入动态口令（建议）").check();
  await page.getByRole("button", { name: "保存" }).click();
  await page.getByText("已保存。").waitFor();
  assert.equal(await page.locator("#second-factor-relaxed").count(), 0);
  await checkPage(page, "settings-second-factor-desktop", admin.missing);
  await admin.context.close();
});

for (const [size, user] of [["desktop", "approver"], ["phone", "chief"]]) {
  test(`a money role sets up and uses the second factor (${size})`, { timeout: 300_000 }, async () => {
    const viewport = viewports[size];
    const first = await loginOperator(browser, demo, viewport, user, demo.finance.password);
    const page = first.page;
    await page.waitForURL(/\/admin\/account\/second-factor$/);
    await page.getByText("须先开启动态口令").waitFor();
    await page.getByLabel("当前密码").fill(demo.finance.password);
    await page.getByRole("button", { name: "开始设置" }).click();
    const shown = (await page.locator("#second-factor-secret").innerText()).trim();
    const secret = base32Decode(shown);
    assert.equal(secret.length, 20);
    assert.equal(await page.locator(".qr svg").count(), 1, "a QR code to scan");
    await checkPage(page, `second-factor-setup-${size}`, first.missing);
    const used = stepNow();
    await page.getByLabel("动态口令", { exact: true }).fill(totp(secret, used));
    await page.getByRole("button", { name: "确认开启" }).click();
    await page.waitForURL((u) => !u.pathname.startsWith("/admin/account"));
    await first.context.close();

    // Next time: password, then the code (the next one: each code is good once).
    const context = await browser.newContext({ viewport, locale: "zh-CN" });
    const p = await context.newPage();
    await p.goto(`${demo.base}/admin/login`);
    await p.locator("#username").fill(user);
    await p.locator("#password").fill(demo.finance.password);
    await p.locator("form[action='/admin/login'] button[type=submit]").click();
    await p.getByRole("heading", { name: "输入动态口令" }).waitFor();
    await checkPage(p, `login-code-${size}`, []);
    await p.getByLabel("动态口令", { exact: true }).fill(totp(secret, used));
    await p.getByRole("button", { name: "登录" }).click();
    await p.getByText("已用过").waitFor();
    await p.getByLabel("动态口令", { exact: true }).fill(totp(secret, Math.max(stepNow(), used) + 1));
    await p.getByRole("button", { name: "登录" }).click();
    await p.waitForURL((u) => !u.pathname.startsWith("/admin/login"));
    await p.goto(`${demo.base}/admin/account/second-factor`);
    await p.locator("#second-factor-on").waitFor();
    assert.match(await p.locator("main").innerText(), /不能关闭/);
    await context.close();
  });
}
