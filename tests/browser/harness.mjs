// Starts `bursar demo` on free ports in a fresh data directory and a headless Chromium.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
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

export async function startDemo() {
  const bin = process.env.BURSAR_BIN || join(here, "..", "..", "target", "debug", "bursar");
  const dataDir = mkdtempSync(join(tmpdir(), "bursar-browser-"));
  const port = await freePort();
  const simPort = await freePort();
  const env = { ...process.env };
  delete env.BURSAR_DATABASE_URL;
  delete env.DATABASE_URL;
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
  const finance = /admin\s+\((\S+) \/ (\S+)\)/.exec(output);
  const department = /Departments:\s+\S+\s+\((\S+) \/ (\S+) for/.exec(output);
  return {
    base,
    dataDir,
    simBase: `http://127.0.0.1:${simPort}`,
    student: { user: login[1], password: login[2] },
    finance: { user: finance[1], password: finance[2] },
    department: { user: department[1], password: department[2] },
    output: () => output,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
      rmSync(dataDir, { recursive: true, force: true });
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
