"""The conformance kit: validating another implementation against the reference.

Node and log levels (issue #11; docs/conformance.md is the guide):

* :mod:`~spec.conformance.events` — the implementation event-log format
  (docs/formats/events.md): strict reading and writing.
* :mod:`~spec.conformance.convert` — simulator traces to event logs.
* :mod:`~spec.conformance.validate` — ``snapsync validate``: is a node's log a
  behaviour of the spec, searching the choices the spec leaves open.
"""
