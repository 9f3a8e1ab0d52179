"""Schema-driven fuzzing of the open API with schemathesis (PyPI), against a running
`bursar demo`: every operation of the served OpenAPI document gets generated requests — valid
and invalid — each signed exactly as an integrator would sign it. Checks: no 5xx, every status
code documented, every response conforming to its schema, content types as documented.

Environment: BURSAR_API_CREDENTIALS (the demo's demo_app.json)."""

import hashlib
import hmac
import json
import os
import time
import uuid

import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# What the API promises: no 5xx; only documented status codes, content types and headers;
# every response body as its schema says; schema-invalid requests refused with a 4xx. (Checks
# about authentication are not used: every request here is signed, on purpose.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

CREDS = json.load(open(os.environ["BURSAR_API_CREDENTIALS"]))
BASE = CREDS["base_url"].rstrip("/")
schema = schemathesis.openapi.from_url(f"{BASE}/api/v1/openapi.json")


def signed_call(case):
    """Sends the case signed — unless the case is about a wrong Authorization header, which is
    then sent as generated (the API must refuse it)."""
    from schemathesis.generation.meta import negated_parameters

    kwargs = case.as_transport_kwargs(base_url=BASE)
    tampered_auth = any(name.lower() == "authorization" for name, _ in negated_parameters(case._meta))
    body = b""
    if kwargs.get("json") is not None:
        body = json.dumps(kwargs.pop("json")).encode()
    elif kwargs.get("data") is not None:
        data = kwargs.pop("data")
        body = data if isinstance(data, bytes) else str(data).encode()
    kwargs.pop("json", None)
    prepared = requests.Request(kwargs["method"], kwargs["url"], params=kwargs.get("params")).prepare()
    ts, nonce = str(int(time.time())), uuid.uuid4().hex
    message = f"{kwargs['method'].upper()}\n{prepared.path_url}\n{ts}\n{nonce}\n".encode() + body
    sig = hmac.new(CREDS["secret"].encode(), message, hashlib.sha256).hexdigest()
    headers = dict(kwargs.get("headers") or {})
    if not tampered_auth:
        headers["Authorization"] = f'BURSAR-HMAC-SHA256 app_id="{CREDS["app_id"]}",timestamp="{ts}",nonce="{nonce}",signature="{sig}"'
    headers["Content-Type"] = "application/json"
    return requests.request(kwargs["method"], prepared.url, data=body or None, headers=headers, timeout=30)


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_the_schema(case):
    response = signed_call(case)
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
    case.validate_response(response, checks=CHECKS)
