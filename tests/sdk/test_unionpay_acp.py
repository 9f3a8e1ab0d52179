"""UnionPay ACP 5.1.0 conformance of Bursar's UnionPay simulator, checked by an independent
client. No UnionPay ACP SDK is published on the registries this project can reach (PyPI, npm,
crates.io were searched: `unionpay`, `py-unionpay`, `unionpay-sdk`, `union-pay`, `unionpay-acp`,
`django-unionpay`, … — none exist or none implement ACP), so this client is written from the ACP
specification in another language with another crypto library (pyca/cryptography): it signs
requests with the sandbox merchant key (SHA-256 hex digest, then SHA256withRSA), verifies every
answer the way UnionPay's own SDK does (signPubKeyCert chained to the published root and
intermediate, validity, CN 中国银联股份有限公司, then the signature), and decodes the
reconciliation file (Base64 → zlib → zip)."""

import base64
import datetime
import hashlib
import io
import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
import uuid
import zipfile
import zlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("BURSAR_BIN", os.path.join(ROOT, "target", "debug", "bursar"))
CST = datetime.timezone(datetime.timedelta(hours=8))


def setUpModule():
    global SIM, DATA, CFG, KEY, CERT_ID, ROOT_CERT, MIDDLE_CERT
    DATA = tempfile.mkdtemp(prefix="bursar-acp-")
    SIM = subprocess.Popen([BIN, "simulators", "--data-dir", DATA, "--sim-listen", "127.0.0.1:0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = os.path.join(DATA, "sandbox", "unionpay")
    for _ in range(300):
        try:
            with open(os.path.join(d, "config.json")) as f:
                CFG = json.load(f)
            with open(os.path.join(d, CFG["signing_key_file"]), "rb") as f:
                KEY = serialization.load_pem_private_key(f.read(), password=None)
            with open(os.path.join(d, CFG["root_cert_file"]), "rb") as f:
                ROOT_CERT = x509.load_pem_x509_certificate(f.read())
            with open(os.path.join(d, CFG["middle_cert_file"]), "rb") as f:
                MIDDLE_CERT = x509.load_pem_x509_certificate(f.read())
            CERT_ID = CFG["cert_id"]
            break
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    else:
        raise RuntimeError("the simulator did not publish its UnionPay sandbox")


def tearDownModule():
    SIM.terminate()
    SIM.wait()


def digest(params):
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    return hashlib.sha256(text.encode()).hexdigest()


def sign(params):
    params = dict(params, certId=CERT_ID, signMethod="01", version="5.1.0", encoding="UTF-8", merId=CFG["mer_id"])
    params["signature"] = base64.b64encode(KEY.sign(digest(params).encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    return params


def verify(params):
    """The ACP SDK's validate: chain, validity, CN, then the signature over the digest."""
    cert = x509.load_pem_x509_certificate(params["signPubKeyCert"].encode())
    cert.verify_directly_issued_by(MIDDLE_CERT)
    MIDDLE_CERT.verify_directly_issued_by(ROOT_CERT)
    now = datetime.datetime.now(datetime.timezone.utc)
    for c in (cert, MIDDLE_CERT, ROOT_CERT):
        assert c.not_valid_before_utc <= now <= c.not_valid_after_utc, "certificate not valid now"
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == CFG["expected_cn"], cn
    cert.public_key().verify(base64.b64decode(params["signature"]), digest(params).encode(), padding.PKCS1v15(), hashes.SHA256())
    return True


def parse_answer(text):
    out, depth, start = {}, 0, 0
    parts = []
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "&" and depth <= 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for p in parts:
        if "=" in p:
            k, v = p.split("=", 1)
            out[k] = v
    return out


def post(url, params):
    data = urllib.parse.urlencode(params).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data)) as r:
        return r.read().decode()


def txn_time():
    return datetime.datetime.now(CST).strftime("%Y%m%d%H%M%S")


def consume(order_id, amount, when):
    form = sign({"txnType": "01", "txnSubType": "01", "bizType": "000201", "channelType": "07", "accessType": "0",
                 "orderId": order_id, "txnTime": when, "txnAmt": str(amount), "currencyCode": "156",
                 "frontUrl": "http://127.0.0.1:9/front", "backUrl": "http://127.0.0.1:9/back"})
    page = post(CFG["front_trans_url"], form)
    token = re.search(r'name="token" value="(\w+)"', page).group(1)
    html = post(CFG["front_trans_url"].split("/gateway")[0] + "/unionpay/pay", {"token": token, "action": "confirm"})
    import html as htmlmod
    return {k: htmlmod.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)}


def query(order_id, when):
    return parse_answer(post(CFG["query_trans_url"], sign({
        "txnType": "00", "txnSubType": "00", "bizType": "000000", "accessType": "0", "orderId": order_id, "txnTime": when})))


class UnionpayAcp(unittest.TestCase):
    def test_consume_front_return_query(self):
        order, when = uuid.uuid4().hex, txn_time()
        front = consume(order, 12345, when)
        self.assertTrue(verify(front), "the front return verifies")
        self.assertEqual((front["respCode"], front["orderId"], front["txnAmt"]), ("00", order, "12345"))
        q = query(order, when)
        self.assertTrue(verify(q))
        self.assertEqual((q["respCode"], q["origRespCode"], q["queryId"]), ("00", "00", front["queryId"]))
        self.assertEqual(query(order, "20000101000000")["respCode"], "34", "txnTime is part of the key")

    def test_refund_and_file(self):
        order, when = uuid.uuid4().hex, txn_time()
        front = consume(order, 50000, when)
        refund_id, refund_when = uuid.uuid4().hex, txn_time()
        r = parse_answer(post(CFG["back_trans_url"], sign({
            "txnType": "04", "txnSubType": "00", "bizType": "000201", "channelType": "07", "accessType": "0",
            "orderId": refund_id, "txnTime": refund_when, "txnAmt": "20000", "currencyCode": "156",
            "origQryId": front["queryId"], "backUrl": "http://127.0.0.1:9/back"})))
        self.assertTrue(verify(r))
        self.assertEqual(r["respCode"], "00")
        self.assertEqual(query(refund_id, refund_when)["origRespCode"], "00")
        f = parse_answer(post(CFG["file_trans_url"], sign({
            "txnType": "76", "txnSubType": "01", "bizType": "000000", "accessType": "0", "fileType": "00",
            "settleDate": refund_when[4:8], "txnTime": txn_time()})))
        self.assertTrue(verify(f))
        z = zipfile.ZipFile(io.BytesIO(zlib.decompress(base64.b64decode(f["fileContent"]))))
        text = z.read(z.namelist()[0]).decode()
        self.assertIn(f"01|{order}|{when}|{front['queryId']}|50000", text)
        self.assertIn(f"04|{refund_id}|{refund_when}", text)

    def test_a_tampered_request_is_refused(self):
        form = sign({"txnType": "00", "txnSubType": "00", "bizType": "000000", "accessType": "0",
                     "orderId": uuid.uuid4().hex, "txnTime": txn_time()})
        form["orderId"] = uuid.uuid4().hex
        a = parse_answer(post(CFG["query_trans_url"], form))
        self.assertEqual(a["respCode"], "11")
        self.assertTrue(verify(a), "even refusals are signed")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"# pass {result.testsRun - failed}")
    print(f"# fail {failed}")
    raise SystemExit(1 if failed else 0)
