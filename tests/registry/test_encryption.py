"""AES-256-GCM at rest: round trips, and every kind of tampering or wrong key is refused."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from keel.errors import IntegrityError, NotFoundError, UserError
from keel.registry._encryption import MAGIC, Cipher, cipher_from_env, generate_key

KEY = os.urandom(32)
AAD = b"0" * 64
NONCE_AT = len(MAGIC)
CIPHERTEXT_AT = len(MAGIC) + 12


def test_round_trip_with_fresh_nonces() -> None:
    cipher = Cipher(KEY)
    one, two = cipher.encrypt(b"secret weights", AAD), cipher.encrypt(b"secret weights", AAD)
    assert one.startswith(MAGIC) and one != two  # a random nonce each time
    assert len(one) == len(MAGIC) + 12 + len(b"secret weights") + 16
    assert cipher.decrypt(one, AAD) == cipher.decrypt(two, AAD) == b"secret weights"
    assert cipher.decrypt(cipher.encrypt(b"", AAD), AAD) == b""


def test_the_key_never_shows_in_repr() -> None:
    assert KEY.hex() not in repr(Cipher(KEY))


def test_a_wrong_key_is_refused() -> None:
    blob = Cipher(KEY).encrypt(b"secret", AAD)
    with pytest.raises(IntegrityError, match="decryption failed") as caught:
        Cipher(os.urandom(32)).decrypt(blob, AAD)
    assert caught.value.exit_code == 3


@pytest.mark.parametrize(
    "where", ["nonce", "ciphertext", "tag", "magic"], ids=lambda w: f"tampered-{w}"
)
def test_any_tampering_is_refused(where: str) -> None:
    blob = bytearray(Cipher(KEY).encrypt(b"secret weights", AAD))
    index = {"nonce": NONCE_AT + 3, "ciphertext": CIPHERTEXT_AT + 2, "tag": -1, "magic": 0}[where]
    blob[index] ^= 0x01
    with pytest.raises(IntegrityError):
        Cipher(KEY).decrypt(bytes(blob), AAD)


def test_truncated_blob_is_refused() -> None:
    blob = Cipher(KEY).encrypt(b"secret", AAD)
    for cut in (len(MAGIC) + 5, len(blob) - 1):
        with pytest.raises(IntegrityError):
            Cipher(KEY).decrypt(blob[:cut], AAD)


def test_a_blob_moved_to_another_address_is_refused() -> None:
    blob = Cipher(KEY).encrypt(b"secret", AAD)
    with pytest.raises(IntegrityError, match="moved"):
        Cipher(KEY).decrypt(blob, b"1" * 64)


def test_an_unencrypted_blob_is_refused_when_encryption_is_on() -> None:
    with pytest.raises(IntegrityError, match="not encrypted, but encryption is on"):
        Cipher(KEY).decrypt(b'{"format": "keel.manifest/1"}', AAD)


def test_a_key_of_the_wrong_size_is_a_user_error() -> None:
    with pytest.raises(UserError, match="32 bytes, got 16"):
        Cipher(os.urandom(16))


# -- keys from the environment -------------------------------------------------------------------


def test_no_variable_means_no_encryption() -> None:
    assert cipher_from_env({}) is None
    assert cipher_from_env({"KEEL_ENCRYPTION_KEY": ""}) is None


@pytest.mark.parametrize(
    "form",
    [
        KEY.hex(),
        KEY.hex().upper(),
        base64.b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode(),
        f"  {KEY.hex()}\n",
    ],
)
def test_key_from_variable_in_hex_or_base64(form: str) -> None:
    cipher = cipher_from_env({"KEEL_ENCRYPTION_KEY": form})
    assert cipher is not None
    assert Cipher(KEY).decrypt(cipher.encrypt(b"x", AAD), AAD) == b"x"


@pytest.mark.parametrize(
    "bad", ["zz" * 32, KEY.hex()[:-2], base64.b64encode(KEY[:16]).decode(), "hunter2", "é" * 64]
)
def test_a_malformed_key_names_the_variable_and_never_echoes_it(bad: str) -> None:
    with pytest.raises(UserError, match=r"KEEL_ENCRYPTION_KEY.*64 hex characters") as caught:
        cipher_from_env({"KEEL_ENCRYPTION_KEY": bad})
    assert bad.strip() not in str(caught.value)


def test_key_from_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(generate_key() + "\n")
    path.chmod(0o600)
    cipher = cipher_from_env({"KEEL_ENCRYPTION_KEY_FILE": str(path)})
    assert cipher is not None
    expected = Cipher(bytes.fromhex(path.read_text().strip()))
    assert expected.decrypt(cipher.encrypt(b"x", AAD), AAD) == b"x"


def test_a_group_readable_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(generate_key())
    path.chmod(0o640)
    with pytest.raises(IntegrityError, match=f"mode 0640.*chmod 600 {path}"):
        cipher_from_env({"KEEL_ENCRYPTION_KEY_FILE": str(path)})


def test_key_file_problems_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"KEEL_ENCRYPTION_KEY_FILE=.*nope"):
        cipher_from_env({"KEEL_ENCRYPTION_KEY_FILE": str(tmp_path / "nope")})
    bad = tmp_path / "bad"
    bad.write_text("not a key")
    bad.chmod(0o600)
    with pytest.raises(UserError, match="KEEL_ENCRYPTION_KEY_FILE is not a valid"):
        cipher_from_env({"KEEL_ENCRYPTION_KEY_FILE": str(bad)})


def test_both_variables_set_is_ambiguous(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="both"):
        cipher_from_env(
            {"KEEL_ENCRYPTION_KEY": KEY.hex(), "KEEL_ENCRYPTION_KEY_FILE": str(tmp_path)}
        )


def test_generated_keys_are_fresh_256_bit_hex() -> None:
    one, two = generate_key(), generate_key()
    assert one != two and len(bytes.fromhex(one)) == 32
