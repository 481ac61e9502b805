"""WeComCrypto against Tencent's official sample vectors (sbzhu/weworkapi_python Sample.py)."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest
from Crypto.Cipher import AES

from wework.crypto import CryptoError, WeComCrypto

TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP_ID = "ww1436e0e65a779aee"

ECHO_SIGNATURE = "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb"
ECHO_TIMESTAMP = "1476416373"
ECHO_NONCE = "47744683"
ECHOSTR = "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="

MSG_SIGNATURE = "0c3914025cb4b4d68103f6bfc8db550f79dcf48e"
MSG_TIMESTAMP = "1476422779"
MSG_NONCE = "1597212914"
MSG_ENCRYPT = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAg"
    "GzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9"
    "U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qA"
    "RR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6a"
    "SDPOYuPDGOCI8jmnKiypE+"
)


@pytest.fixture
def crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


def test_url_check_sample(crypto: WeComCrypto) -> None:
    assert crypto.signature(ECHO_TIMESTAMP, ECHO_NONCE, ECHOSTR) == ECHO_SIGNATURE
    assert crypto.check_signature(ECHO_SIGNATURE, ECHO_TIMESTAMP, ECHO_NONCE, ECHOSTR)
    assert crypto.decrypt(ECHOSTR) == b"1288432023552776189"


def test_message_sample(crypto: WeComCrypto) -> None:
    assert crypto.check_signature(MSG_SIGNATURE, MSG_TIMESTAMP, MSG_NONCE, MSG_ENCRYPT)
    root = ET.fromstring(crypto.decrypt(MSG_ENCRYPT))
    assert root.findtext("ToUserName") == CORP_ID
    assert root.findtext("MsgType") == "text"
    assert root.findtext("AgentID") == "1000002"


def test_wrong_signature_is_refused(crypto: WeComCrypto) -> None:
    assert not crypto.check_signature(ECHO_SIGNATURE, ECHO_TIMESTAMP, "1", ECHOSTR)
    assert not crypto.check_signature("", ECHO_TIMESTAMP, ECHO_NONCE, ECHOSTR)
    assert not crypto.check_signature("签名", ECHO_TIMESTAMP, ECHO_NONCE, ECHOSTR)


@pytest.mark.parametrize("message", [b"", b"x", "你好，世界".encode(), b"a" * 31, b"b" * 1000])
def test_round_trip(crypto: WeComCrypto, message: bytes) -> None:
    encrypted = crypto.encrypt(message)
    assert len(base64.b64decode(encrypted)) % 32 == 0
    assert crypto.decrypt(encrypted) == message
    assert crypto.encrypt(message) != encrypted  # a random prefix every time


def test_receive_id_mismatch(crypto: WeComCrypto) -> None:
    other = WeComCrypto(TOKEN, AES_KEY, "wwsomeoneelse")
    with pytest.raises(CryptoError, match="receive_id"):
        other.decrypt(crypto.encrypt(b"hello"))


def test_wrong_key_fails_cleanly(crypto: WeComCrypto) -> None:
    other = WeComCrypto(TOKEN, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", CORP_ID)
    with pytest.raises(CryptoError):
        other.decrypt(crypto.encrypt(b"hello"))


def test_bad_padding(crypto: WeComCrypto) -> None:
    key = base64.b64decode(AES_KEY + "=")
    body = b"\x00" * 31 + b"\x21"  # pad byte 33 > 32
    raw = AES.new(key, AES.MODE_CBC, key[:16]).encrypt(body)
    with pytest.raises(CryptoError, match="padding"):
        crypto.decrypt(base64.b64encode(raw).decode())


@pytest.mark.parametrize("garbage", ["", "not base64!!", base64.b64encode(b"short").decode()])
def test_garbage_ciphertext(crypto: WeComCrypto, garbage: str) -> None:
    with pytest.raises(CryptoError):
        crypto.decrypt(garbage)


def test_bad_aes_key() -> None:
    with pytest.raises(CryptoError):
        WeComCrypto(TOKEN, "short", CORP_ID)
    with pytest.raises(CryptoError):
        WeComCrypto(TOKEN, "!" * 43, CORP_ID)


def test_encrypt_reply_envelope(crypto: WeComCrypto) -> None:
    reply = "<xml><MsgType><![CDATA[update_button]]></MsgType></xml>"
    envelope = ET.fromstring(crypto.encrypt_reply(reply, MSG_TIMESTAMP, MSG_NONCE))
    encrypt = envelope.findtext("Encrypt") or ""
    assert envelope.findtext("TimeStamp") == MSG_TIMESTAMP
    assert envelope.findtext("Nonce") == MSG_NONCE
    assert envelope.findtext("MsgSignature") == crypto.signature(MSG_TIMESTAMP, MSG_NONCE, encrypt)
    assert crypto.decrypt(encrypt).decode() == reply
