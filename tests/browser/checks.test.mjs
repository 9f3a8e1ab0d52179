// The page checks every other browser test relies on (inspect.mjs) fail on what they should:
// each deliberately broken page is reported by its check, and a sound page passes them all.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { launchBrowser, viewports } from "./harness.mjs";
import { layoutFindings, watchMissing, checkPage } from "./inspect.mjs";

const shell = (lang, body) => `<!doctype html><html lang="${lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>检查</title>
<style>body{font:16px sans-serif;margin:0;padding:8px} table{border-collapse:collapse}</style></head>
<body><main><h1>检查</h1>${body}</main></body></html>`;

const pages = {
  "/sound": shell("zh-CN", `<p>应缴金额 <span class="money">¥1,200.00</span>，状态 <span class="badge">支付成功</span>。</p>
    <table><thead><tr><th>缴费项目</th><th>状态</th></tr></thead><tbody><tr><td>学费</td><td>支付成功</td></tr></tbody></table>
    <p>登录名 <span translate="no">admin_user</span>，邮箱 a@b.cn，接口 <code>fee_item_code</code>。</p>`),
  "/overflow": shell("zh-CN", `<div style="width:120px">一二三</div><div style="width:120px">商户订单号PAY20261201000000000000000000000001</div>`),
  "/wide": shell("zh-CN", `<div style="width:3000px;height:10px"></div><p>很宽</p>`),
  "/split-cell": shell("zh-CN", `<table><tbody><tr><td style="width:1em;max-width:1em">支付成功</td><td>2026-12-11 08:00</td></tr></tbody></table>`),
  "/split-date": shell("zh-CN", `<table><tbody><tr><td style="width:4em;max-width:4em;word-break:break-all">2026-12-11</td></tr></tbody></table>`),
  "/cards": shell("zh-CN", `<div style="overflow-x:auto;width:200px"><table style="display:block"><tbody style="display:block"><tr style="display:block">
    <td data-label="商户订单号" style="display:block">PAY20261201000000000000000000000001</td></tr></tbody></table></div>
    <table><tbody><tr><td data-label="状态">支付成功</td></tr></tbody></table><style>td[data-label]::before{content:attr(data-label)}</style>`),
  "/wide-table": shell("zh-CN", `<div style="overflow-x:auto;width:400px"><table><tbody><tr><td style="white-space:nowrap">收费项目 英语四六级考试报名费 计算机等级考试报名费 职业技能培训费</td></tr></tbody></table></div>
    <div style="overflow-x:auto;width:400px"><table data-wide><tbody><tr><td style="white-space:nowrap">收费明细 英语四六级考试报名费 计算机等级考试报名费 职业技能培训费</td></tr></tbody></table></div>`),
  "/identifier": shell("zh-CN", `<p>原因：credited</p>`),
  "/choice": shell("zh-CN", `<label for="s">状态</label><select id="s"><option>全部</option><option>succeeded</option></select>`),
  "/english": shell("en", `<p>Reason: the payment was credited</p>`),
  "/missing": shell("zh-CN", `<p>图片</p><img src="/nope.png" alt="图片">`),
};

let server;
let base;
let browser;
before(async () => {
  server = http.createServer((req, res) => {
    const body = pages[req.url];
    if (!body) { res.writeHead(404, { "Content-Type": "text/plain" }); res.end("not found"); return; }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await new Promise((r) => server?.close(r)); });

async function findings(path, viewport = viewports.desktop) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const missing = watchMissing(page);
  await page.goto(`${base}${path}`);
  await page.waitForLoadState("load");
  const found = await layoutFindings(page);
  await context.close();
  return { found, missing };
}

test("a sound page passes every check, at both sizes", async () => {
  for (const viewport of Object.values(viewports)) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const missing = watchMissing(page);
    await page.goto(`${base}/sound`);
    await checkPage(page, "selftest-sound", missing);
    await context.close();
  }
});

test("text overflowing its box is reported", async () => {
  const { found } = await findings("/overflow");
  assert.equal(found.length, 1, found.join("\n"));
  assert.match(found[0], /overflows its box .*商户订单号/);
});

test("a table shown as cards must fit even inside a scrolling box; its labels never wrap", async () => {
  const { found } = await findings("/cards");
  assert.ok(found.some((f) => /overflows its box .*PAY2026/.test(f)), found.join("\n"));
  assert.ok(found.some((f) => /the label "状态" may wrap/.test(f)), found.join("\n"));
});

test("a table that needs its scroll box on a desktop is reported, unless marked wide", async () => {
  const { found } = await findings("/wide-table");
  assert.equal(found.length, 1, found.join("\n"));
  assert.match(found[0], /table needs \d+px in 400px on a desktop: <table> "收费项目/);
  const phone = await findings("/wide-table", viewports.phone);
  assert.ok(!phone.found.some((f) => /table needs/.test(f)), "a phone shows cards or scrolls as it must");
});

test("a page wider than the window is reported", async () => {
  const { found } = await findings("/wide", viewports.phone);
  assert.ok(found.some((f) => /page is 30\d\dpx wide in a 390px window/.test(f)), found.join("\n"));
});

test("a word broken across lines in a table cell is reported, a date too", async () => {
  const cell = await findings("/split-cell");
  assert.ok(cell.found.some((f) => /"(支付|成功|支付成功)" is broken across lines in <td>/.test(f)), cell.found.join("\n"));
  const date = await findings("/split-date");
  assert.ok(date.found.some((f) => /"2026-12-11" is broken across lines/.test(f)), date.found.join("\n"));
});

test("an untranslated identifier on a Chinese page is reported, not on an English one", async () => {
  const zh = await findings("/identifier");
  assert.deepEqual(zh.found, ['untranslated identifier "credited" in <p> "原因：credited"']);
  const choice = await findings("/choice");
  assert.deepEqual(choice.found, ['untranslated identifier "succeeded" in a choice of <select#s> "全部 succeeded"']);
  const en = await findings("/english");
  assert.deepEqual(en.found, []);
});

test("a request answered 404 is reported", async () => {
  const { missing } = await findings("/missing");
  assert.deepEqual(missing, [`${base}/nope.png`]);
  const context = await browser.newContext({ viewport: viewports.desktop });
  const page = await context.newPage();
  const watched = watchMissing(page);
  await page.goto(`${base}/missing`);
  await assert.rejects(checkPage(page, "selftest-missing", watched), /answered 404/);
  await context.close();
});
