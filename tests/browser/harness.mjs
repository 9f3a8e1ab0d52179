// Starts `bursar demo` on free ports in a fresh data directory and a headless Chromium.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { createHmac, randomUUID } from "node:crypto";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const screenshotDir = join(here, "screenshots");
mkdirSync(screenshotDir, { recursive: true });

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on("error", reject);
  });
}

/** The PostgreSQL server the suite may use (`BURSAR_TEST_POSTGRES_URL`), or null. */
export const postgresUrl = process.env.BURSAR_TEST_POSTGRES_URL || null;

/** Runs one statement with psql against the server's `postgres` database. */
function psql(url, sql) {
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const r = spawnSync("psql", [admin.toString(), "-qc", sql], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`psql failed (${sql}): ${r.stderr}`);
}

/**
 * Starts a demo; `{ postgres: true }` runs it on a fresh PostgreSQL database of its own (made on
 * the suite's server and dropped when it stops), otherwise on SQLite in its data directory.
 */
export async function startDemo(opts = {}) {
  const bin = process.env.BURSAR_BIN || join(here, "..", "..", "target", "debug", "bursar");
  const dataDir = mkdtempSync(join(tmpdir(), "bursar-browser-"));
  const port = await freePort();
  const simPort = await freePort();
  const env = { ...process.env };
  delete env.BURSAR_DATABASE_URL;
  delete env.DATABASE_URL;
  let database = null;
  if (opts.postgres) {
    if (!postgresUrl) throw new Error("BURSAR_TEST_POSTGRES_URL is not set");
    database = `bursar_browser_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    psql(postgresUrl, `CREATE DATABASE ${database}`);
    const url = new URL(postgresUrl);
    url.pathname = `/${database}`;
    env.BURSAR_DATABASE_URL = url.toString();
  }
  const child = spawn(bin, ["demo", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`, "--sim-listen", `127.0.0.1:${simPort}`], {
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  let output = "";
  child.stdout.on("data", (d) => { output += d; });
  child.stderr.on("data", (d) => { output += d; });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok && output.includes("Press Ctrl-C")) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`bursar demo did not start:\n${output}`);
    if (child.exitCode !== null) throw new Error(`bursar demo exited:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const login = /student (\S+) \/ password (\S+)\)/.exec(output);
  const finance = /admin\s+\((\S+) \/ ([^\s:]+): finance administrator/.exec(output);
  const approver = /(\S+) \(approver\)/.exec(output);
  const department = /Departments:\s+\S+\s+\((\S+) \/ (\S+) for/.exec(output);
  if (!login || !finance || !approver || !department) {
    child.kill("SIGTERM");
    throw new Error(`cannot read the demo's logins from its output:\n${output}`);
  }
  return {
    base,
    dataDir,
    simBase: `http://127.0.0.1:${simPort}`,
    student: { user: login[1], password: login[2] },
    finance: { user: finance[1], password: finance[2] },
    // Refunds and fee items a finance user asks for are approved by another (four eyes).
    approver: { user: approver[1], password: finance[2] },
    department: { user: department[1], password: department[2] },
    output: () => output,
    async stop() {
      // A server that does not stop within 10 s (an open long poll, a stuck request) is killed:
      // a test run never waits on it.
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
      clearTimeout(killer);
      rmSync(dataDir, { recursive: true, force: true });
      if (database) psql(postgresUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

export const viewports = {
  phone: { width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { width: 1280, height: 800 },
};

/** Fails the test if any request leaves the machine (no CDN, no outside fonts). */
export function guardRequests(page, allowedOrigins) {
  const outside = [];
  page.on("request", (req) => {
    const url = new URL(req.url());
    if (url.protocol.startsWith("http") && !allowedOrigins.includes(url.origin)) outside.push(req.url());
  });
  return outside;
}

/** A signed open-API request as a business system makes it (BURSAR-HMAC-SHA256). */
export async function api(creds, method, path, body) {
  const data = body ? JSON.stringify(body) : "";
  const ts = Math.floor(Date.now() / 1000).toString();
  const nonce = randomUUID().replaceAll("-", "");
  const signature = createHmac("sha256", creds.secret).update(`${method}\n${path}\n${ts}\n${nonce}\n${data}`).digest("hex");
  const r = await fetch(`${creds.base_url}${path}`, {
    method,
    signal: AbortSignal.timeout(30_000),
    body: data || undefined,
    headers: {
      "Content-Type": "application/json",
      Authorization: `BURSAR-HMAC-SHA256 app_id="${creds.app_id}",timestamp="${ts}",nonce="${nonce}",signature="${signature}"`,
    },
  });
  return { status: r.status, body: await r.json() };
}

/**
 * On the registration form: asks for a text message code for `phone` (already typed), reads it
 * from the demo's SMS simulator as the person would on their phone, and types it in.
 */
export async function typeSmsCode(page, demo, phone) {
  await page.getByRole("button", { name: "获取验证码" }).click();
  await page.locator("#sms-notice").waitFor();
  const html = await (await fetch(`${demo.simBase}/sms?phone=${phone}`, { signal: AbortSignal.timeout(10_000) })).text();
  const code = /(\d{6})/.exec(html.split('class="text"')[1] ?? "")?.[1];
  if (!code) throw new Error(`no code for ${phone} in the SMS simulator:\n${html}`);
  await page.getByLabel("短信验证码").fill(code);
  return code;
}

/** Waits until `locator` shows, running the page's frozen clock 2 s at a time (its polling). */
/**
 * Runs the page's fake clock forward by `ms`. A timer that navigates (a reload, a redirect) can
 * overtake the evaluation behind `runFor`, which then never settles; so the wait is bounded, and a
 * run that a navigation cut short counts as run (the caller then looks at the new page).
 */
export async function runClock(page, ms) {
  let timer;
  const limit = new Promise((resolve) => { timer = setTimeout(resolve, 10_000); });
  try {
    await Promise.race([page.clock.runFor(ms).catch(() => {}), limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for `promise` at most `ms`; past that, fails naming `what` (a step never hangs a walk). */
export async function bounded(promise, what, ms = 30_000) {
  let timer;
  const limit = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms / 1000} s`)), ms); });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Installs the page's fake clock. The install also evaluates in the current document, which a
 * reload (the payment page's own polling reloads it when the state moves) can overtake; the
 * wait is bounded, and the documents that follow get the clock from its init script anyway.
 */
export async function installClock(page) {
  let timer;
  const limit = new Promise((resolve) => { timer = setTimeout(resolve, 10_000); });
  try {
    await Promise.race([page.clock.install().catch(() => {}), limit]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits for `locator` on a page that shows a server's state (a payment page after the channel
 * confirmed): reloads it until it shows, instead of running the page's own polling under a fake
 * clock (a reload the polling starts can overtake the clock's evaluation).
 */
export async function reloadUntilShown(page, locator, ms = 30_000) {
  const end = Date.now() + ms;
  while (!(await locator.isVisible())) {
    if (Date.now() > end) throw new Error(`${locator} did not show within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
    await page.reload({ timeout: 15_000 }).catch(() => {});
  }
}

export async function whenShown(page, locator, ms = 30_000) {
  const end = Date.now() + ms;
  while (!(await locator.isVisible())) {
    if (Date.now() > end) throw new Error(`${locator} did not show within ${ms / 1000} s`);
    // A reload may be under way between two runs; the next turn of the loop runs the new page.
    await runClock(page, 2_000);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A logged-in operator's page in a fresh context (Chinese), and its 404 watch. */
export async function loginOperator(browser, demo, viewport, user, password) {
  const context = await browser.newContext({ viewport, locale: "zh-CN" });
  const page = await context.newPage();
  const missing = [];
  page.on("response", (r) => { if (r.status() === 404) missing.push(r.url()); });
  await page.goto(`${demo.base}/admin/login`);
  await page.locator("#username").fill(user);
  await page.locator("#password").fill(password);
  await page.locator("form[action='/admin/login'] button[type=submit]").click();
  await page.waitForURL((u) => !u.pathname.endsWith("/login"));
  return { context, page, missing };
}
