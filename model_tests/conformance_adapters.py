"""Deliberately broken adapters for the conformance runner's tests.

Each is the reference adapter (:class:`spec.conformance.server.AdapterServer`) with one
fault, run as ``python -m model_tests.conformance_adapters MODE [ARG]``:

* ``drain-off-by-one`` — one bug in one step: Q8's drain cursor (``gap_start``) lands
  one item short whenever the drain moves it. Every other step is the reference's,
  so exactly the Q8 cases that drain fail, at ``post.gap_start``.
* ``crash CASE`` / ``hang CASE`` / ``garbage CASE`` — exits, stops answering, or writes
  a line that is not JSON, at the request of case ``CASE`` (the runner attributes the
  failure to that case and does not send it again, so the restarted process answers
  the rest).
* ``twice CASE`` — answers the request of case ``CASE`` twice (one answer line too
  many).
* ``slow SECONDS`` — the reference, sleeping SECONDS before each answer (a run that is
  still going when a test presses Ctrl-C).
* ``crash-node-once FILE`` — exits at its first ``node_new`` unless FILE exists (it
  creates FILE first): the first sequence case crashes, the restarted process answers
  the rest.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from spec.conformance.jsonio import strict_loads
from spec.conformance.server import AdapterServer, serve

__all__ = ["DrainOffByOne", "Faulty"]


class DrainOffByOne(AdapterServer):
    """The reference, except that Q8 leaves ``gap_start`` one short of where it drained to."""

    def _step(self, request: dict[str, Any]) -> dict[str, Any]:
        answer = super()._step(request)
        if request.get("step") != "Q8" or "result" not in answer:
            return answer
        post = answer["result"]["post"]
        before = request["pre"]["gap_start"]
        if post["gap_start"] is not None and post["gap_start"] != before:
            post["gap_start"] -= 1
        return answer


class Faulty(AdapterServer):
    """The reference, except at the request of one case (see the module docstring)."""

    def __init__(self, mode: str, case: str) -> None:
        super().__init__()
        self.mode, self.case = mode, case

    def answer(self, line: bytes) -> str:
        request = strict_loads(line)
        if (
            self.mode == "crash-node-once"
            and isinstance(request, dict)
            and request.get("op") == "node_new"
            and not os.path.exists(self.case)
        ):
            with open(self.case, "w", encoding="utf-8"):
                pass
            os._exit(3)
        if self.mode == "slow":
            time.sleep(float(self.case))
        if isinstance(request, dict) and request.get("case") == self.case:
            if self.mode == "crash":
                sys.stderr.write("faulty adapter: crashing on purpose\n")
                sys.stderr.flush()
                os._exit(3)
            if self.mode == "hang":
                time.sleep(3600)
            if self.mode == "garbage":
                return "this is not JSON"
            if self.mode == "twice":
                once = super().answer(line)
                return f"{once}\n{once}"
        return super().answer(line)


def main(argv: list[str]) -> int:
    """Serve one of the broken adapters."""
    mode = argv[0]
    if mode == "drain-off-by-one":
        return serve(DrainOffByOne(name="drain-off-by-one"))
    return serve(Faulty(mode, argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
