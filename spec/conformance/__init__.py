"""The conformance kit: validating another implementation against the reference.

What it holds (docs/conformance.md is the guide, docs/formats/vectors.md and
docs/formats/adapter.md the formats):

* :mod:`~spec.conformance.conventions` — the **step call conventions**: for every
  inventory step id (R1–R10, S1–S3, P1–P6, Q0–Q13, Q11a), what a vector's ``pre``,
  ``context`` and ``input`` are, what its result carries, and how the reference
  computes it (decode → call the pure step in ``impl/`` → encode).
* :mod:`~spec.conformance.cases` — the case (vector) file: its envelope, its
  content-derived id, its Wycheproof-style ``why``; strict reading.
* :mod:`~spec.conformance.tree` — the vector tree on disk, ``manifest.json`` (sha256 of
  every file), verification and the ``vectors pack`` archive.
* :mod:`~spec.conformance.recording`, :mod:`~spec.conformance.handwritten`,
  :mod:`~spec.conformance.generate` — vector generation: the real inputs of the
  steps the model calls in scenarios, simulations and hunt walks, deduplicated by
  the branches each call takes, plus hand-written cases for every rejection and
  ignore reason.
* :mod:`~spec.conformance.protocol` — the adapter protocol (JSON lines on stdio):
  requests, answers, the op table, strict answer checking.
* :mod:`~spec.conformance.server` — the reference served as an adapter
  (``snapsync adapter``).
* :mod:`~spec.conformance.runner` — ``snapsync conform``: runs every case through an
  adapter process (timeouts, crashes, restarts), compares (first differing JSON
  path), accounts (expected failures, "attempted N of M").
* :mod:`~spec.conformance.diff` — normalisation and the first difference.
* :mod:`~spec.conformance.stats` — branch coverage of ``impl/`` by the vectors alone.
* :mod:`~spec.conformance.schemas` — JSON Schemas of the case, manifest and adapter
  messages, generated from the conventions and the codec's forms.

Node and log levels (issue #11; the node-level and log-level guides of
docs/conformance.md, docs/formats/events.md):

* :mod:`~spec.conformance.events` — the implementation event-log format: strict
  reading and writing.
* :mod:`~spec.conformance.outputs` — what one reference step shows in a log.
* :mod:`~spec.conformance.convert` — simulator traces to the logs every node
  would have written.
* :mod:`~spec.conformance.validate` — ``snapsync validate``: is a node's log a
  behaviour of the spec, searching the choices the spec leaves open.
* :mod:`~spec.conformance.causality` — cross-node checks of several logs.
* :mod:`~spec.conformance.nodeops` — the node-level ops of the adapter protocol, as
  the reference serves them (``snapsync adapter``).
* :mod:`~spec.conformance.nodeclient`, :mod:`~spec.conformance.host` — the harness
  side: an adapter process as the host of some nodes of the group model, and the
  event log the harness writes for each from its messages and observations.
* :mod:`~spec.conformance.judge` — the checks of a hosted node from outside (the
  observation, the wire, its log under the validator).
* :mod:`~spec.conformance.drive` — ``snapsync drive`` and ``replay --adapter``: the
  hunt's engine and shrinker over a group with hosted nodes.
* :mod:`~spec.conformance.sequences` — sequence vectors (``vectors from-trace``): a
  node's run as node-level ops with the reference's answers.
"""
