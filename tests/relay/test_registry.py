"""The environment registry and its faults, and the fault plan's JSON form, with no network."""

from __future__ import annotations

from typing import Any

import pytest
from execserver_relay.faults import FaultPlan, FaultSpecError, FrameFault, RegistryFault, fault_from_json
from execserver_relay.registry import SECURITY_PROFILE, Registry

ENV = "env-1"
EXECUTOR_KEY = {"suite": "Noise_hybridIK_X25519+MLKEM768_AESGCM_SHA256", "x25519_public_key": "eA==",
                "mlkem768_public_key": "bQ=="}
HARNESS_KEY = {**EXECUTOR_KEY, "x25519_public_key": "aA=="}


def url_for(role: str, env: str, registration: str, ws_base: str | None) -> str:
    return f"{ws_base or 'ws://127.0.0.1:1'}/relay?role={role}&environment_id={env}"


@pytest.fixture
def registry() -> Registry:
    return Registry(url_for, plan=FaultPlan(), auth_token="tok")


def register(registry: Registry) -> dict[str, Any]:
    reply = registry.handle("register", ENV, {"security_profile": SECURITY_PROFILE,
                                              "executor_public_key": EXECUTOR_KEY}, "bearer")
    assert reply.status == 200, reply
    return dict(reply.body)


def connect(registry: Registry, key: dict[str, str] = HARNESS_KEY) -> dict[str, Any]:
    reply = registry.handle("connect", ENV, {"harness_public_key": key}, "tok")
    assert reply.status == 200, reply
    return dict(reply.body)


def validate(registry: Registry, registration: str, key: dict[str, str], authorization: str) -> Any:
    return registry.handle("validate", ENV, {"executor_registration_id": registration, "harness_public_key": key,
                                             "harness_key_authorization": authorization}, None)


def test_register_connect_validate_hand_both_sides_the_same_registration(registry: Registry) -> None:
    registered = register(registry)
    assert registered["environment_id"] == ENV and registered["security_profile"] == SECURITY_PROFILE
    assert "role=environment" in registered["url"]
    connected = connect(registry)
    assert connected["executor_registration_id"] == registered["executor_registration_id"]
    assert connected["executor_public_key"] == EXECUTOR_KEY and "role=harness" in connected["url"]
    answer = validate(registry, connected["executor_registration_id"], HARNESS_KEY,
                      connected["harness_key_authorization"])
    assert (answer.status, answer.body) == (200, {"valid": True})


def test_validate_refuses_another_key_or_a_stale_registration(registry: Registry) -> None:
    register(registry)
    connected = connect(registry)
    assert validate(registry, connected["executor_registration_id"], EXECUTOR_KEY,
                    connected["harness_key_authorization"]).body == {"valid": False}
    register(registry)  # a new registration: the old id is stale
    assert validate(registry, connected["executor_registration_id"], HARNESS_KEY,
                    connected["harness_key_authorization"]).body == {"valid": False}


@pytest.mark.parametrize(("endpoint", "body", "bearer", "status", "code"), [
    ("register", {"security_profile": SECURITY_PROFILE, "executor_public_key": EXECUTOR_KEY}, None, 401,
     "unauthorized"),
    ("register", {"security_profile": "plain", "executor_public_key": EXECUTOR_KEY}, "b", 400, "invalid_request"),
    ("register", ["not", "an", "object"], "b", 400, "invalid_request"),
    ("connect", {"harness_public_key": HARNESS_KEY}, "wrong", 401, "unauthorized"),
    ("connect", {"harness_public_key": HARNESS_KEY}, "tok", 409, "environment_offline"),
])
def test_bad_calls_get_an_error_object(registry: Registry, endpoint: str, body: Any, bearer: str | None,
                                       status: int, code: str) -> None:
    reply = registry.handle(endpoint, ENV, body, bearer)
    assert reply.status == status and reply.body["error"]["code"] == code


def test_urls_follow_the_address_the_caller_used(registry: Registry) -> None:
    body = {"security_profile": SECURITY_PROFILE, "executor_public_key": EXECUTOR_KEY}
    reply = registry.handle("register", ENV, body, "bearer", "ws://127.0.0.1:9")
    assert reply.body["url"].startswith("ws://127.0.0.1:9/relay?role=environment")


def test_direct_transport_registration(registry: Registry) -> None:
    reply = registry.handle("direct_register", ENV, {"transport": "direct_jsonrpc_v1"}, "bearer")
    assert reply.status == 200 and reply.body["transport"] == "direct_jsonrpc_v1"


@pytest.mark.parametrize(("endpoint", "status", "code"), [
    ("register", 503, "unavailable"),
    ("connect", 409, "environment_offline"),
    ("connect", 500, "internal"),
    ("connect", 408, "timeout"),
    ("connect", 429, "rate_limited"),
    ("validate", 503, "unavailable"),
])
def test_registry_fault_answers_the_nth_call_with_an_error(registry: Registry, endpoint: str, status: int,
                                                           code: str) -> None:
    if endpoint != "register":
        register(registry)
    registry.plan.add(RegistryFault(endpoint, status=status, code=code, nth=1))
    body = {"register": {"security_profile": SECURITY_PROFILE, "executor_public_key": EXECUTOR_KEY},
            "connect": {"harness_public_key": HARNESS_KEY}, "validate": {}}[endpoint]
    reply = registry.handle(endpoint, ENV, body, "tok" if endpoint == "connect" else "b")
    assert (reply.status, reply.body["error"]["code"], reply.injected) == (status, code, True)
    assert registry.handle(endpoint, ENV, body, "tok" if endpoint == "connect" else "b").status in (200,)


def test_slow_validate_fault_answers_late_but_correctly(registry: Registry) -> None:
    register(registry)
    connected = connect(registry)
    registry.plan.add(RegistryFault("validate", status=200, delay_s=11.0))
    reply = validate(registry, connected["executor_registration_id"], HARNESS_KEY,
                     connected["harness_key_authorization"])
    assert (reply.status, reply.body, reply.delay_s) == (200, {"valid": True}, 11.0)


def test_invalid_validate_fault_says_valid_false(registry: Registry) -> None:
    register(registry)
    connected = connect(registry)
    registry.plan.add(RegistryFault("validate", status=200, valid=False))
    reply = validate(registry, connected["executor_registration_id"], HARNESS_KEY,
                     connected["harness_key_authorization"])
    assert reply.body == {"valid": False}


def test_fault_json_round_trip_and_errors() -> None:
    fault = fault_from_json({"kind": "frame", "action": "drop", "nth": 5})
    assert fault == FrameFault("drop", nth=5)
    for spec, message in [
        ({"kind": "nope"}, "fault kind"),
        ({"kind": "frame", "action": "explode"}, "frame action"),
        ({"kind": "frame", "action": "drop", "nth": 0}, "nth"),
        ({"kind": "frame", "action": "drop", "colour": 1}, "unknown field"),
        ({"kind": "upgrade", "status": 200}, "not an HTTP error"),
        ({"kind": "registry", "endpoint": "elsewhere"}, "endpoint"),
        ("drop", "JSON object"),
    ]:
        with pytest.raises(FaultSpecError, match=message):
            fault_from_json(spec)
