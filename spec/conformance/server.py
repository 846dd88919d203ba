"""The reference as an adapter: ``snapsync adapter`` serves the protocol from ``impl/``.

It reads requests on stdin and answers on stdout exactly as an implementation
under test must (docs/formats/adapter.md), through the same codec the vectors are
written with, so ``snapsync conform --adapter "snapsync adapter"`` exercises the
whole kit across a real process boundary.

``profile`` (``snapsync adapter --profile P``) makes the adapter behave as profile
``P`` whatever each case's context says: an implementation of ``P`` run against
another profile's vectors (``--profile mosaik-0.3.13`` against the ``reference``
vectors fails where mosaik differs from the spec).

Input is read in chunks; every complete line of a chunk is answered, and stdout is
flushed once per chunk, before the next read can block (the protocol's flush rule).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any

from impl.codec import canonical_json, decode
from impl.collections import COLLECTIONS
from impl.config import Config
from impl.errors import CodecError
from impl.profile import PROFILES, Profile
from impl.steps import STEP_IDS
from spec.conformance.conventions import run_step
from spec.conformance.jsonio import JSONError, json_type, strict_loads
from spec.conformance.nodeops import NodeOps
from spec.conformance.protocol import OPS, PROTOCOL, PROTOCOL_VERSION

__all__ = ["AdapterServer", "serve"]

_STEP_FIELDS = frozenset(OPS["step"].fields) | {"id", "op"}


def _malformed(field: str, message: str) -> dict[str, Any]:
    return {"error": {"kind": "MalformedRequest", "field": field, "message": message}}


class AdapterServer:
    """Answers protocol requests with the reference (see the module docstring)."""

    def __init__(self, profile: Profile | None = None, name: str = "snapsync-reference") -> None:
        from importlib.metadata import PackageNotFoundError, version

        self.profile = profile
        self.name = name if profile is None else f"{name} (as {profile.name})"
        try:
            self.version: str | None = version("snapsync")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            self.version = None
        self.handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "hello": self._hello,
            "step": self._step,
        }
        # The node-level ops (issue #11, snapsync drive): the reference playing whole nodes.
        self.handlers.update(NodeOps(profile).handlers)
        self._configs: dict[str, bool] = {}
        self._decoded: dict[Any, Any] = {}

    def _hello(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("protocol") != PROTOCOL:
            return _malformed("protocol", f"expected {PROTOCOL!r}")
        profiles = [self.profile.name] if self.profile is not None else sorted(PROFILES)
        return {
            "result": {
                "implementation": self.name,
                "version": self.version,
                "protocol_version": PROTOCOL_VERSION,
                "profiles": profiles,
                "steps": list(STEP_IDS),
                "collections": list(COLLECTIONS),
                "ops": sorted(self.handlers),
            }
        }

    def _check_config(self, config: Any, context: Any) -> dict[str, Any] | None:
        text = canonical_json(config)
        if text not in self._configs:
            try:
                decode(config, Config)
            except CodecError as exc:
                return _malformed(f"config.{exc.field}" if exc.field else "config", exc.reason)
            self._configs[text] = True
        if isinstance(context, dict) and "config" in context and context["config"] != config:
            return _malformed("context.config", "differs from the request's config")
        return None

    def _step(self, request: dict[str, Any]) -> dict[str, Any]:
        for key in sorted(request):
            if key not in _STEP_FIELDS:
                return _malformed(key, "unexpected field of a step request")
        for key in sorted(_STEP_FIELDS):
            if key not in request:
                return _malformed(key, "missing field of a step request")
        bad = self._check_config(request["config"], request["context"])
        if bad is not None:
            return bad
        return run_step(
            request["step"],
            request["collection"],
            request["pre"],
            request["context"],
            request["input"],
            self.profile,
            self._decoded,
        )

    def answer(self, line: bytes) -> str:
        """Return the answer line (no newline) to one request line."""
        try:
            request = strict_loads(line)
        except JSONError as exc:
            return canonical_json({"id": None, **_malformed("", f"not a JSON line: {exc}")})
        if not isinstance(request, dict):
            body = _malformed("", f"expected an object, got {json_type(request)}")
            return canonical_json({"id": None, **body})
        request_id = request.get("id")
        op = request.get("op")
        handler = self.handlers.get(op) if isinstance(op, str) else None
        answer: dict[str, Any]
        answer = {"unsupported": f"unknown op {op!r}"} if handler is None else handler(request)
        return canonical_json({"id": request_id, **answer})


def serve(
    server: AdapterServer, stdin_fd: int | None = None, stdout: IO[bytes] | None = None
) -> int:
    """Answer every request line until end of input; return the exit status (0)."""
    import sys

    fd = sys.stdin.fileno() if stdin_fd is None else stdin_fd
    out = sys.stdout.buffer if stdout is None else stdout
    pending = b""
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if lines:
            out.write(
                b"".join(server.answer(line).encode() + b"\n" for line in lines if line.strip())
            )
            out.flush()
    if pending.strip():
        out.write(server.answer(pending).encode() + b"\n")
        out.flush()
    return 0
