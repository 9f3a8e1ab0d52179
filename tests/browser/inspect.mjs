// What every page the suite visits must pass, at every size and in every language:
// - the axe-core audit (WCAG 2.1 A and AA, colour contrast included);
// - layout: no text-bearing element whose content overflows its box sideways (outside boxes
//   meant to scroll), no word broken across lines in a table cell, an amount or a date, no page
//   wider than the window, and on a desktop no table that needs its scroll box (unless marked
//   data-wide);
// - words: no untranslated identifier (`[a-z_]{4,}` as a whole word) in the text of a zh-CN page,
//   outside code, <kbd>/<samp> and elements marked translate="no" (names, ids, addresses);
// - no request the page made answered 404.
// A screenshot of every checked page lands in screenshots/ for a reviewer to look through.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { screenshotDir } from "./harness.mjs";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/** Runs in the page: the layout and wording findings, one line each. */
function pageFindings() {
  const out = [];
  const describe = (el) => {
    const id = el.id ? `#${el.id}` : "";
    const cls = typeof el.className === "string" && el.className.trim() ? `.${el.className.trim().split(/\s+/).join(".")}` : "";
    const text = (el.innerText || el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 40);
    return `<${el.tagName.toLowerCase()}${id}${cls}> "${text}"`;
  };
  // Boxes meant to scroll: marked data-scroll, or a wrapper around a table laid out as a table
  // (a wide table on a desktop). A table shown as cards on a phone must fit.
  const scrolls = (el) => {
    for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
      if (e.hasAttribute("data-scroll")) return true;
      const s = getComputedStyle(e);
      if (s.overflowX !== "auto" && s.overflowX !== "scroll") continue;
      const table = e.querySelector("table");
      if (table && getComputedStyle(table).display === "table") return true;
    }
    return false;
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  };
  const ownText = (el) => Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim() !== "");

  // The page as a whole: nothing sideways beyond the window.
  const docWidth = document.documentElement.scrollWidth;
  if (docWidth > window.innerWidth + 1) out.push(`page is ${docWidth}px wide in a ${window.innerWidth}px window`);

  // On a desktop (1200 px and wider) a table uses the width and needs no scroll box, unless it
  // is marked data-wide (a report of many columns, read in its xlsx anyway).
  if (window.innerWidth >= 1200) {
    for (const t of document.querySelectorAll("table")) {
      const box = t.parentElement;
      if (t.hasAttribute("data-wide") || !box || !visible(t)) continue;
      if (box.scrollWidth > box.clientWidth + 1) out.push(`table needs ${box.scrollWidth}px in ${box.clientWidth}px on a desktop: ${describe(t)}`);
    }
  }

  // Text-bearing boxes whose content overflows them (deliberately truncated ids, marked
  // data-truncate and carrying a copy control, are allowed).
  for (const el of document.body.querySelectorAll("*")) {
    if (!ownText(el) || !visible(el)) continue;
    const s = getComputedStyle(el);
    if (s.display === "inline" || s.display === "contents") continue;
    if (el.matches("[data-truncate], .sr-only, option, script, style, svg *")) continue;
    if (scrolls(el)) continue;
    if (el.scrollWidth > el.clientWidth + 1) out.push(`overflows its box (${el.scrollWidth}px in ${el.clientWidth}px): ${describe(el)}`);
  }

  // Words broken across lines. Amounts, dates, states and numbers are never broken; in any other
  // table cell a word may move to the next line but the cell must be wider than its longest word
  // (Chinese prose may break between characters, a label squeezed to a character a line may not).
  const segmenter = new Intl.Segmenter(document.documentElement.lang || "zh", { granularity: "word" });
  const cjk = /[\u3400-\u9fff]/;
  const words = (text) => {
    const found = [];
    const re = /\S+/g;
    let m;
    while ((m = re.exec(text))) {
      if (!cjk.test(m[0])) { found.push([m.index, m[0]]); continue; }
      for (const seg of segmenter.segment(m[0])) if (seg.isWordLike) found.push([m.index + seg.index, seg.segment]);
    }
    return found;
  };
  const strict = "time, .when, .money, .badge, .num, .nowrap";
  const broken = new Set();
  for (const box of document.body.querySelectorAll(`td, th, ${strict}`)) {
    if (!visible(box) || box.closest("[data-truncate]")) continue;
    const bs = getComputedStyle(box);
    const room = box.clientWidth - parseFloat(bs.paddingLeft) - parseFloat(bs.paddingRight);
    const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest("[data-truncate]")) continue;
      const never = node.parentElement.closest(strict) !== null;
      for (const [at, word] of words(node.textContent)) {
        if (word.length < 2) continue;
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + word.length);
        const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
        if (new Set(rects.map((r) => Math.round(r.top))).size < 2) continue;
        const width = rects.reduce((w, r) => w + r.width, 0);
        if (!never && width <= room + 1) continue;
        const key = `"${word}" is broken across lines in ${describe(box)}`;
        if (!broken.has(key)) { broken.add(key); out.push(key); }
      }
    }
  }
  // Phone cards label each value with the column's name (td::before): the label never wraps.
  for (const td of document.body.querySelectorAll("td[data-label]")) {
    const before = getComputedStyle(td, "::before");
    if (visible(td) && before.content !== "none" && before.display !== "none" && before.whiteSpace !== "nowrap") {
      out.push(`the label "${td.dataset.label}" may wrap in ${describe(td)}`);
    }
  }

  // Untranslated identifiers on a Chinese page.
  if ((document.documentElement.lang || "").toLowerCase().startsWith("zh")) {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const ident = /(?:^|[^A-Za-z0-9_@./:-])([a-z_]{4,})(?![A-Za-z0-9_@])/g;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent || parent.closest("script, style, code, kbd, samp, pre, [translate=no], .sr-only") || !visible(parent)) continue;
      ident.lastIndex = 0;
      const m = ident.exec(node.textContent);
      if (m) out.push(`untranslated identifier "${m[1]}" in ${describe(parent)}`);
    }
    // A closed list's choices are text a person reads too.
    for (const option of document.querySelectorAll("option")) {
      if (option.closest("[translate=no]")) continue;
      ident.lastIndex = 0;
      const m = ident.exec(option.textContent);
      if (m) out.push(`untranslated identifier "${m[1]}" in a choice of ${describe(option.parentElement)}`);
    }
  }
  return out;
}

/** Watches a page for requests answered 404 (call once, before the first navigation). */
export function watchMissing(page) {
  const missing = [];
  page.on("response", (r) => { if (r.status() === 404) missing.push(r.url()); });
  return missing;
}

/**
 * `page.evaluate` has no timeout of its own and waits out a navigation that starts meanwhile, so
 * every evaluation here is bounded: a page that will not answer fails the check with its name.
 */
async function evaluate(page, fn, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} on ${page.url()} did not finish in 60 s`)), 60_000);
  });
  try {
    return await Promise.race([page.evaluate(fn), limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** The layout and wording findings of the page as it is now. */
export async function layoutFindings(page) {
  return evaluate(page, pageFindings, "the layout checks");
}

/** Runs axe-core on the page; returns its violations, one line each. */
export async function axeFindings(page) {
  // Evaluated over the DevTools protocol, so the page's own CSP (script-src 'self') stays on.
  await evaluate(page, AXE, "loading axe-core");
  return evaluate(page, async () => {
    const r = await globalThis.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
  }, "the accessibility audit");
}

/**
 * Every check on the page as it is now, after a screenshot named `shot` (viewport and language in
 * the name, so one folder holds them all): the problems found, each prefixed with the shot's
 * name. `missing` is what watchMissing returned for the page (emptied here).
 */
export async function pageProblems(page, shot, missing = []) {
  await page.waitForLoadState("load");
  await page.screenshot({ path: join(screenshotDir, `${shot}.png`), fullPage: true });
  const found = [
    ...(await axeFindings(page)).map((f) => `accessibility: ${f}`),
    ...(await layoutFindings(page)),
    ...missing.splice(0).map((u) => `answered 404: ${u}`),
  ];
  return found.map((f) => `${shot} ${new URL(page.url()).pathname}: ${f}`);
}

/** Fails unless the page passes every check (see pageProblems). */
export async function checkPage(page, shot, missing = []) {
  assert.deepEqual(await pageProblems(page, shot, missing), [], `checks of ${shot}`);
}
