"""The outer layer of a WeCom callback: size, freshness, signature, safe XML, decryption.

Everything here either returns the verified plaintext or raises `Rejected` with the HTTP
status to answer; nothing touches the database. Order of checks (cheapest first, and never
decrypting what is not signed):

1. the body fits `MAX_BODY` (64 KB; WeCom's largest event is a few KB)   → 413
2. `msg_signature`, `timestamp`, `nonce` are present and sane              → 400
3. `timestamp` is within ±300 s of our clock (a replay is stale)          → 403
4. the outer XML parses without DTDs or entities (defusedxml)             → 400
5. the signature over token, timestamp, nonce and Encrypt, constant-time → 403
6. decryption (padding, length, receive id = corp id)                     → 400
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from wework.crypto import CryptoError, WeComCrypto

MAX_BODY = 64 * 1024
MAX_WINDOW_SECONDS = 300
_NONCE_RE = re.compile(r"^[0-9A-Za-z_\-]{1,64}$")
_SIGNATURE_RE = re.compile(r"^[0-9a-fA-F]{40}$")
_TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")


class Rejected(Exception):
    """The callback is refused with `status`; `reason` goes to the log, never to the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Query:
    signature: str
    timestamp: str
    nonce: str


def parse_query(args: Mapping[str, str], now: float) -> Query:
    signature = args.get("msg_signature", "")
    timestamp = args.get("timestamp", "")
    nonce = args.get("nonce", "")
    if not _SIGNATURE_RE.fullmatch(signature):
        raise Rejected(400, "missing or malformed msg_signature")
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        raise Rejected(400, "missing or malformed timestamp")
    if not _NONCE_RE.fullmatch(nonce):
        raise Rejected(400, "missing or malformed nonce")
    if abs(now - int(timestamp)) > MAX_WINDOW_SECONDS:
        raise Rejected(403, f"timestamp {timestamp} outside the ±{MAX_WINDOW_SECONDS} s window")
    return Query(signature, timestamp, nonce)


def _verified_plaintext(crypto: WeComCrypto, query: Query, encrypt: str) -> bytes:
    if not encrypt or not crypto.check_signature(
        query.signature, query.timestamp, query.nonce, encrypt
    ):
        raise Rejected(403, "bad signature")
    try:
        return crypto.decrypt(encrypt)
    except CryptoError as exc:
        raise Rejected(400, f"cannot decrypt: {exc}") from exc


def verify_url(crypto: WeComCrypto, args: Mapping[str, str], now: float) -> str:
    """The URL check (GET): the decrypted `echostr`, to be answered bare."""
    query = parse_query(args, now)
    echostr = args.get("echostr", "")
    if not echostr or len(echostr) > 4096:
        raise Rejected(400, "missing or oversized echostr")
    plaintext = _verified_plaintext(crypto, query, echostr)
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(400, "echostr is not UTF-8") from exc


def parse_xml(data: bytes | str) -> Element:
    """An XML document without DTDs, entities or external references, or Rejected(400).

    defusedxml raises its own errors for DTDs and entities (billion laughs, XXE); xmltodict
    (wechatpy's parser) would raise ValueError("entities are disabled"): both are caught.
    """
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError, UnicodeError) as exc:
        raise Rejected(400, f"unsafe or malformed XML: {type(exc).__name__}") from exc
    if root.tag != "xml":
        raise Rejected(400, f"unexpected root element {root.tag[:40]!r}")
    return root


def child_text(element: Element, name: str) -> str:
    found = element.find(name)
    return (found.text or "").strip() if found is not None else ""


def open_envelope(crypto: WeComCrypto, args: Mapping[str, str], body: bytes, now: float) -> bytes:
    """The verified, decrypted inner XML of a POSTed callback."""
    if len(body) > MAX_BODY:
        raise Rejected(413, f"body of {len(body)} bytes")
    query = parse_query(args, now)
    outer = parse_xml(body)
    to_user = child_text(outer, "ToUserName")
    if to_user and to_user != crypto.receive_id:
        raise Rejected(403, "outer ToUserName is not our corp")
    return _verified_plaintext(crypto, query, child_text(outer, "Encrypt"))


def seal(crypto: WeComCrypto, reply_xml: str, now: float) -> str:
    """The encrypted passive-reply envelope for `reply_xml`."""
    return crypto.encrypt_reply(reply_xml, str(int(now)), secrets.token_hex(8))
