"""Secure by default: every route × every caller (no key, malformed, unknown, revoked, each role),
keys managed over HTTP take effect at once, and the per-key token bucket answers 429."""

from __future__ import annotations

import pytest

from keel.registry import open_registry

from .conftest import Models, Running

BODY = {
    "/v2/models/digits/infer": {
        "inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]
    },
    "/v2/models/digits/versions/1/infer": {
        "inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]
    },
    "/v1/models/shop:predict": {"instances": [{"age": 30.0, "income": 50.0, "city": "nice"}]},
    "/v1/models/digits:promote": {"version": 1, "stage": "production"},  # already there: 400
    "/v1/models/digits:rollback": {"stage": "nostage"},
    "/v1/keys": {"role": "reader", "name": "from-the-matrix"},
}
ROUTES = [
    ("GET", "/v2/health/live", None),
    ("GET", "/v2/health/ready", None),
    ("GET", "/openapi.json", None),
    ("GET", "/docs", None),
    ("GET", "/v2", "reader"),
    ("GET", "/v2/models/digits", "reader"),
    ("GET", "/v2/models/digits/versions/1", "reader"),
    ("GET", "/v2/models/digits/ready", "reader"),
    ("GET", "/v2/models/digits/versions/1/ready", "reader"),
    ("POST", "/v2/models/digits/infer", "reader"),
    ("POST", "/v2/models/digits/versions/1/infer", "reader"),
    ("GET", "/v1/models", "reader"),
    ("GET", "/v1/models/digits", "reader"),
    ("POST", "/v1/models/shop:predict", "reader"),
    ("GET", "/metrics", "reader"),
    ("POST", "/v1/models/digits:reload", "operator"),
    ("POST", "/v1/models/digits:promote", "operator"),
    ("POST", "/v1/models/digits:rollback", "operator"),
    ("GET", "/v1/keys", "admin"),
    ("POST", "/v1/keys", "admin"),
    ("DELETE", "/v1/keys/000000000000", "admin"),
]
RANK = {"reader": 1, "operator": 2, "admin": 3}
BAD_KEYS = {
    "none": None,
    "malformed": "hello",
    "unknown": "keel_000000000000_" + "A" * 43,
}


def _call(server: Running, key: str | None, method: str, path: str):
    with server.client(key) as client:
        return client.request(method, path, json=BODY.get(path))


def test_the_route_list_covers_every_route(server: Running):
    with server.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    documented = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    listed = {(m, p.replace("digits", "{name}").replace("shop", "{name}")) for m, p, _ in ROUTES}
    listed = {(m, p.replace("/versions/1", "/versions/{version}")) for m, p in listed}
    listed = {(m, p.replace("000000000000", "{key_id}")) for m, p in listed}
    assert documented <= listed | {("GET", "/docs"), ("GET", "/openapi.json")}


@pytest.mark.parametrize(("method", "path", "role"), ROUTES)
@pytest.mark.parametrize("caller", ["none", "malformed", "unknown", "revoked"])
def test_without_a_live_key_only_open_routes_answer(server, models, method, path, role, caller):
    key = models.keys["revoked"] if caller == "revoked" else BAD_KEYS[caller]
    answer = _call(server, key, method, path)
    if role is None:
        assert answer.status_code == 200
        return
    assert answer.status_code == 401, answer.text
    message = answer.json()["error"]
    assert "\n" not in message and (key is None or key not in message)
    if caller == "revoked":
        assert "revoked" in message


@pytest.mark.parametrize(("method", "path", "role"), ROUTES)
@pytest.mark.parametrize("caller", ["reader", "operator", "admin"])
def test_each_role_reaches_exactly_its_routes(server, models, method, path, role, caller):
    answer = _call(server, models.keys[caller], method, path)
    if role is not None and RANK[caller] < RANK[role]:
        assert answer.status_code == 403, answer.text
        assert f"needs {role}" in answer.json()["error"]
    else:
        assert answer.status_code not in (401, 403), answer.text
        assert answer.status_code < 500, answer.text


def test_a_key_made_and_revoked_over_http_works_then_is_refused_at_once(server, models):
    with server.client(models.keys["admin"]) as admin:
        made = admin.post("/v1/keys", json={"role": "reader", "name": "short-lived"})
        assert made.status_code == 201, made.text
        key, key_id = made.json()["key"], made.json()["key_id"]
        assert admin.get("/v1/keys").json()["keys"][-1]["key_id"] == key_id
        assert "key_hash" not in admin.get("/v1/keys").text
        with server.client(key) as reader:
            assert reader.get("/v2/models/digits").status_code == 200
            assert admin.delete(f"/v1/keys/{key_id}").status_code == 200
            refused = reader.get("/v2/models/digits")
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    with open_registry(models.settings, create=False) as registry:
        admin_id = models.keys["admin"].split("_")[1]
        entries = [e for e in registry.store.audit_entries() if key_id in e.target]
    assert [(e.action, e.actor) for e in entries] == [
        ("key.create", f"api-key:{admin_id}"),
        ("key.revoke", f"api-key:{admin_id}"),
    ]


def test_bearer_scheme_and_header_forms(server, models):
    key = models.keys["reader"]
    with server.client() as client:
        assert client.get("/v2", headers={"X-API-Key": key}).status_code == 200
        assert client.get("/v2", headers={"Authorization": f"bearer {key}"}).status_code == 200
        basic = client.get("/v2", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 401 and "Bearer" in basic.json()["error"]


def test_rate_limit_answers_429_with_retry_after(models: Models, start_server):
    running = start_server(models, "digits:1", "--rate-limit", "1", "--burst", "3")
    with running.client(models.keys["reader"]) as client:
        statuses = [client.get("/v2/models/digits").status_code for _ in range(8)]
        limited = client.get("/v2/models/digits")
        health = [client.get("/v2/health/ready").status_code for _ in range(5)]
    with running.client(models.keys["operator"]) as other:
        assert other.get("/v2/models/digits").status_code == 200  # buckets are per key
    assert statuses[:3] == [200, 200, 200] and set(statuses[3:]) == {429}
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "rate limit" in limited.json()["error"]
    assert health == [200] * 5
