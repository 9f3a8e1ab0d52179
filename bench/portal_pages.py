#!/usr/bin/env python3
"""Server time of every portal page on the demo data: logs in as the demo student, creates an
order and a waiting payment, then requests each page N times and reads the `Server-Timing`
header Bursar sets (the time inside Bursar: routing, store, templates — not the network).
Prints p50 / p95 / max per page and exits 1 if any page's p95 reaches the budget.

    cargo run --release -- demo &            # in another terminal (or any running demo)
    python3 bench/portal_pages.py http://127.0.0.1:8080 [N=200] [budget_ms=100]
"""

import http.cookiejar
import re
import statistics
import sys
import urllib.parse
import urllib.request

base = sys.argv[1].rstrip("/")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
budget = float(sys.argv[3]) if len(sys.argv) > 3 else 100.0

jar = http.cookiejar.CookieJar()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
raw = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)


def get(path):
    with opener.open(base + path) as r:
        return r.read().decode(), r.headers


def post(path, fields):
    try:
        with raw.open(base + path, data=urllib.parse.urlencode(fields).encode()) as r:
            return r.status, r.headers.get("Location", "")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location", "")


def csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def server_ms(headers):
    m = re.search(r"dur=([0-9.]+)", headers.get("Server-Timing", ""))
    return float(m.group(1)) if m else float("nan")


# Log in as the first demo student (its login is printed by `bursar demo`).
login, _ = get("/portal/login")
status, _ = post("/portal/login", {"csrf": csrf(login), "identifier": "2023010001", "password": "046111"})
assert status == 303, f"login failed ({status})"
pay, _ = get("/portal/pay?year=2026-2027")
rid = re.search(r'name="sel" value="([^"]+)"', pay).group(1)
amount = re.search(rf'name="amount_{rid}" value="([^"]+)"', pay).group(1)
status, order = post("/portal/orders", {"csrf": csrf(pay), "year": "2026-2027", "sel": rid, f"amount_{rid}": amount})
order = order.split("#")[0]
order_page, _ = get(order)
status, payment = post(order + "/pay", {"csrf": csrf(order_page), "method": "wechat_native"})
payment = payment.split("#")[0]

pages = {
    "login": "/portal/login",
    "current fees": "/portal/fees",
    "choose items": "/portal/pay?year=2026-2027",
    "order": order,
    "payment (QR)": payment,
    "payment status": payment + "/status",
    "records": "/portal/records",
    "paid info": "/portal/paid",
    "personal info": "/portal/account",
    "projects": "/portal/projects",
    "my registrations": "/portal/registrations",
}
# A project's page (with its registration form), found on the list.
projects_page, _ = get("/portal/projects")
project = re.search(r'href="(/portal/projects/[0-9a-f-]+)"', projects_page)
if project:
    pages["project"] = project.group(1)
worst = 0.0
print(f"{'page':<16} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   (n={n} each, Server-Timing)")
for name, path in pages.items():
    times = []
    for _ in range(n):
        _, h = get(path)
        times.append(server_ms(h))
    times.sort()
    p50, p95 = statistics.median(times), times[int(0.95 * (len(times) - 1))]
    worst = max(worst, p95)
    print(f"{name:<16} {p50:8.2f} {p95:8.2f} {times[-1]:8.2f}")
print(f"worst p95: {worst:.2f} ms (budget {budget:.0f} ms)")
sys.exit(0 if worst < budget else 1)
