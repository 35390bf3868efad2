"""Schemathesis hooks for `scripts/schemathesis`.

Shopify signs every webhook body with the app secret (base64 HMAC-SHA256 of the exact bytes in
`X-Shopify-Hmac-Sha256`). Unsigned, the four webhook operations would answer `401` to everything
and their parsers would never be reached, so this hook serializes each generated webhook body
itself, sends exactly those bytes and signs them, from the registered shop. Generated headers stay
as generated otherwise (topic, event id, Triggered-At), so malformed ones still arrive signed.
"""

import base64
import hashlib
import hmac
import json
import os

import schemathesis

SECRET = os.environ["SHOPIFY_API_SECRET"].encode()
SHOP = os.environ["SCHEMATHESIS_SHOP"]
SIGNED = {"/webhooks", "/webhooks/orders", "/webhooks/customers", "/webhooks/products"}


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path not in SIGNED or case.method.upper() != "POST":
        return
    body = case.body
    if isinstance(body, (bytes, bytearray)):
        raw = bytes(body)
    else:
        try:
            raw = json.dumps(body, allow_nan=False).encode()
        except (TypeError, ValueError):
            raw = repr(body).encode()
    kwargs["data"] = raw
    headers = case.headers if case.headers is not None else {}
    # Only headers the case carries are replaced: a case testing a missing one keeps it missing.
    names = {k.lower(): k for k in headers}
    if "x-shopify-shop-domain" in names:
        headers[names["x-shopify-shop-domain"]] = SHOP
    if "x-shopify-hmac-sha256" in names:
        headers[names["x-shopify-hmac-sha256"]] = base64.b64encode(
            hmac.new(SECRET, raw, hashlib.sha256).digest()
        ).decode()
    headers["Content-Type"] = "application/json"
    case.headers = headers


QUERY_SIGNED = {"/shopify/install", "/shopify/callback"}


def _query_hmac(params):
    """Shopify's query hmac: hex HMAC-SHA256 of every other parameter, sorted, `k=v` joined by `&`."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("hmac", "signature"))
    return hmac.new(SECRET, message.encode(), hashlib.sha256).hexdigest()


@schemathesis.hook("before_call")
def sign_install_queries(context, case, kwargs):
    """Shopify's install and callback URLs carry an `hmac` of their query: sign generated queries
    (plain string values only; anything else is left to be refused) so the handlers past the
    signature check are exercised too."""
    if case.operation.path not in QUERY_SIGNED or not isinstance(case.query, dict):
        return
    if all(isinstance(v, str) for v in case.query.values()):
        case.query["hmac"] = _query_hmac(case.query)
