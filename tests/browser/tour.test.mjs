// Every page of the portal, the hosted cashier and the finance view, at a phone and a desktop
// size, the payer-facing ones in Chinese and in English, through the page checks (inspect.mjs):
// accessibility, layout, words, no 404. Screenshots land in screenshots/tour-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startDemo, launchBrowser, viewports, guardRequests, api, whenShown, runClock, installClock, bounded, reloadUntilShown } from "./harness.mjs";
import { pageProblems, watchMissing } from "./inspect.mjs";

const CARD_PASSWORD = "246810";
const locales = { zh: "zh-CN", en: "en-US" };
const IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

let demo;
let browser;
before(async () => { demo = await startDemo(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await demo?.stop(); });

/** A browser context and a `visit`/`check` pair that collect every page's problems. */
async function touring(prefix, viewport, locale) {
  const context = await browser.newContext({ viewport, locale, ...(viewport.isMobile ? { userAgent: IPHONE } : {}) });
  const page = await context.newPage();
  const outside = guardRequests(page, [demo.base, demo.simBase]);
  const missing = watchMissing(page);
  const problems = [];
  const check = async (shot) => { problems.push(...(await pageProblems(page, `${prefix}-${shot}`, missing))); };
  const visit = async (path, shot) => {
    const r = await page.goto(path.startsWith("http") ? path : `${demo.base}${path}`);
    assert.ok(r.ok(), `${path} answered ${r.status()}`);
    await check(shot);
  };
  const finish = async () => {
    assert.deepEqual(outside, [], "no request leaves the machine");
    await context.close();
    assert.deepEqual(problems, [], `${prefix}: every page passes the checks`);
  };
  return { context, page, check, visit, finish };
}

// One page that never answers fails its own walk, not the file (node's timeout is per test).
const WALK = { timeout: 300_000 };

for (const [size, viewport] of Object.entries(viewports)) {
  for (const [lang, locale] of Object.entries(locales)) {
    test(`every payer page (${size}, ${lang})`, WALK, async () => {
      const { page, check, visit, finish } = await touring(`tour-${size}-${lang}-portal`, viewport, locale);
      // Before logging in.
      await visit("/portal/login", "01-login");
      await visit("/portal/forgot", "02-forgot");
      await visit("/portal/register", "03-register");
      await visit("/portal/projects", "04-projects");
      const project = await page.locator("ul.projects a").first().getAttribute("href");
      await visit(project, "05-project");

      // A student: fees, choosing, confirming, paying by campus card, the voucher.
      await page.goto(`${demo.base}/portal/login`);
      await page.locator("#identifier").fill(demo.student.user);
      await page.locator("#password").fill(demo.student.password);
      await page.locator("form[action='/portal/login'] button[type=submit]").click();
      await page.waitForURL(/\/portal\/fees/);
      await check("06-fees");
      if (lang === "zh") {
        // The dorm fee is of its own type (not counted as tuition); the site has an icon.
        const dorm = page.locator("tr", { hasText: "住宿费" }).first().locator("td[data-label='收费类型']");
        assert.equal((await dorm.innerText()).trim(), "住宿费");
        assert.notEqual((await fetch(`${demo.base}/favicon.ico`)).status, 404);
      }
      await visit("/portal/pay", "07-pay");
      if (lang === "zh") {
        // Pays one item by campus card (a different one at each size), after giving up a WeChat
        // payment of it half-way; the English walk looks at the same payment.
        const boxes = page.locator("input[name=sel]:not([disabled])");
        for (let i = 0; i < (await boxes.count()); i++) await boxes.nth(i).uncheck();
        const item = size === "phone" ? "教材费" : "英语四六级考试报名费";
        await page.locator("li.item", { hasText: item }).first().locator("input[name=sel]").check();
        await page.locator("form[action='/portal/orders'] button[type=submit]").click();
        await page.waitForURL(/\/portal\/orders\//);
        await check("08-order");
        // Payers read plain channel names, not the integration's.
        assert.doesNotMatch(await page.locator("fieldset").innerText(), /H5|Native|手机网站|JSAPI/);
        const order = page.url();
        await page.locator("input[name=method][value^=wechat]").first().check();
        await page.locator("form[action$='/pay'] button[type=submit]").click();
        await page.waitForURL(/\/portal\/payments\//);
        await check("09-waiting");
        await page.locator("form[action$='/close'] button[type=submit]").click();
        await page.goto(order);
        await page.locator("input[name=method][value=campus_card]").check();
        await page.locator("#card_password").fill(CARD_PASSWORD);
        await page.locator("form[action$='/pay'] button[type=submit]").click();
        await page.waitForURL(/\/portal\/payments\//);
      } else {
        await page.goto(`${demo.base}/portal/records`);
        await page.locator("main a[href^='/portal/payments/']").first().click();
      }
      await page.locator("a[href$='/voucher']").waitFor({ timeout: 15_000 });
      await check("10-paid");
      await page.locator("a[href$='/voucher']").click();
      await check("11-voucher");
      const verify = await page.locator("a[href*='/receipts/verify/']").getAttribute("href");
      await visit("/portal/records", "12-records");
      await visit("/portal/paid", "13-paid");
      await visit("/portal/registrations", "14-registrations");
      await visit("/portal/account", "15-account");
      if (lang === "zh") {
        // A demo student belongs to a college, not to an office.
        const info = await page.locator("main").innerText();
        assert.match(info, /院系\s*\S*学院/);
      }
      await visit("/portal/account/password", "16-password");
      await visit(verify, "17-verify");
      await finish();
    });

    test(`the hosted cashier (${size}, ${lang})`, WALK, async () => {
      const creds = JSON.parse(readFileSync(join(demo.dataDir, "sandbox", "api", "demo_app.json"), "utf8"));
      const created = await api(creds, "POST", "/api/v1/orders", {
        out_order_no: `T-${size}-${lang}-${Date.now()}`,
        // A payer of its own per walk: the same person's second training in the same year would
        // be refused as already billed.
        payer: { name: "李外来", phone: `139001390${["phone", "desktop"].indexOf(size)}${["zh", "en"].indexOf(lang)}` },
        items: [{ fee_item_code: "PXF", academic_year: "2026-2027", amount_fen: 45000 }],
        description: "职业技能培训（夜班）",
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const { page, check, visit, finish } = await touring(`tour-${size}-${lang}-cashier`, viewport, locale);
      await visit(created.body.cashier_url, "01-cashier");
      // The paid page goes back to the business system after 3 s. The page's clock is frozen
      // before paying, so the checks look at a page that stays put (an evaluation that a
      // navigation overtakes never ends); then the clock runs and the page must go back.
      if (viewport.isMobile) {
        await page.locator("input[name=method][value^=alipay]").first().check();
        await page.locator("main form button[type=submit]").first().click();
        await page.locator("button", { hasText: /确认付款/ }).waitFor({ timeout: 15_000 });
        await installClock(page);
        await page.locator("button", { hasText: /确认付款/ }).click();
      } else {
        // The clock goes in on the cashier page, where nothing polls: on the payment page the
        // page's own polling may reload it while the clock is being installed (seen in CI).
        await page.locator("input[name=method][value^=wechat]").first().check();
        await installClock(page);
        await page.locator("main form button[type=submit]").first().click();
        await page.locator("#sim-phone").waitFor();
        await check("02-qr");
        // The payer's phone is another device: a context of its own, without the page's fake clock.
        const phoneContext = await browser.newContext();
        const phone = await bounded(phoneContext.newPage(), "opening the simulator's phone page");
        await phone.goto(await page.locator("#sim-phone").getAttribute("href"));
        // Wait for the simulator to answer the confirmation before closing its page: closing it
        // while the form is being sent cancelled the payment (seen in CI).
        await Promise.all([
          phone.waitForResponse((r) => r.request().method() === "POST", { timeout: 15_000 }),
          phone.locator("button", { hasText: /确认支付/ }).click(),
        ]);
        await bounded(phoneContext.close(), "closing the simulator's phone page").catch(() => {});
        await reloadUntilShown(page, page.locator("#return-link"));
      }
      await whenShown(page, page.locator("#return-link"));
      await check("03-paid");
      const voucher = await page.locator("#voucher-link").getAttribute("href");
      await runClock(page, 3_500);
      await page.waitForURL((u) => u.pathname.startsWith("/portal"), { timeout: 15_000 });
      // The payer without a portal account keeps a voucher: the amount in capitals, printable.
      await visit(voucher, "04-voucher");
      assert.match(await page.locator("main").innerText(), /(人民币|RMB )肆佰伍拾元整/);
      await finish();
    });
  }

  test(`every finance page (${size})`, WALK, async () => {
    const people = [
      ["finance", demo.finance.user, demo.finance.password],
      ["approver", demo.approver.user, demo.finance.password],
      ["department", demo.department.user, demo.department.password],
      ["auditor", "auditor", demo.finance.password],
      ["leader", "leader", demo.finance.password],
    ];
    const all = [];
    for (const [who, user, password] of people) {
      const { page, check, visit, finish } = await touring(`tour-${size}-admin-${who}`, viewport, "zh-CN");
      if (who === "finance") await visit("/admin/login", "00-login");
      else await page.goto(`${demo.base}/admin/login`);
      await page.locator("#username").fill(user);
      await page.locator("#password").fill(password);
      await page.locator("form[action='/admin/login'] button[type=submit]").click();
      await page.waitForURL((u) => !u.pathname.endsWith("/login"));
      await check("01-home");
      // Channel events name their channel (支付宝, 银联…), never "其他渠道".
      assert.ok(!(await page.locator("main").innerText()).includes("其他渠道"));
      const sections = await page.locator("nav.tabs a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
      let n = 2;
      for (const href of sections) {
        const name = href.replace(/^\/admin\/?/, "").replaceAll("/", "-") || "home";
        await visit(href, `${String(n++).padStart(2, "0")}-${name}`);
        // The first detail page each list links to.
        const links = page.locator(`main a[href^='${href}/']:not([href$='.xlsx'])`);
        const detail = (await links.count()) > 0 ? await links.first().getAttribute("href") : null;
        if (detail && href !== "/admin") await visit(detail, `${String(n++).padStart(2, "0")}-${name}-detail`);
      }
      if (who === "finance") {
        await visit("/admin/refunds/new", `${String(n++).padStart(2, "0")}-refund-new`);
      }
      try { await finish(); } catch (e) { all.push(e.message); }
    }
    assert.deepEqual(all, [], "every finance page passes the checks");
  });
}
