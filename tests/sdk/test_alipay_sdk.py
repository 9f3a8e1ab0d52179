"""An independent, unmodified Alipay client SDK (python-alipay-sdk from PyPI) against Bursar's
Alipay simulator, using only the sandbox credentials the simulator publishes. The SDK signs its
requests (RSA2) and verifies every answer's signature itself (it raises on a bad one); its
`verify` checks notifications. The only setting changed is its gateway address. The SDK writes
timestamps in local time, which Alipay reads as Beijing time: the test runs in that zone."""

import http.server
import io
import json
import os
import queue
import re
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request
import uuid
import zipfile

os.environ["TZ"] = "Asia/Shanghai"
time.tzset()

from alipay import AliPay  # noqa: E402
from alipay.exceptions import AliPayException  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("BURSAR_BIN", os.path.join(ROOT, "target", "debug", "bursar"))
NOTIFICATIONS = queue.Queue()


class NotifyHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        NOTIFICATIONS.put(dict(urllib.parse.parse_qsl(body, keep_blank_values=True)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"success")

    def log_message(self, *args):
        pass


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def setUpModule():
    global SIM, DATA, APPS, SERVER, NOTIFY_URL
    DATA = tempfile.mkdtemp(prefix="bursar-alipay-sdk-")
    SIM = subprocess.Popen([BIN, "simulators", "--data-dir", DATA, "--sim-listen", "127.0.0.1:0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = os.path.join(DATA, "sandbox", "alipay")
    for _ in range(300):
        try:
            APPS = []
            for app_id in sorted(os.listdir(root)):
                with open(os.path.join(root, app_id, "config.json")) as f:
                    cfg = json.load(f)
                with open(os.path.join(root, app_id, cfg["app_private_key_file"])) as f:
                    cfg["app_private_key"] = f.read()
                with open(os.path.join(root, app_id, cfg["alipay_public_key_file"])) as f:
                    cfg["alipay_public_key"] = f.read()
                APPS.append(cfg)
            if len(APPS) == 2:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    else:
        raise RuntimeError("the simulator did not publish its Alipay sandbox")
    SERVER = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotifyHandler)
    threading.Thread(target=SERVER.serve_forever, daemon=True).start()
    NOTIFY_URL = f"http://127.0.0.1:{SERVER.server_address[1]}/notify"


def tearDownModule():
    SIM.terminate()
    SIM.wait()
    SERVER.shutdown()


def client(app=0, private_key=None):
    cfg = APPS[app]
    alipay = AliPay(
        appid=cfg["app_id"],
        app_notify_url=NOTIFY_URL,
        app_private_key_string=private_key or cfg["app_private_key"],
        alipay_public_key_string=cfg["alipay_public_key"],
        sign_type="RSA2",
    )
    alipay._gateway = cfg["gateway_url"]  # point the SDK at the simulator
    return alipay


def base():
    return APPS[0]["gateway_url"].rsplit("/gateway.do", 1)[0]


def pay_on_phone(token):
    data = urllib.parse.urlencode({"token": token, "action": "confirm"}).encode()
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(f"{base()}/alipay/pay", data=data)) as r:
            return r.status, None
    except urllib.error.HTTPError as e:  # the redirect back to return_url
        return e.code, e.headers.get("Location")


def new_no():
    return uuid.uuid4().hex


def next_notification(no):
    while True:
        n = NOTIFICATIONS.get(timeout=15)
        if n.get("out_trade_no") == no:
            return n


class AlipaySdk(unittest.TestCase):
    def test_precreate_query_notification(self):
        alipay = client()
        no = new_no()
        r = alipay.api_alipay_trade_precreate(subject="测试大学-住宿费", out_trade_no=no, total_amount="1200.00")
        self.assertEqual(r["code"], "10000")
        self.assertTrue(r["qr_code"].startswith("https://qr.alipay.com/"))
        self.assertEqual(alipay.api_alipay_trade_query(out_trade_no=no)["trade_status"], "WAIT_BUYER_PAY")
        self.assertEqual(pay_on_phone(r["qr_code"].split("bax")[1])[0], 200)
        note = next_notification(no)
        sign = note.pop("sign")
        self.assertTrue(alipay.verify(dict(note), sign), "the SDK verifies the notification")
        self.assertEqual((note["trade_status"], note["total_amount"]), ("TRADE_SUCCESS", "1200.00"))
        q = alipay.api_alipay_trade_query(trade_no=note["trade_no"])
        self.assertEqual((q["trade_status"], q["out_trade_no"]), ("TRADE_SUCCESS", no))
        # A tampered notification does not verify.
        note["total_amount"] = "0.01"
        self.assertFalse(alipay.verify(dict(note), sign))

    def test_page_and_wap_pay_through_the_cashier(self):
        alipay = client()
        opener = urllib.request.build_opener(NoRedirect)
        for build in (alipay.api_alipay_trade_page_pay, alipay.api_alipay_trade_wap_pay):
            no = new_no()
            order_string = build(subject="测试大学-教材费", out_trade_no=no, total_amount="320.00",
                                 return_url="http://127.0.0.1:9/return")
            try:
                opener.open(f"{alipay._gateway}?{order_string}")
                self.fail("the gateway sends the browser to the cashier")
            except urllib.error.HTTPError as e:
                self.assertEqual(e.code, 303)
                cashier = e.headers["Location"]
            token = cashier.split("token=")[1]
            status, back = pay_on_phone(token)
            self.assertEqual(status, 303)
            self.assertTrue(back.startswith("http://127.0.0.1:9/return?"))
            params = dict(urllib.parse.parse_qsl(back.split("?", 1)[1]))
            sign = params.pop("sign")
            self.assertTrue(alipay.verify(params, sign), "the SDK verifies the synchronous return")
            self.assertEqual(params["out_trade_no"], no)
            next_notification(no)

    def test_refund_refund_query_close_cancel(self):
        alipay = client()
        no = new_no()
        r = alipay.api_alipay_trade_precreate(subject="测试", out_trade_no=no, total_amount="5.00")
        pay_on_phone(r["qr_code"].split("bax")[1])
        next_notification(no)
        refund = alipay.api_alipay_trade_refund(refund_amount="2.00", out_trade_no=no, out_request_no="R1")
        self.assertEqual((refund["code"], refund["fund_change"], refund["refund_fee"]), ("10000", "Y", "2.00"))
        q = alipay.api_alipay_trade_fastpay_refund_query(out_request_no="R1", out_trade_no=no)
        self.assertEqual((q["refund_amount"], q["refund_status"]), ("2.00", "REFUND_SUCCESS"))
        # More than is left: a signed business failure, which the SDK verifies and returns.
        too_much = alipay.api_alipay_trade_refund(refund_amount="3.01", out_trade_no=no, out_request_no="R2")
        self.assertEqual(too_much["code"], "40004")
        # Close an unpaid trade; cancel another.
        for op in (alipay.api_alipay_trade_close, alipay.api_alipay_trade_cancel):
            other = new_no()
            alipay.api_alipay_trade_precreate(subject="测试", out_trade_no=other, total_amount="1.00")
            self.assertEqual(op(out_trade_no=other)["code"], "10000")
            self.assertEqual(alipay.api_alipay_trade_query(out_trade_no=other)["trade_status"], "TRADE_CLOSED")

    def test_payment_code(self):
        with urllib.request.urlopen(urllib.request.Request(f"{base()}/alipay/paycode", data=b"")) as r:
            code = re.search(r'id="paycode">(\d+)<', r.read().decode()).group(1)
        alipay = client()
        no = new_no()
        r = alipay.api_alipay_trade_pay(out_trade_no=no, scene="bar_code", auth_code=code, subject="食堂", total_amount="12.50")
        self.assertEqual((r["code"], r["total_amount"]), ("10000", "12.50"))
        again = alipay.api_alipay_trade_pay(out_trade_no=new_no(), scene="bar_code", auth_code=code, subject="食堂", total_amount="1.00")
        self.assertEqual((again["code"], again["sub_code"]), ("40004", "ACQ.PAYMENT_AUTH_CODE_INVALID"))  # good once

    def test_bill_download(self):
        alipay = client()
        no = new_no()
        r = alipay.api_alipay_trade_precreate(subject="账单测试", out_trade_no=no, total_amount="3.21")
        pay_on_phone(r["qr_code"].split("bax")[1])
        next_notification(no)
        today = time.strftime("%Y-%m-%d")
        answer = alipay.server_api("alipay.data.dataservice.bill.downloadurl.query", {"bill_type": "trade", "bill_date": today})
        with urllib.request.urlopen(answer["bill_download_url"]) as resp:
            archive = zipfile.ZipFile(io.BytesIO(resp.read()))
        texts = [archive.read(n).decode("gbk") for n in archive.namelist()]
        detail = next(t for t in texts if t.startswith("#支付宝业务明细查询"))
        self.assertIn("支付宝交易号,商户订单号,业务类型", detail)
        self.assertIn(f"{no}\t,交易,账单测试", detail)
        self.assertTrue(any(t.startswith("#支付宝业务汇总查询") for t in texts))

    def test_a_request_signed_with_another_key_is_refused(self):
        from Cryptodome.PublicKey import RSA
        other = RSA.generate(2048).export_key(pkcs=8).decode()
        with self.assertRaises(AliPayException) as e:
            client(private_key=other).api_alipay_trade_query(out_trade_no=new_no())
        self.assertIn("isv.invalid-signature", str(e.exception))

    def test_unknown_trade(self):
        r = client().api_alipay_trade_query(out_trade_no=new_no())
        self.assertEqual((r["code"], r["sub_code"]), ("40004", "ACQ.TRADE_NOT_EXIST"))


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"# pass {result.testsRun - failed}")
    print(f"# fail {failed}")
    raise SystemExit(1 if failed else 0)
