"""The rules every command and every reader of snapsync follows, in one place each.

A verification tool must never say "ok" about something it did not check and never
crash on input it was given. These modules hold the shared pieces; a new command or
reader (``explore``, ``conform``, ``adapter``, ``drive``, ``validate``, ...) uses them
instead of re-implementing them:

* :mod:`spec.robust.options` — argparse types for numeric options that refuse
  ``nan``, infinities, negative and out-of-range values with a message naming the
  option (``count``, ``seconds``, ``probability``, ``seed``, ``int_list``), the
  documented upper bounds (:data:`~spec.robust.options.MAX_ITEMS`, ...), and
  :func:`~spec.robust.options.require_matches` for filters that match nothing.
* :mod:`spec.robust.stop` — one cooperative stop mechanism for Ctrl-C, SIGTERM and
  time budgets: :func:`~spec.robust.stop.stop_point` in hot loops,
  :func:`~spec.robust.stop.deadline` for budgets, :func:`~spec.robust.stop.stopping`
  to turn a stop into a partial report, :data:`~spec.robust.stop.INTERRUPTED` (130),
  and :class:`~spec.robust.stop.Children` so worker processes are never orphaned.
* :mod:`spec.robust.jsonlines` — the one strict JSON-lines reader (UTF-8, one value
  per ``\\n``-terminated line, the codec's limits, optional canonical form) whose
  errors name the line and the field (:class:`~spec.robust.jsonlines.LineError`).
* :mod:`spec.robust.output` — output paths checked before any work starts
  (:func:`~spec.robust.output.writable_file`, :func:`~spec.robust.output.writable_dir`)
  and I/O errors turned into one-line errors naming the option.
* :mod:`spec.robust.progress` — progress bars on stderr only when it is a terminal.

The CLI (:mod:`spec.cli`) maps what escapes a command to exit statuses: 0 done, 1 a
finding or a divergence, 2 bad input (one line on stderr), 130 interrupted (after
the partial report), 70 an internal error (one line; ``SNAPSYNC_TRACEBACK=1`` shows
the traceback).
"""
