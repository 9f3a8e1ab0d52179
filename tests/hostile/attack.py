"""The hostile-input suite: what an outsider (or a careless insider) sends to a real `bursar demo`
process, each attack checked for its refusal, its message, and that the platform keeps serving
in bounded memory. Run by tests/hostile/run.sh once per store; prints TAP-style "# pass/# fail".

    python attack.py BASE_URL DATA_DIR DEMO_PID

Grows with every attack found: add a function named attack_* below.
"""

import hashlib
import hmac
import io
import json
import re
import sys
import time
import uuid
import zipfile

import requests

BASE, DATA, PID = sys.argv[1], sys.argv[2], int(sys.argv[3])
FINANCE = ("finance", "Finance@2026")


def rss_kib(field="VmRSS"):
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no such process")


def healthy():
    return requests.get(f"{BASE}/healthz", timeout=10).status_code == 200


def csrf_of(html):
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "page has a CSRF token"
    return m.group(1)


def finance_session():
    s = requests.Session()
    page = s.get(f"{BASE}/admin/login", timeout=10).text
    r = s.post(f"{BASE}/admin/login", data={"username": FINANCE[0], "password": FINANCE[1], "csrf": csrf_of(page)},
               allow_redirects=False, timeout=10)
    assert r.status_code == 303, f"finance logs in: {r.status_code}"
    return s


def xlsx(dimension, rows_xml):
    ns = "http://schemas.openxmlformats.org"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", f'<?xml version="1.0"?><Types xmlns="{ns}/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
        z.writestr("_rels/.rels", f'<?xml version="1.0"?><Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'<?xml version="1.0"?><workbook xmlns="{ns}/spreadsheetml/2006/main" xmlns:r="{ns}/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0"?><Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><worksheet xmlns="{ns}/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>{rows_xml}</sheetData></worksheet>')
    return buf.getvalue()


def upload(session, name, data):
    page = session.get(f"{BASE}/admin/imports", timeout=10).text
    return session.post(f"{BASE}/admin/imports", data={"csrf": csrf_of(page)},
                        files={"file": (name, data, "application/octet-stream")}, timeout=120)


def attack_spreadsheet_bombs():
    """A 1.5 KB sheet claiming 2^34 cells and a sub-MB one of 12 million rows: refused with the
    limit, the server's memory stays where it was."""
    fin = finance_session()
    before = rss_kib()
    far = xlsx("A1:XFD1048576", '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')
    assert len(far) < 2000
    r = upload(fin, "far.xlsx", far)
    assert r.status_code == 422 and "行的上限" in r.text, r.status_code
    rows = xlsx("A1", "<row/>" * 12_000_000)
    assert len(rows) < 1_000_000, len(rows)
    r = upload(fin, "rows.xlsx", rows)
    assert r.status_code == 422 and "解压后超过" in r.text, r.status_code
    grown = rss_kib() - before
    print(f"#   server RSS before {before} KiB, after both bombs +{grown} KiB")
    assert grown < 64 * 1024, f"memory grew by {grown} KiB"
    assert healthy()


def attack_forged_notifications():
    """Forged notifications: an oversized one is not read; sixty 60 KB forgeries are counted,
    never stored in full, and raise one exception for finance."""
    r = requests.post(f"{BASE}/notify/alipay", data=b"sign_type=" + b"A" * (2 * 1024 * 1024),
                      headers={"content-type": "application/x-www-form-urlencoded"}, timeout=30)
    assert r.status_code == 413, r.status_code
    for n in range(60):
        body = f"notify_type=trade_status_sync&sign_type=RSA2{n}{'x' * 60 * 1024}&sign=forged"
        r = requests.post(f"{BASE}/notify/alipay", data=body.encode(),
                          headers={"content-type": "application/x-www-form-urlencoded"}, timeout=30)
        assert r.status_code == 200 and r.text == "fail", (r.status_code, r.text)
    page = finance_session().get(f"{BASE}/admin/exceptions", timeout=10).text
    assert page.count('<span class="badge bad">大量验签失败的通知</span>') == 1, "one exception"
    assert "x" * 200 not in page, "the forgeries' text is not kept"
    assert healthy()


def signed(creds, method, path, body, ts=None):
    ts = str(ts if ts is not None else int(time.time()))
    nonce = uuid.uuid4().hex
    msg = f"{method}\n{path}\n{ts}\n{nonce}\n".encode() + body
    sig = hmac.new(creds["secret"].encode(), msg, hashlib.sha256).hexdigest()
    auth = f'BURSAR-HMAC-SHA256 app_id="{creds["app_id"]}",timestamp="{ts}",nonce="{nonce}",signature="{sig}"'
    return requests.request(method, f"{BASE}{path}", data=body, timeout=30,
                            headers={"Authorization": auth, "Content-Type": "application/json"})


def attack_control_characters_and_timestamps():
    """NUL in API text and in forms: 400 naming the field, never a database error; a timestamp
    of -2^63 + now is refused."""
    creds = json.load(open(f"{DATA}/sandbox/api/demo_app.json"))
    body = json.dumps({"out_order_no": "H-1", "payer": {"name": "李\u0000外来", "phone": "13900139000"},
                       "items": [{"fee_item_code": "PXF", "academic_year": "2026-2027", "amount_fen": 100}]}).encode()
    r = signed(creds, "POST", "/api/v1/orders", body)
    assert r.status_code == 400 and r.json()["error"]["param"] == "payer.name", r.text
    clean = body.replace(b"\\u0000", b"")
    r = signed(creds, "POST", "/api/v1/orders", clean, ts=-(2 ** 63) + int(time.time()))
    assert r.status_code == 401 and r.json()["error"]["code"] == "timestamp_out_of_range", r.text
    s = requests.Session()
    page = s.get(f"{BASE}/portal/login", timeout=10).text
    r = s.post(f"{BASE}/portal/login", data={"identifier": "2023\x00", "password": "x", "csrf": csrf_of(page)}, timeout=10)
    assert r.status_code == 400 and "控制字符" in r.text and "database" not in r.text.lower(), r.status_code
    assert healthy()


def attack_password_spraying():
    """Many failures from one network: that network is asked for a captcha (drawn as paths);
    another network is not; nobody's account is locked."""
    s = requests.Session()
    spray = {"X-Forwarded-For": "198.51.100.77"}
    for n in range(12):
        page = s.get(f"{BASE}/portal/login", headers=spray, timeout=10).text
        s.post(f"{BASE}/portal/login", headers=spray, timeout=10,
               data={"identifier": f"99990{n:05}", "password": "000000", "csrf": csrf_of(page)})
    page = s.get(f"{BASE}/portal/login", headers=spray, timeout=10).text
    assert 'name="captcha_token"' in page and "<path" in page and "<text" not in page
    other = requests.get(f"{BASE}/portal/login", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10).text
    assert 'name="captcha_token"' not in other
    assert healthy()


def main():
    attacks = [(n, f) for n, f in globals().items() if n.startswith("attack_")]
    failed = 0
    for name, f in attacks:
        try:
            f()
            print(f"ok - {name}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, then the next attack runs
            failed += 1
            print(f"not ok - {name}: {e!r}")
    print(f"# pass {len(attacks) - failed}")
    print(f"# fail {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
