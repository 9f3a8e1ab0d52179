"""An independent, unmodified WeChat Pay v3 client SDK (wechatpayv3 from PyPI) against Bursar's
WeChat Pay simulator, using only the sandbox credentials the simulator publishes. The SDK signs
its requests and verifies every response signature itself (it raises on a bad one), and decrypts
and verifies notifications with `callback`. The only setting changed is its gateway address."""

import http.server
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request
import uuid

from wechatpayv3 import WeChatPay, WeChatPayType

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("BURSAR_BIN", os.path.join(ROOT, "target", "debug", "bursar"))
NOTIFICATIONS = queue.Queue()


class NotifyHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        NOTIFICATIONS.put(({k: v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def setUpModule():
    global SIM, SANDBOX, BASE, NOTIFY_URL, SERVER, DATA
    DATA = tempfile.mkdtemp(prefix="bursar-sdk-")
    SIM = subprocess.Popen([BIN, "simulators", "--data-dir", DATA, "--sim-listen", "127.0.0.1:0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = os.path.join(DATA, "sandbox", "wechatpay", "config.json")
    for _ in range(300):
        if os.path.exists(config):
            try:
                with open(config) as f:
                    SANDBOX = json.load(f)
                break
            except ValueError:
                pass
        time.sleep(0.1)
    else:
        raise RuntimeError("the simulator did not publish its sandbox")
    BASE = SANDBOX["base_url"]
    SERVER = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotifyHandler)
    threading.Thread(target=SERVER.serve_forever, daemon=True).start()
    NOTIFY_URL = f"http://127.0.0.1:{SERVER.server_address[1]}/notify"


def tearDownModule():
    SIM.terminate()
    SIM.wait()
    SERVER.shutdown()


def sandbox_file(key):
    with open(os.path.join(DATA, "sandbox", "wechatpay", SANDBOX[key])) as f:
        return f.read()


def client(private_key=None):
    pay = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=SANDBOX["mchid"],
        private_key=private_key or sandbox_file("merchant_private_key_file"),
        cert_serial_no=SANDBOX["merchant_serial_no"],
        appid=SANDBOX["appid"],
        apiv3_key=sandbox_file("apiv3_key_file").strip(),
        notify_url=NOTIFY_URL,
        public_key=sandbox_file("platform_public_key_file"),
        public_key_id=SANDBOX["platform_public_key_id"],
    )
    pay._core._gate_way = BASE  # point the SDK at the simulator
    return pay


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def confirm_on_phone(code_url):
    data = urllib.parse.urlencode({"pr": code_url.split("pr=")[1], "action": "confirm"}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{BASE}/phone/pay", data=data)) as r:
        assert r.status == 200


def new_no():
    return uuid.uuid4().hex


class WechatPayV3Sdk(unittest.TestCase):
    def test_native_pay_query_and_notification(self):
        pay = client()
        no = new_no()
        code, message = pay.pay(description="测试大学-学费", out_trade_no=no, amount={"total": 1234})
        self.assertEqual(code, 200, message)
        code_url = json.loads(message)["code_url"]
        self.assertTrue(code_url.startswith("weixin://wxpay/bizpayurl?pr="))
        code, message = pay.query(out_trade_no=no)
        self.assertEqual((code, json.loads(message)["trade_state"]), (200, "NOTPAY"))

        confirm_on_phone(code_url)
        headers, body = NOTIFICATIONS.get(timeout=15)
        note = pay.callback(headers, body)  # verifies the signature, decrypts the resource
        self.assertTrue(note, "the SDK accepted the notification")
        self.assertEqual(note["event_type"], "TRANSACTION.SUCCESS")
        resource = note["resource"]
        self.assertEqual((resource["out_trade_no"], resource["trade_state"], resource["amount"]["total"]), (no, "SUCCESS", 1234))
        code, message = pay.query(transaction_id=resource["transaction_id"])
        self.assertEqual((code, json.loads(message)["out_trade_no"]), (200, no))

    def test_jsapi_prepay_and_the_payment_sheet_checks_pay_sign(self):
        pay = client()
        no = new_no()
        code, message = pay.pay(description="测试大学-住宿费", out_trade_no=no, amount={"total": 120000},
                                payer={"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, pay_type=WeChatPayType.JSAPI)
        self.assertEqual(code, 200, message)
        prepay_id = json.loads(message)["prepay_id"]
        ts, nonce, package = str(int(time.time())), uuid.uuid4().hex, f"prepay_id={prepay_id}"
        sheet = {"appId": SANDBOX["appid"], "timeStamp": ts, "nonceStr": nonce, "package": package, "signType": "RSA",
                 "paySign": pay.sign([SANDBOX["appid"], ts, nonce, package])}
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(urllib.request.Request(f"{BASE}/phone/jsapi", data=urllib.parse.urlencode(sheet).encode()))
            self.fail("the sheet opens the payment page")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 303)
            self.assertIn(f"pr={prepay_id}", e.headers["Location"])
        sheet["paySign"] = pay.sign([SANDBOX["appid"], ts, nonce + "x", package])
        with self.assertRaises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(urllib.request.Request(f"{BASE}/phone/jsapi", data=urllib.parse.urlencode(sheet).encode()))
        self.assertEqual(bad.exception.code, 400)
        confirm_on_phone(f"pr={prepay_id}")
        note = pay.callback(*NOTIFICATIONS.get(timeout=15))
        self.assertEqual((note["resource"]["out_trade_no"], note["resource"]["trade_type"]), (no, "JSAPI"))

    def test_h5_prepay(self):
        pay = client()
        no = new_no()
        code, message = pay.pay(description="测试", out_trade_no=no, amount={"total": 100}, pay_type=WeChatPayType.H5,
                                scene_info={"payer_client_ip": "14.23.150.211", "h5_info": {"type": "Wap"}})
        self.assertEqual(code, 200, message)
        h5_url = json.loads(message)["h5_url"]
        self.assertTrue(h5_url.startswith(f"{BASE}/phone/pay?pr="), h5_url)
        # Without scene_info.h5_info WeChat Pay refuses an H5 order.
        code, message = pay.pay(description="测试", out_trade_no=new_no(), amount={"total": 100}, pay_type=WeChatPayType.H5,
                                scene_info={"payer_client_ip": "14.23.150.211"})
        self.assertEqual((code, json.loads(message)["code"]), (400, "PARAM_ERROR"))

    def test_close_answers_a_signed_204(self):
        pay = client()
        no = new_no()
        self.assertEqual(pay.pay(description="测试", out_trade_no=no, amount={"total": 1})[0], 200)
        code, _ = pay.close(out_trade_no=no)
        self.assertEqual(code, 204)
        self.assertEqual(json.loads(pay.query(out_trade_no=no)[1])["trade_state"], "CLOSED")

    def test_refund_and_refund_query_and_notification(self):
        pay = client()
        no = new_no()
        code_url = json.loads(pay.pay(description="测试", out_trade_no=no, amount={"total": 500})[1])["code_url"]
        confirm_on_phone(code_url)
        NOTIFICATIONS.get(timeout=15)
        refund_no = new_no()
        code, message = pay.refund(out_refund_no=refund_no, out_trade_no=no, amount={"refund": 200, "total": 500, "currency": "CNY"})
        self.assertEqual(code, 200, message)
        self.assertEqual(json.loads(message)["status"], "PROCESSING")
        headers, body = NOTIFICATIONS.get(timeout=15)
        note = pay.callback(headers, body)
        self.assertEqual((note["event_type"], note["resource"]["out_refund_no"], note["resource"]["refund_status"]),
                         ("REFUND.SUCCESS", refund_no, "SUCCESS"))
        code, message = pay.query_refund(out_refund_no=refund_no)
        self.assertEqual((code, json.loads(message)["status"]), (200, "SUCCESS"))
        # More than is left is refused with WeChat Pay's own error shape.
        code, message = pay.refund(out_refund_no=new_no(), out_trade_no=no, amount={"refund": 301, "total": 500, "currency": "CNY"})
        self.assertEqual((code, json.loads(message)["code"]), (400, "INVALID_REQUEST"))

    def test_trade_bill_request_and_download(self):
        import gzip
        import hashlib
        pay = client()
        no = new_no()
        code_url = json.loads(pay.pay(description="账单测试", out_trade_no=no, amount={"total": 321})[1])["code_url"]
        confirm_on_phone(code_url)
        NOTIFICATIONS.get(timeout=15)
        today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
        code, message = pay.trade_bill(bill_date=today)
        self.assertEqual(code, 200, message)
        answer = json.loads(message)
        code, content = pay.download_bill(answer["download_url"])
        self.assertEqual(code, 200)
        csv = gzip.decompress(content).decode("utf-8")
        self.assertEqual(hashlib.sha1(csv.encode()).hexdigest(), answer["hash_value"])
        self.assertTrue(csv.startswith("交易时间,公众账号ID,商户号"))
        self.assertIn(f"`{no}", csv)
        self.assertIn("`3.21", csv)

    def test_a_request_signed_with_another_key_is_refused(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        code, message = client(private_key=other).pay(description="测试", out_trade_no=new_no(), amount={"total": 1})
        self.assertEqual((code, json.loads(message)["code"]), (401, "SIGN_ERROR"))

    def test_unknown_order_is_order_not_exist(self):
        code, message = client().query(out_trade_no=new_no())
        self.assertEqual((code, json.loads(message)["code"]), (404, "ORDER_NOT_EXIST"))


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"# pass {result.testsRun - failed}")
    print(f"# fail {failed}")
    raise SystemExit(1 if failed else 0)
