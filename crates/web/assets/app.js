// Bursar portal: progressive enhancement only; every page works without it.
(function () {
  "use strict";
  var box = document.querySelector("[data-poll]");
  if (box) {
    var url = box.getAttribute("data-poll");
    var initial = box.getAttribute("data-state");
    var status = document.getElementById("poll-status");
    var tick = function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (s && s.state !== initial) { window.location.reload(); return; }
          setTimeout(tick, 2000);
        })
        .catch(function () { if (status) { status.textContent = "网络异常，正在重试…"; } setTimeout(tick, 4000); });
    };
    setTimeout(tick, 2000);
  }
  // Gateways: right after choosing the channel (#go), go on to its cashier once the page has
  // shown where the payer is going. A return from the cashier has no #go and stays here.
  var fresh = window.location.hash === "#go";
  if (fresh && window.history.replaceState) { window.history.replaceState(null, "", window.location.pathname); }
  var go = document.querySelector("[data-autogo]");
  if (fresh && go) { setTimeout(function () { window.location.href = go.getAttribute("href"); }, 800); }
  var autoForm = document.querySelector("form[data-autosubmit]");
  if (fresh && autoForm) { setTimeout(function () { autoForm.submit(); }, 800); }
  // WeChat JSAPI: inside WeChat the bridge shows the payment sheet; elsewhere the form is posted.
  var jsapi = document.querySelector("form[data-jsapi]");
  if (jsapi && window.WeixinJSBridge) {
    jsapi.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var params = {};
      Array.prototype.forEach.call(jsapi.querySelectorAll("input[type=hidden]"), function (i) { params[i.name] = i.value; });
      window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, function () { window.location.reload(); });
    });
  }
  // An import's result sits below the form: bring it into view (a long list may be above it).
  var result = document.getElementById("import-result");
  if (result) { result.setAttribute("tabindex", "-1"); result.focus({ preventScroll: true }); result.scrollIntoView({ block: "start" }); }
  // Hosted cashier: after success, back to the business system (the link also works by hand).
  var back = document.querySelector("a[data-autoreturn]");
  if (back && back.getAttribute("href")) { setTimeout(function () { window.location.href = back.getAttribute("href"); }, 3000); }
  // Long identifiers (shown truncated): a copy button beside each.
  Array.prototype.forEach.call(document.querySelectorAll("button.copy[data-copy]"), function (b) {
    if (!navigator.clipboard) { return; }
    b.hidden = false;
    var label = b.textContent;
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function () {
        b.textContent = b.getAttribute("data-done") || "✓";
        setTimeout(function () { b.textContent = label; }, 1500);
      });
    });
  });
  // The counter: a scanned payment code or a POS reference chooses its method (WeChat codes begin
  // 10–15, Alipay's 25–30); the server still checks what was sent.
  var counter = document.getElementById("counter-form");
  if (counter) {
    var choose = function (m) { var r = counter.querySelector("input[name=method][value=" + m + "]"); if (r) { r.checked = true; } };
    var code = document.getElementById("auth_code");
    if (code) { code.addEventListener("input", function () {
      if (/^1[0-5]/.test(code.value)) { choose("wechat_code"); } else if (/^(2[5-9]|30)/.test(code.value)) { choose("alipay_code"); }
    }); }
    var ref = document.getElementById("pos_ref");
    if (ref) { ref.addEventListener("input", function () { if (ref.value) { choose("offline_pos"); } }); }
  }
  var printButton = document.querySelector("[data-print]");
  if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }
})();
