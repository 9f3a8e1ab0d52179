"""An independent, unmodified WeChat Pay v2 client SDK (wechatpy from PyPI) against Bursar's
WeChat Pay simulator: payment codes (micropay), order query and reverse, MD5 and HMAC-SHA256
signing. wechatpy checks return/result codes itself; answer signatures are checked with its own
`check_signature`. The only setting changed is its API base URL."""

import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import urllib.request
import uuid

from wechatpy.pay import WeChatPay
from wechatpy.exceptions import WeChatPayException

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("BURSAR_BIN", os.path.join(ROOT, "target", "debug", "bursar"))


def setUpModule():
    global SIM, SANDBOX, BASE, DATA, V2_KEY
    DATA = tempfile.mkdtemp(prefix="bursar-wechatpy-")
    SIM = subprocess.Popen([BIN, "simulators", "--data-dir", DATA, "--sim-listen", "127.0.0.1:0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = os.path.join(DATA, "sandbox", "wechatpay", "config.json")
    for _ in range(300):
        try:
            with open(config) as f:
                SANDBOX = json.load(f)
            with open(os.path.join(DATA, "sandbox", "wechatpay", SANDBOX["api_v2_key_file"])) as f:
                V2_KEY = f.read().strip()
            break
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    else:
        raise RuntimeError("the simulator did not publish its sandbox")
    BASE = SANDBOX["base_url"]


def tearDownModule():
    SIM.terminate()
    SIM.wait()


def client(key=None):
    pay = WeChatPay(appid=SANDBOX["appid"], api_key=key or V2_KEY, mch_id=SANDBOX["mchid"])
    pay.API_BASE_URL = BASE + "/"  # point the SDK at the simulator
    return pay


def payment_code(password=False):
    data = b"password=1" if password else b""
    with urllib.request.urlopen(urllib.request.Request(f"{BASE}/phone/paycode", data=data)) as r:
        return re.search(r'id="paycode">(\d+)<', r.read().decode()).group(1)


def confirm_on_phone(no):
    with urllib.request.urlopen(f"{BASE}/phone") as r:
        page = r.read().decode()
    pr = re.search(r'/phone/pay\?pr=(mp\w+)', page).group(1)
    data = f"pr={pr}&action=confirm".encode()
    with urllib.request.urlopen(urllib.request.Request(f"{BASE}/phone/pay", data=data)) as r:
        assert r.status == 200


class WechatPyV2(unittest.TestCase):
    def test_micropay_paid_at_once(self):
        pay = client()
        no = uuid.uuid4().hex
        r = pay.micropay.create(body="食堂", total_fee=1250, auth_code=payment_code(), client_ip="127.0.0.1", out_trade_no=no)
        self.assertEqual((r["result_code"], r["total_fee"], r["trade_type"]), ("SUCCESS", "1250", "MICROPAY"))
        self.assertTrue(pay.check_signature(dict(r)), "the answer is signed with the API key (MD5)")
        q = pay.order.query(out_trade_no=no)
        self.assertEqual(q["trade_state"], "SUCCESS")
        self.assertTrue(pay.check_signature(dict(q)))

    def test_userpaying_then_confirmed_then_another_reversed(self):
        pay = client()
        no = uuid.uuid4().hex
        with self.assertRaises(WeChatPayException) as e:
            pay.micropay.create(body="学费", total_fee=500000, auth_code=payment_code(password=True), client_ip="127.0.0.1", out_trade_no=no)
        self.assertEqual(e.exception.errcode, "USERPAYING")
        self.assertEqual(pay.order.query(out_trade_no=no)["trade_state"], "USERPAYING")
        confirm_on_phone(no)
        self.assertEqual(pay.order.query(out_trade_no=no)["trade_state"], "SUCCESS")

        other = uuid.uuid4().hex
        with self.assertRaises(WeChatPayException):
            pay.micropay.create(body="学费", total_fee=100, auth_code=payment_code(password=True), client_ip="127.0.0.1", out_trade_no=other)
        r = pay.order.reverse(out_trade_no=other)
        self.assertEqual((r["result_code"], r["recall"]), ("SUCCESS", "N"))
        self.assertEqual(pay.order.query(out_trade_no=other)["trade_state"], "REVOKED")

    def test_hmac_sha256_signing(self):
        pay = client()
        r = pay.micropay._post("pay/micropay", data={
            "appid": SANDBOX["appid"], "body": "食堂", "out_trade_no": uuid.uuid4().hex, "total_fee": 1,
            "spbill_create_ip": "127.0.0.1", "auth_code": payment_code(), "sign_type": "HMAC-SHA256"})
        self.assertEqual(r["result_code"], "SUCCESS")

    def test_wrong_key_and_invalid_code_are_refused(self):
        with self.assertRaises(WeChatPayException) as e:
            client(key="0" * 32).micropay.create(body="x", total_fee=1, auth_code=payment_code(), client_ip="127.0.0.1")
        self.assertEqual(e.exception.return_code, "FAIL")
        with self.assertRaises(WeChatPayException) as e:
            client().micropay.create(body="x", total_fee=1, auth_code="134567890123456789", client_ip="127.0.0.1")
        self.assertEqual(e.exception.errcode, "AUTH_CODE_INVALID")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"# pass {result.testsRun - failed}")
    print(f"# fail {failed}")
    raise SystemExit(1 if failed else 0)
