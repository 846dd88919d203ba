"""The readable specification (docs/) stays linked to the code it specifies.

Checks, each a function over document text so that it can be shown to fail:

1. every step id of :data:`impl.steps.STEP_IDS` has exactly one section heading in
   ``docs/protocol/*.md`` that names its implementing function, and the table of
   contents of ``docs/protocol.md`` lists every id in inventory order with that
   same function (:func:`step_section_problems`, :func:`toc_problems`);
2. every :class:`impl.profile.Hazard` member is a row of the hazard-switch table of
   ``docs/protocol.md``, every row cites a test, and every inventory hazard H1–H28
   is in one of the two decision tables (:func:`decision_problems`);
3. every relative link in ``docs/**/*.md`` points at an existing file, and every
   ``#fragment`` at a heading (GitHub's slug rule) or an explicit anchor of the
   target (:func:`link_problems`);
4. every code reference resolves: ``impl/x.py::name`` and backticked ``impl.x.y``
   by import and ``getattr``; ``model_tests/x.py::test_name`` by parsing the test
   file; and a backticked name linked to an ``impl`` module exists in that module
   (:func:`reference_problems`).
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

from impl.profile import Hazard
from impl.steps import STEP_IDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PROTOCOL = DOCS / "protocol.md"
SECTIONS = DOCS / "protocol"

INVENTORY_HAZARDS = tuple(f"H{i}" for i in range(1, 29))
"""The inventory's hazards (§5); each is a switch or a documented decision."""

_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^()\s]+)\)")
_EXPLICIT_ANCHOR = re.compile(r"""<a\s+(?:id|name)=["']([^"']+)["']""")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_IMPL_PATH = re.compile(r"^impl(?:\.\w+)+")
_FILE_REF = re.compile(r"((?:impl|model_tests)/[\w/]+\.py)::([\w.]+)")
_TEST_NAME = re.compile(r"^test_\w+$")
_SYMBOL_TEXT = re.compile(r"^`([A-Za-z_][\w.]*)(?:\(.*\))?`$")


# -- reading markdown --------------------------------------------------------------------------


def prose_lines(text: str) -> list[str]:
    """Return the lines of ``text`` outside fenced code blocks (blanked inside them)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return lines


def headings(text: str) -> list[tuple[int, str]]:
    """Return ``(level, text)`` of every ATX heading outside code blocks."""
    found = []
    for line in prose_lines(text):
        match = _HEADING.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2)))
    return found


def github_slug(heading: str) -> str:
    """Return GitHub's anchor for a heading: link and code markup dropped, lower case,
    every character but word characters, hyphens and spaces removed, spaces → hyphens.

    >>> github_slug("P1 `provider_receive` — the provider sees it")
    'p1-provider_receive--the-provider-sees-it'
    """
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Return every anchor of a markdown text: heading slugs (a repeated slug gets
    ``-1``, ``-2``, … as on GitHub) and explicit ``<a id=…>`` anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, heading in headings(text):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    for line in prose_lines(text):
        found.update(_EXPLICIT_ANCHOR.findall(line))
    return found


def links(text: str) -> list[tuple[str, str]]:
    """Return ``(link text, target)`` of every inline link outside code blocks."""
    return [(m.group(1), m.group(2)) for line in prose_lines(text) for m in _LINK.finditer(line)]


def section(text: str, title: str) -> str:
    """Return the body of the heading called ``title``, up to the next heading of the same
    or a higher level; ``""`` if there is no such heading."""
    lines = prose_lines(text)
    for i, line in enumerate(lines):
        match = _HEADING.match(line)
        if match and match.group(2) == title:
            level = len(match.group(1))
            body = []
            for rest in lines[i + 1 :]:
                nxt = _HEADING.match(rest)
                if nxt and len(nxt.group(1)) <= level:
                    break
                body.append(rest)
            return "\n".join(body)
    return ""


def table_rows(text: str) -> list[list[str]]:
    """Return the cells of every body row of the markdown tables in ``text`` (header and
    separator rows skipped; ``\\|`` inside a cell is not a separator)."""
    rows: list[list[str]] = []
    in_table = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", stripped)[1:-1]]
        if not in_table:
            in_table = True  # the header row
            continue
        if all(re.fullmatch(r":?-+:?", c) for c in cells):
            continue
        rows.append(cells)
    return rows


# -- check 1: step ids ---------------------------------------------------------------------------


def _function_name(target: str) -> str:
    return target.partition(":")[2].split(".")[-1]


def step_section_problems(texts: Mapping[str, str], step_ids: Mapping[str, str]) -> list[str]:
    """Each step id must head exactly one section of ``texts`` (name → markdown), and
    that heading must name the implementing function."""
    owners: dict[str, list[tuple[str, str]]] = {}
    for name, text in texts.items():
        for _, heading in headings(text):
            first = heading.split(maxsplit=1)[0] if heading.split() else ""
            owners.setdefault(first, []).append((name, heading))
    problems = []
    for step_id, target in step_ids.items():
        found = owners.get(step_id, [])
        if not found:
            problems.append(f"{step_id}: no section heading")
            continue
        if len(found) > 1:
            places = ", ".join(name for name, _ in found)
            problems.append(f"{step_id}: {len(found)} section headings ({places})")
        name, heading = found[0]
        if f"`{_function_name(target)}`" not in heading:
            problems.append(
                f"{step_id}: heading {heading!r} in {name} does not name `{_function_name(target)}`"
            )
    return problems


def toc_problems(protocol_text: str, step_ids: Mapping[str, str]) -> list[str]:
    """The table of "The steps in inventory order" lists every step id once, in the
    order of ``step_ids``, with its implementing function, linked to its section."""
    rows = table_rows(section(protocol_text, "The steps in inventory order"))
    listed = [row for row in rows if len(row) >= 5 and row[1] in step_ids]
    problems = []
    order = [row[1] for row in listed]
    if order != list(step_ids):
        missing = [i for i in step_ids if i not in order]
        if missing:
            problems.append(f"table of contents lacks {', '.join(missing)}")
        else:
            problems.append(f"table of contents is not in inventory order: {', '.join(order)}")
    for _, step_id, _, implemented, specified, *_ in listed:
        expected = step_ids[step_id].replace(":", ".")
        named = re.findall(r"`(impl[\w.]*)`", implemented)
        if named[:1] != [expected]:
            problems.append(f"{step_id}: table of contents names {named[:1]}, not {expected}")
        targets = [target for _, target in links(specified)]
        fragment = targets[0].partition("#")[2] if targets else ""
        if not fragment.startswith(f"{step_id.lower()}-"):
            problems.append(f"{step_id}: table of contents links {targets[:1]}, not its section")
    return problems


# -- check 2: hazards ----------------------------------------------------------------------------


def decision_problems(
    protocol_text: str, switches: Iterable[str], inventory: Sequence[str] = INVENTORY_HAZARDS
) -> list[str]:
    """The hazard-switch table has exactly one row per switch, each citing a test; every
    inventory hazard is a row of the switch table or of the decision table."""
    decisions = section(protocol_text, "Spec decisions")
    switch_rows = table_rows(section(decisions, "Hazard switches"))
    other_rows = table_rows(section(decisions, "Decisions without a switch"))
    switch_ids = [row[0] for row in switch_rows]
    switches = list(switches)
    problems = [f"{h}: no row in the hazard switch table" for h in switches if h not in switch_ids]
    problems += [
        f"{h}: in the switch table but not a Hazard" for h in switch_ids if h not in switches
    ]
    problems += [f"{h}: {n} rows" for h in switches if (n := switch_ids.count(h)) > 1]
    for row in switch_rows:
        if not re.search(r"model_tests/[\w/]+\.py::test_\w+", row[-1]):
            problems.append(f"{row[0]}: the switch table cites no test")
    listed = set(switch_ids) | {row[0] for row in other_rows}
    problems += [f"{h}: in neither decision table" for h in inventory if h not in listed]
    return problems


# -- check 3: links ------------------------------------------------------------------------------


def link_problems(doc: Path, text: str, root: Path) -> list[str]:
    """Every relative link of ``doc`` (whose markdown is ``text``) points at an existing
    file inside ``root``; a ``#fragment`` must be an anchor of a markdown target."""
    problems = []
    for label, target in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, fragment = target.partition("#")
        where = f"{doc.name}: [{label}]({target})"
        if not path_part:  # a link within this document
            if fragment not in anchors(text):
                problems.append(f"{where}: no anchor #{fragment}")
            continue
        resolved = (doc.parent / path_part).resolve()
        if not resolved.is_relative_to(root.resolve()):
            problems.append(f"{where} leaves the repository")
            continue
        if not resolved.is_file():
            problems.append(f"{where}: no such file")
            continue
        if fragment:
            if resolved.suffix != ".md":
                problems.append(f"{where}: anchor into a non-markdown file")
            else:
                if fragment not in anchors(resolved.read_text("utf-8")):
                    problems.append(f"{where}: no anchor #{fragment}")
    return problems


# -- check 4: code references --------------------------------------------------------------------


def resolve_dotted(path: str) -> str | None:
    """Return ``None`` if ``path`` (``impl.mod.Class.attr``) names an existing object,
    else why not. The longest importable prefix is the module."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return f"{'.'.join(parts[:cut])} has no {'.'.join(parts[cut:])}"
            obj = getattr(obj, name)
        return None
    return f"no module for {path}"


def _test_names(source: str) -> set[str]:
    """Return the top-level function and class names of a Python source."""
    tree = ast.parse(source)
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def all_test_names(root: Path) -> set[str]:
    """Return the top-level names of every ``model_tests/test_*.py`` under ``root``."""
    names: set[str] = set()
    for path in sorted((root / "model_tests").glob("test_*.py")):
        names |= _test_names(path.read_text("utf-8"))
    return names


def reference_problems(doc: Path, text: str, root: Path) -> list[str]:
    """Every code reference in ``text`` resolves (see the module docstring, check 4);
    a bare backticked ``test_name`` must be a test of some ``model_tests`` file."""
    problems = []
    lines = prose_lines(text)
    for file_name, name in sorted({m for line in lines for m in _FILE_REF.findall(line)}):
        file_path = root / file_name
        if not file_path.is_file():
            problems.append(f"{doc.name}: {file_name}::{name}: no such file")
        elif file_name.startswith("model_tests/"):
            if name.split(".")[0] not in _test_names(file_path.read_text("utf-8")):
                problems.append(f"{doc.name}: {file_name}::{name}: no such test")
        else:
            module = file_name.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
            if (why := resolve_dotted(f"{module}.{name}")) is not None:
                problems.append(f"{doc.name}: {file_name}::{name}: {why}")
    spans = {span for line in lines for span in _CODE_SPAN.findall(line)}
    tests = all_test_names(root) if any(_TEST_NAME.match(s) for s in spans) else set()
    for span in sorted(spans):
        match = _IMPL_PATH.match(span)
        if match and (why := resolve_dotted(match.group(0))) is not None:
            problems.append(f"{doc.name}: `{span}`: {why}")
        if _TEST_NAME.match(span) and span not in tests:
            problems.append(f"{doc.name}: `{span}`: no such test in model_tests")
    for label, target in links(text):
        symbol = _SYMBOL_TEXT.match(label)
        path_part = target.partition("#")[0]
        if not symbol or not path_part.endswith(".py") or symbol.group(1).startswith("impl."):
            continue
        resolved = (doc.parent / path_part).resolve()
        if not resolved.is_relative_to((root / "impl").resolve()):
            continue
        relative = resolved.relative_to(root.resolve()).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        if (why := resolve_dotted(f"{module}.{symbol.group(1)}")) is not None:
            problems.append(f"{doc.name}: [{label}]({target}): {why}")
    return problems


# -- the checks on the real documents --------------------------------------------------------------


def _documents() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _read(path: Path) -> str:
    return path.read_text("utf-8")


def test_the_documents_exist() -> None:
    names = {p.relative_to(DOCS).as_posix() for p in _documents()}
    assert {
        "protocol.md",
        "protocol/raft.md",
        "protocol/collections.md",
        "protocol/provider.md",
        "protocol/session.md",
        "protocol/foundation.md",
    } <= names


def test_every_step_id_has_one_section_naming_its_function() -> None:
    texts = {p.name: _read(p) for p in sorted(SECTIONS.glob("*.md"))}
    assert step_section_problems(texts, STEP_IDS) == []


def test_the_table_of_contents_lists_every_step_in_inventory_order() -> None:
    assert toc_problems(_read(PROTOCOL), STEP_IDS) == []


def test_every_hazard_switch_and_inventory_hazard_is_in_the_decisions() -> None:
    assert decision_problems(_read(PROTOCOL), [h.value for h in Hazard]) == []


@pytest.mark.parametrize("doc", _documents(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_every_relative_link_resolves(doc: Path) -> None:
    assert link_problems(doc, _read(doc), ROOT) == []


@pytest.mark.parametrize("doc", _documents(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_every_code_reference_resolves(doc: Path) -> None:
    assert reference_problems(doc, _read(doc), ROOT) == []


# -- each check can fail --------------------------------------------------------------------------

_STEPS = {"R1": "impl.raft:leader_publish_batch", "Q4": "impl.session:on_fetch_data_response"}


def test_step_section_check_reports_a_missing_a_repeated_and_a_misnamed_section() -> None:
    good = {"a.md": "## R1 `leader_publish_batch`\n\n## Q4 `on_fetch_data_response`\n"}
    assert step_section_problems(good, _STEPS) == []
    missing = {"a.md": "## R1 `leader_publish_batch`\n\n```\n## Q4 `on_fetch_data_response`\n```\n"}
    assert step_section_problems(missing, _STEPS) == ["Q4: no section heading"]
    repeated = {**good, "b.md": "# R1 `leader_publish_batch` again\n"}
    assert step_section_problems(repeated, _STEPS) == ["R1: 2 section headings (a.md, b.md)"]
    misnamed = {"a.md": "## R1 `leader_heartbeat`\n\n## Q4 `on_fetch_data_response`\n"}
    assert step_section_problems(misnamed, _STEPS) == [
        "R1: heading 'R1 `leader_heartbeat`' in a.md does not name `leader_publish_batch`"
    ]


def _toc(*rows: str) -> str:
    header = "| § | id | step | implemented by | specified in |\n|---|---|---|---|---|\n"
    return "## The steps in inventory order\n\n" + header + "\n".join(rows) + "\n\n## Next\n"


_R1_ROW = "| 1.1 | R1 | x | [`impl.raft.leader_publish_batch`](a) | [R1](p/raft.md#r1-x) |"
_Q4_ROW = "| 1.4 | Q4 | x | [`impl.session.on_fetch_data_response`](a) | [Q4](p/s.md#q4-x) |"


def test_toc_check_reports_order_missing_ids_wrong_functions_and_wrong_links() -> None:
    assert toc_problems(_toc(_R1_ROW, _Q4_ROW), _STEPS) == []
    assert toc_problems(_toc(_Q4_ROW, _R1_ROW), _STEPS) == [
        "table of contents is not in inventory order: Q4, R1"
    ]
    assert toc_problems(_toc(_R1_ROW), _STEPS) == ["table of contents lacks Q4"]
    wrong = _R1_ROW.replace("leader_publish_batch", "leader_heartbeat").replace("#r1-", "#r2-")
    assert toc_problems(_toc(wrong, _Q4_ROW), _STEPS) == [
        "R1: table of contents names ['impl.raft.leader_heartbeat'], "
        "not impl.raft.leader_publish_batch",
        "R1: table of contents links ['p/raft.md#r2-x'], not its section",
    ]


def _decisions(switch_rows: Sequence[str], other_rows: Sequence[str]) -> str:
    head = "| id | where | tests |\n|---|---|---|\n"
    return (
        "## Spec decisions\n\n### Hazard switches\n\n"
        + head
        + "\n".join(switch_rows)
        + "\n\n### Decisions without a switch\n\n"
        + head
        + "\n".join(other_rows)
        + "\n\n## After\n\n| H9 | x | y |\n"
    )


def test_decision_check_reports_missing_extra_untested_and_unlisted_hazards() -> None:
    h1 = "| H1 | a | `model_tests/test_session.py::test_h1_x` |"
    h2 = "| H2 | a | `model_tests/test_session.py::test_h2_x` |"
    h3 = "| H3 | \\| pipe \\| | — |"
    assert decision_problems(_decisions([h1, h2], [h3]), ["H1", "H2"], ("H1", "H2", "H3")) == []
    assert decision_problems(_decisions([h1], [h3]), ["H1", "H2"], ("H1", "H2", "H3")) == [
        "H2: no row in the hazard switch table",
        "H2: in neither decision table",
    ]
    assert decision_problems(_decisions([h1, h2, h3], []), ["H1", "H2"], ("H1", "H2", "H3")) == [
        "H3: in the switch table but not a Hazard",
        "H3: the switch table cites no test",
    ]
    # A row outside the two tables (here under "After") does not count.
    assert decision_problems(_decisions([h1, h2], []), ["H1", "H2"], ("H1", "H9")) == [
        "H9: in neither decision table"
    ]


def test_link_check_reports_missing_files_anchors_and_escapes(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "docs" / "b.md").write_text("# Title\n\n## R4 `f` — a step\n\n<a id='here'></a>\n")
    doc = tmp_path / "docs" / "a.md"
    good = (
        "[b](b.md) [t](b.md#title) [r4](b.md#r4-f--a-step) [h](b.md#here) [c](../code.py) "
        "[self](#local) [web](https://example.org/x)\n\n## Local\n"
    )
    assert link_problems(doc, good, tmp_path) == []
    bad = (
        "[gone](c.md) [anchor](b.md#nope) [py](../code.py#L1) [out](../../x.md) [self](#nope)\n"
        "```\n[in a code block](nowhere.md)\n```\n"
    )
    assert link_problems(doc, bad, tmp_path) == [
        "a.md: [gone](c.md): no such file",
        "a.md: [anchor](b.md#nope): no anchor #nope",
        "a.md: [py](../code.py#L1): anchor into a non-markdown file",
        "a.md: [out](../../x.md) leaves the repository",
        "a.md: [self](#nope): no anchor #nope",
    ]


def test_github_slugs_number_repeated_headings() -> None:
    assert anchors("# A\n## A\n### A b\n") == {"a", "a-1", "a-b"}


def test_reference_check_reports_missing_functions_tests_and_symbols() -> None:
    doc = DOCS / "protocol" / "x.md"
    good = (
        '`impl.session.on_fetch_data_response` `impl.collections.COLLECTIONS["map"]` '
        "`impl/session.py::_normalize_retry` "
        "`model_tests/test_session.py::test_h1_late_response_stalls_mosaik_forever` "
        "[`Config.is_expired`](../../impl/config.py) "
        "[`check_session_invariants(s, f)`](../../impl/session.py) "
        "[`impl/session.py`](../../impl/session.py) `test_s1_skip_rules`\n"
    )
    assert reference_problems(doc, good, ROOT) == []
    bad = (
        "`impl.session.no_such_step` `impl.nowhere.f` `impl/session.py::nope` "
        "`impl/gone.py::f` `model_tests/test_session.py::test_never_written` "
        "[`Config.is_stale`](../../impl/config.py) `test_nowhere_at_all` `test_h*`\n"
    )
    assert reference_problems(doc, bad, ROOT) == [
        "x.md: impl/gone.py::f: no such file",
        "x.md: impl/session.py::nope: impl.session has no nope",
        "x.md: model_tests/test_session.py::test_never_written: no such test",
        "x.md: `impl.nowhere.f`: impl has no nowhere.f",
        "x.md: `impl.session.no_such_step`: impl.session has no no_such_step",
        "x.md: `test_nowhere_at_all`: no such test in model_tests",
        "x.md: [`Config.is_stale`](../../impl/config.py): impl.config has no Config.is_stale",
    ]
