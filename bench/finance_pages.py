"""Times the finance view's lists, searches and a payer's record, and the payer's own pages,
against a running Bursar: server time from the `Server-Timing` header Bursar sets (p50/p95 over
repeated requests), and the round trip on loopback beside it.
  python3 bench/finance_pages.py BASE FINANCE_USER FINANCE_PASSWORD STUDENT PASSWORD [ROUNDS]"""
import http.cookiejar
import re
import statistics
import sys
import time
import urllib.parse
import urllib.request

base, fin_user, fin_pass, stu_user, stu_pass = sys.argv[1:6]
rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 30


def session():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))


def csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(opener, path, fields):
    page = opener.open(base + path).read().decode()
    data = urllib.parse.urlencode({**fields, "csrf": csrf(page)}).encode()
    return opener.open(base + path, data).read().decode()


def p50_p95(values):
    values = sorted(values)
    return statistics.median(values), values[max(0, int(len(values) * 0.95) - 1)]


def timed(opener, path, rounds):
    server, trip = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        with opener.open(base + path) as r:
            assert r.status == 200, (path, r.status)
            r.read()
            m = re.search(r"dur=([0-9.]+)", r.headers.get("Server-Timing", ""))
        trip.append((time.perf_counter() - t) * 1000)
        server.append(float(m.group(1)) if m else float("nan"))
    return p50_p95(server) + p50_p95(trip)


fin = session()
login(fin, "/admin/login", {"username": fin_user, "password": fin_pass})
# A payer of the imported roster, found by search, for the record page.
found = fin.open(base + "/admin/payers?q=" + urllib.parse.quote("学生4321")).read().decode()
payer = re.search(r'href="/admin/payers/([^"/?]+)"', found).group(1)
pages = [
    ("收费监控 (dashboard)", "/admin"),
    ("收费日报 this month", "/admin/reports/daily"),
    ("分渠道汇总 this month", "/admin/reports/channels"),
    ("收费明细 this month (first 500 rows)", "/admin/reports/detail"),
    ("缴费人 first page", "/admin/payers"),
    ("缴费人 search by name", "/admin/payers?q=" + urllib.parse.quote("学生4321")),
    ("缴费人 search by number prefix", "/admin/payers?q=2026004"),
    ("缴费人 search by class", "/admin/payers?q=" + urllib.parse.quote("班17")),
    # Not a prefix of anything: the search falls back to reading every name.
    ("缴费人 search by part of a name", "/admin/payers?q=" + urllib.parse.quote("生4321")),
    ("a payer's record", f"/admin/payers/{payer}"),
    ("减免缓缴 review", "/admin/waivers/review"),
    ("收费项目 list", "/admin/fee-items"),
    ("应收管理", "/admin/receivables"),
]
stu = session()
login(stu, "/portal/login", {"identifier": stu_user, "password": stu_pass})
own = [("portal fees", "/portal/fees"), ("portal records", "/portal/records"), ("portal paid", "/portal/paid")]
print(f"{'page':34} {'server p50':>10} {'p95 ms':>8} {'trip p50':>9} {'p95 ms':>8}   (n={rounds})")
for opener, list_ in ((fin, pages), (stu, own)):
    for name, path in list_:
        timed(opener, path, 3)  # warm
        s50, s95, t50, t95 = timed(opener, path, rounds)
        print(f"{name:34} {s50:10.1f} {s95:8.1f} {t50:9.1f} {t95:8.1f}")
