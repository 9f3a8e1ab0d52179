"""Times the finance view's lists, searches and a payer's record, and the payer's own pages,
against a running Bursar (p50/p95 over repeated requests on loopback, so close to server time).
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


def timed(opener, path, rounds):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        with opener.open(base + path) as r:
            assert r.status == 200, (path, r.status)
            r.read()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


fin = session()
login(fin, "/admin/login", {"username": fin_user, "password": fin_pass})
# A payer of the imported roster, found by search, for the record page.
found = fin.open(base + "/admin/payers?q=" + urllib.parse.quote("学生4321")).read().decode()
payer = re.search(r'href="/admin/payers/([^"/?]+)"', found).group(1)
pages = [
    ("收费监控 (collection per item)", "/admin"),
    ("缴费人 first page", "/admin/payers"),
    ("缴费人 search by name", "/admin/payers?q=" + urllib.parse.quote("学生4321")),
    ("缴费人 search by number prefix", "/admin/payers?q=2026004"),
    ("缴费人 search by class", "/admin/payers?q=" + urllib.parse.quote("班17")),
    ("a payer's record", f"/admin/payers/{payer}"),
    ("减免缓缴 review", "/admin/waivers/review"),
    ("收费项目 list", "/admin/fee-items"),
    ("应收管理", "/admin/receivables"),
]
stu = session()
login(stu, "/portal/login", {"identifier": stu_user, "password": stu_pass})
own = [("portal fees", "/portal/fees"), ("portal records", "/portal/records"), ("portal paid", "/portal/paid")]
print(f"{'page':40} {'p50 ms':>8} {'p95 ms':>8}")
for name, path in pages:
    timed(fin, path, 3)  # warm
    p50, p95 = timed(fin, path, rounds)
    print(f"{name:40} {p50:8.1f} {p95:8.1f}")
for name, path in own:
    timed(stu, path, 3)
    p50, p95 = timed(stu, path, rounds)
    print(f"{name:40} {p50:8.1f} {p95:8.1f}")
