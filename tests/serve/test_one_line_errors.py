"""The server's error is one line whatever the request quoted: line breaks, carriage returns, NEL,
U+2028 and terminal escapes in a feature, a category, a model or version name come back escaped
in the message (not only in the JSON text), so a client that prints ``error`` prints one line."""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest

from keel.serve._infer import error_answer

from .conftest import Models, Running

BREAKS = ["\n", "\r", "\x85", "\u2028", "\x1b[2J"]


def test_error_answer_writes_control_characters_escaped() -> None:
    answer = error_answer("unknown feature 'a\nb\u2028c\x85d\x1be'", 422)
    message = orjson.loads(answer.body)["error"]
    assert message == "unknown feature 'a\\nb\\u2028c\\x85d\\x1be'"
    assert all(ord(c) >= 0x20 for c in answer.body.decode())


def _one_line(answer, status: int) -> str:
    assert answer.status_code == status, (answer.status_code, answer.text)
    message = answer.json()["error"]
    assert len(message.splitlines()) == 1 and not any(b in message for b in BREAKS), message
    assert not any(b in answer.text for b in ("\x85", "\u2028", "\x1b")), answer.text
    return message


@pytest.mark.parametrize("brk", BREAKS, ids=repr)
def test_request_values_holding_line_breaks_come_back_on_one_line(
    server: Running, models: Models, brk: str
) -> None:
    record = {"age": 30.0, "income": 50.0, "city": f"pa{brk}ris"}
    with server.client(models.keys["reader"]) as client:
        message = _one_line(
            client.post("/v1/models/shop:predict", json={"instances": [record]}), 422
        )
        assert "city" in message
        extra = {"age": 30.0, "income": 50.0, "city": "paris", f"x{brk}y": 1}
        message = _one_line(
            client.post("/v1/models/shop:predict", json={"instances": [extra]}), 422
        )
        assert "unknown feature" in message
        sent = quote(brk, safe="")  # percent-encoded: the server decodes it back
        for path in (f"/v1/models/sh{sent}op:predict", f"/v2/models/digits/versions/1{sent}/infer"):
            _one_line(client.post(path, json={"instances": [record]}), 404)
