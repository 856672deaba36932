"""The environment registry, sans I/O: register an executor, connect a client, validate a client key.

- ``POST /cloud/environment/ENV/register`` (bearer required): the executor's hybrid public key in, a
  registration id and its rendezvous URL (``role=environment``) out. A new registration replaces the old
  one (new id). ``.../direct/register`` (``direct_jsonrpc_v1``) is answered the same way, without a key.
- ``POST /cloud/environment/ENV/connect`` (bearer = the auth token when one is configured): the client's
  public key in; the executor's key exactly as registered, the registration id, a client rendezvous URL
  (``role=harness``) and a ``harness_key_authorization`` bound to that key and registration out.
- ``POST /cloud/environment/ENV/validate``: the executor asks whether a client key, with its
  authorization, may use registration ``executor_registration_id``: ``{"valid": bool}``.

Errors are ``{"error": {"code", "message"}}``. The fault plan may replace any answer (``faults.py``).
Each method returns a :class:`Reply` the asyncio layer sends after ``delay_s``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from execserver_relay.faults import FaultPlan

SECURITY_PROFILE = "noise_hybrid_ik_v1"
DIRECT_TRANSPORT = "direct_jsonrpc_v1"


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, JSON body, and how long to wait before sending it."""

    status: int
    body: dict[str, Any]
    delay_s: float = 0.0
    injected: bool = False


@dataclass
class Registration:
    """One executor registration."""

    environment_id: str
    registration_id: str
    security_profile: str
    executor_public_key: Any
    authorizations: dict[str, str] = field(default_factory=dict)  # harness_key_authorization -> key (JSON)


def _error(status: int, code: str, message: str, **kw: Any) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, **kw)


def _key_text(key: Any) -> str:
    """A canonical text of a public key object, to compare the key a client presented with the one validated."""
    if not isinstance(key, Mapping):
        return repr(key)
    return "|".join(f"{k}={key[k]}" for k in sorted(key))


UrlFor = Callable[[str, str, str, str | None], str]  # (role, environment id, registration id, ws base) -> URL


class Registry:
    """Registrations by environment id; ``url_for`` makes the rendezvous URLs it hands out.

    ``ws_base`` (per call) is the ``ws://host:port`` the caller reached the registry at, so that a caller
    behind a proxy (Toxiproxy on its hop) meets the relay through the same proxy; None: the relay's own.
    """

    def __init__(self, url_for: UrlFor, *, plan: FaultPlan | None = None,
                 auth_token: str | None = None) -> None:
        self.url_for = url_for
        self.plan = plan if plan is not None else FaultPlan()
        self.auth_token = auth_token
        self.registrations: dict[str, Registration] = {}
        self._count = 0

    def handle(self, endpoint: str, environment_id: str, body: Any, bearer: str | None,
               ws_base: str | None = None) -> Reply:
        """One registry call; ``endpoint`` is register, direct_register, connect or validate."""
        fault = self.plan.registry_fault("register" if endpoint == "direct_register" else endpoint)
        if fault is not None and fault.status != 200:
            return _error(fault.status, fault.code, fault.message, delay_s=fault.delay_s, injected=True)
        if not isinstance(body, Mapping):
            return _error(400, "invalid_request", "the body must be a JSON object")
        if endpoint in ("register", "direct_register"):
            reply = self.register(environment_id, body, bearer, direct=endpoint == "direct_register", ws_base=ws_base)
        elif endpoint == "connect":
            reply = self.connect(environment_id, body, bearer, ws_base=ws_base)
        elif endpoint == "validate":
            reply = self.validate(environment_id, body)
        else:
            return _error(404, "not_found", f"no registry endpoint {endpoint!r}")
        if fault is not None:  # status 200: a slow answer and/or a key the registry refuses
            body_out = dict(reply.body)
            if endpoint == "validate" and not fault.valid:
                body_out["valid"] = False
            return Reply(reply.status, body_out, fault.delay_s, injected=True)
        return reply

    def register(self, environment_id: str, body: Mapping[str, Any], bearer: str | None, *,
                 direct: bool = False, ws_base: str | None = None) -> Reply:
        if not bearer:
            return _error(401, "unauthorized", "registration needs a bearer token")
        if direct:
            if body.get("transport") != DIRECT_TRANSPORT:
                return _error(400, "invalid_request", f"transport must be {DIRECT_TRANSPORT!r}")
            profile: Any = DIRECT_TRANSPORT
            key: Any = None
        else:
            profile, key = body.get("security_profile"), body.get("executor_public_key")
            if profile != SECURITY_PROFILE:
                return _error(400, "invalid_request", f"security_profile must be {SECURITY_PROFILE!r}")
            if not isinstance(key, Mapping) or not key.get("x25519_public_key"):
                return _error(400, "invalid_request", "executor_public_key is missing or malformed")
        self._count += 1
        registration = Registration(environment_id, f"reg-{self._count}", str(profile), key)
        self.registrations[environment_id] = registration
        answer: dict[str, Any] = {
            "environment_id": environment_id,
            "url": self.url_for("environment", environment_id, registration.registration_id, ws_base),
            "security_profile": profile,
            "executor_registration_id": registration.registration_id,
        }
        if direct:
            answer["transport"] = DIRECT_TRANSPORT
        return Reply(200, answer)

    def connect(self, environment_id: str, body: Mapping[str, Any], bearer: str | None, *,
                ws_base: str | None = None) -> Reply:
        if self.auth_token is not None and bearer != self.auth_token:
            return _error(401, "unauthorized", "wrong or missing bearer token")
        registration = self.registrations.get(environment_id)
        if registration is None or registration.executor_public_key is None:
            return _error(409, "environment_offline", f"no executor is registered for {environment_id!r}")
        key = body.get("harness_public_key")
        if not isinstance(key, Mapping):
            return _error(400, "invalid_request", "harness_public_key is missing or malformed")
        authorization = secrets.token_urlsafe(24)
        registration.authorizations[authorization] = _key_text(key)
        return Reply(200, {
            "environment_id": environment_id,
            "url": self.url_for("harness", environment_id, registration.registration_id, ws_base),
            "security_profile": registration.security_profile,
            "executor_registration_id": registration.registration_id,
            "executor_public_key": registration.executor_public_key,
            "harness_key_authorization": authorization,
        })

    def validate(self, environment_id: str, body: Mapping[str, Any]) -> Reply:
        registration = self.registrations.get(environment_id)
        if registration is None:
            return _error(404, "not_found", f"no executor is registered for {environment_id!r}")
        valid = (body.get("executor_registration_id") == registration.registration_id
                 and registration.authorizations.get(str(body.get("harness_key_authorization")))
                 == _key_text(body.get("harness_public_key")))
        return Reply(200, {"valid": valid})
