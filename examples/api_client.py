#!/usr/bin/env python3
"""A complete Bursar open-API client, standard library only: what a business system (training,
conferences, admissions…) does, end to end, against `bursar demo`:

  1. create an order for an outside person (signed request, Idempotency-Key)
  2. send the payer to the hosted cashier; here the script plays the payer: it chooses WeChat
     Pay and confirms on the demo simulator's "phone"
  3. receive the `order.paid` webhook and verify its signature
  4. query the order
  5. ask for a refund (finance approves it in the finance view)

Usage:  python3 examples/api_client.py data/sandbox/api/demo_app.json
The JSON file is written by `bursar demo` (app_id, secret, base_url, notify_url).
"""

import hashlib
import hmac
import html
import http.cookiejar
import http.server
import json
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid


class Bursar:
    """Signs each request: HMAC-SHA256 over METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY."""

    def __init__(self, base_url, app_id, secret):
        self.base, self.app_id, self.secret = base_url.rstrip("/"), app_id, secret

    def request(self, method, path, body=None, idempotency_key=None):
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        ts, nonce = str(int(time.time())), uuid.uuid4().hex
        message = f"{method}\n{path}\n{ts}\n{nonce}\n".encode() + data
        signature = hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "Authorization": f'BURSAR-HMAC-SHA256 app_id="{self.app_id}",timestamp="{ts}",nonce="{nonce}",signature="{signature}"',
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        req = urllib.request.Request(self.base + path, data=data or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


def verify_webhook(secret, header, body, tolerance=300):
    """Checks `Bursar-Signature: t=…,v1=…` (HMAC-SHA256 of "t.body")."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t = int(parts.get("t", "0"))
    if abs(time.time() - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def start_webhook_receiver(notify_url, secret, events):
    port = urllib.parse.urlparse(notify_url).port

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ok = verify_webhook(secret, self.headers.get("Bursar-Signature", ""), body)
            self.send_response(200 if ok else 400)
            self.end_headers()
            if ok:
                events.append(json.loads(body))

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def pay_as_the_payer(cashier_url):
    """What a payer does in a browser: choose WeChat Pay at the cashier, confirm on the phone."""
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = browser.open(cashier_url).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf": csrf, "method": "wechat_native"}).encode()
    payment_page = browser.open(cashier_url, data=form).read().decode()
    phone = html.unescape(re.search(r'id="sim-phone" href="([^"]+)"', payment_page).group(1))
    phone_page = browser.open(phone).read().decode()
    pr = re.search(r'name="pr" value="([^"]+)"', phone_page).group(1)
    sim_base = phone.split("/phone/")[0]
    browser.open(sim_base + "/phone/pay", data=urllib.parse.urlencode({"pr": pr, "action": "confirm"}).encode()).read()


def main(credentials_path):
    creds = json.load(open(credentials_path))
    api = Bursar(creds["base_url"], creds["app_id"], creds["secret"])
    events = []
    server = start_webhook_receiver(creds["notify_url"], creds["secret"], events)

    out_order_no = "TRAIN-" + uuid.uuid4().hex[:12]
    order = {
        "out_order_no": out_order_no,
        "payer": {"name": "王培训", "phone": "13800138000"},
        "items": [{"fee_item_code": "PXF", "academic_year": "2026-2027", "amount_fen": 68000}],
        "description": "2026 秋季电工技能培训",
        "metadata": {"class": "电工-秋-01"},
    }
    status, created = api.request("POST", "/api/v1/orders", order, idempotency_key=out_order_no)
    assert status == 201, created
    print(f"1. order {created['id']} created: {created['amount_fen']} fen, cashier {created['cashier_url']}")
    status, again = api.request("POST", "/api/v1/orders", order, idempotency_key=out_order_no)
    assert status == 201 and again["id"] == created["id"], "retrying with the same Idempotency-Key returns the same order"

    pay_as_the_payer(created["cashier_url"])
    print("2. the payer paid with WeChat Pay at the hosted cashier")

    deadline = time.time() + 30
    while not any(e["type"] == "order.paid" for e in events):
        assert time.time() < deadline, "no order.paid webhook within 30 s"
        time.sleep(0.2)
    paid = next(e for e in events if e["type"] == "order.paid")
    assert paid["data"]["out_order_no"] == out_order_no
    print(f"3. webhook {paid['id']} order.paid received, signature verified")

    status, got = api.request("GET", f"/api/v1/orders/{created['id']}")
    assert status == 200 and got["status"] == "paid", got
    print(f"4. order status: {got['status']} (paid by {got['payment']['method']}, {got['payment']['channel_txn_id']})")

    status, refund = api.request("POST", f"/api/v1/orders/{created['id']}/refunds",
                                 {"amount_fen": 10000, "reason": "学员提前结业"}, idempotency_key="refund-" + out_order_no)
    assert status == 201 and refund["status"] == "requested", refund
    status, refund = api.request("GET", f"/api/v1/refunds/{refund['id']}")
    assert status == 200
    print(f"5. refund {refund['id']} of {refund['amount_fen']} fen: {refund['status']} (finance approves it under 退款管理)")

    status, err = api.request("GET", "/api/v1/orders/does-not-exist")
    assert status == 404 and err["error"]["type"] == "invalid_request_error"
    server.shutdown()
    print("all steps passed")


if __name__ == "__main__":
    main(sys.argv[1])
