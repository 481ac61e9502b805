"""WeCom callback cryptography (docs 90238, 90930, 90968).

- Signature: SHA-1 hex of the sorted concatenation of [token, timestamp, nonce, encrypt].
- AES-256-CBC with key = base64decode(EncodingAESKey + "="), IV = key[:16], PKCS#7 padding
  to a 32-byte block. Plaintext = random(16) + msg_len (4 bytes, big-endian) + msg +
  receive_id (the corp id for app callbacks).

Built on pycryptodome directly: wechatpy's helper compares signatures with `!=` and raises
its own exception types, while callers here want one `CryptoError` and constant-time checks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from xml.sax.saxutils import escape

from Crypto.Cipher import AES

BLOCK_SIZE = 32  # WeCom pads to 32 bytes, not AES's 16.
RANDOM_PREFIX = 16
LENGTH_FIELD = 4


class CryptoError(ValueError):
    """A callback could not be verified or decrypted."""


def _cdata(value: str) -> str:
    # Base64 and our own nonces never contain "]]>", but stay safe for any caller.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class WeComCrypto:
    """Sign, verify, encrypt and decrypt WeCom callback payloads for one receiver."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise CryptoError("an EncodingAESKey is exactly 43 characters")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise CryptoError("the EncodingAESKey is not base64") from exc
        if len(key) != 32:
            raise CryptoError("the EncodingAESKey does not decode to 32 bytes")
        self.token = token
        self.receive_id = receive_id
        self._key = key
        self._iv = key[:16]

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """SHA-1 hex of the sorted concatenation of token, timestamp, nonce and encrypt."""
        parts = sorted([self.token, str(timestamp), str(nonce), encrypt])
        return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()  # noqa: S324 - WeCom's protocol

    def check_signature(self, signature: str, timestamp: str, nonce: str, encrypt: str) -> bool:
        """Constant-time comparison of the expected and the given `msg_signature`."""
        expected = self.signature(timestamp, nonce, encrypt)
        return hmac.compare_digest(expected.encode("ascii"), (signature or "").encode("utf-8"))

    def encrypt(self, plaintext: bytes) -> str:
        """Base64 of AES-256-CBC(random(16) + len + plaintext + receive_id), PKCS#7 to 32."""
        body = (
            secrets.token_bytes(RANDOM_PREFIX)
            + struct.pack(">I", len(plaintext))
            + plaintext
            + self.receive_id.encode("utf-8")
        )
        pad = BLOCK_SIZE - len(body) % BLOCK_SIZE
        body += bytes([pad]) * pad
        cipher = AES.new(self._key, AES.MODE_CBC, self._iv)
        return base64.b64encode(cipher.encrypt(body)).decode("ascii")

    def decrypt(self, encrypt: str) -> bytes:
        """The message inside `encrypt`; CryptoError on bad base64, padding or receive_id."""
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("the ciphertext is not base64") from exc
        if not raw or len(raw) % AES.block_size:
            raise CryptoError("the ciphertext length is not a multiple of the AES block")
        cipher = AES.new(self._key, AES.MODE_CBC, self._iv)
        body = cipher.decrypt(raw)
        pad = body[-1]
        if not 1 <= pad <= BLOCK_SIZE or body[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad PKCS#7 padding")
        body = body[:-pad]
        if len(body) < RANDOM_PREFIX + LENGTH_FIELD:
            raise CryptoError("the plaintext is too short")
        (length,) = struct.unpack(">I", body[RANDOM_PREFIX : RANDOM_PREFIX + LENGTH_FIELD])
        start = RANDOM_PREFIX + LENGTH_FIELD
        if start + length > len(body):
            raise CryptoError("the message length field is out of range")
        message = body[start : start + length]
        receive_id = body[start + length :]
        if not hmac.compare_digest(receive_id, self.receive_id.encode("utf-8")):
            raise CryptoError("the receive_id does not match")
        return message

    def encrypt_reply(self, xml: str, timestamp: str, nonce: str) -> str:
        """The encrypted passive-reply envelope WeCom expects in the HTTP response body."""
        encrypt = self.encrypt(xml.encode("utf-8"))
        signature = self.signature(timestamp, nonce, encrypt)
        return (
            "<xml>"
            f"<Encrypt>{_cdata(encrypt)}</Encrypt>"
            f"<MsgSignature>{_cdata(signature)}</MsgSignature>"
            f"<TimeStamp>{escape(str(timestamp))}</TimeStamp>"
            f"<Nonce>{_cdata(str(nonce))}</Nonce>"
            "</xml>"
        )
