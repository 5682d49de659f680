"""Read a test runner's output: counts, failing tests and the code lines they point at.

pytest 7, 8 and 9 are understood in full (summary line, also with pytest 9's ``N subtests passed``;
short test summary with ``SUBFAILED`` subtests; failure sections with their traceback frames in any
``--tb`` style; ``-q``, ``-v``, ``-rA`` and xdist's ``-n``). unittest's and Django's ``Ran N tests`` /
``FAILED (failures=1)`` and the plain ``N passed, N failed`` line are understood too. Anything else falls
back to the locations found in the text, with ``parsed=False`` so callers judge success by the exit code.
:func:`run_problem` names a run that says nothing about the code: a command not found or not executable,
no tests collected, tests that could not be imported. The fixtures in ``tests/fixtures/runner_output`` are
these tools' real outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kimi_lsp.context.locations import ANSI, frames_in, parse_locations, workspace_path

__all__ = ["Failure", "TestReport", "parse_test_output", "run_problem"]


@dataclass(frozen=True)
class Failure:
    """One failing (or erroring) test.

    ``path``/``line`` is the deepest traceback frame inside the workspace: the code line that raised.
    ``frames`` holds every workspace frame, outermost first, so the test's own line is ``frames[0]``
    when the traceback starts in the test file; ``test_location`` names it directly when known.
    """

    test_id: str
    path: str | None
    line: int | None
    message: str
    frames: tuple[tuple[str, int], ...] = ()
    test_location: tuple[str, int] | None = None


@dataclass(frozen=True)
class TestReport:
    """Counts and failures of one test run. ``parsed=False`` means no runner summary was recognised."""

    __test__ = False  # not a pytest test class, whatever its name says

    passed: int
    failed: int
    errors: int
    skipped: int
    failures: tuple[Failure, ...]
    summary_line: str | None
    parsed: bool

    @property
    def ok(self) -> bool:
        """True when a summary was found and nothing failed or errored."""
        return self.parsed and self.failed == 0 and self.errors == 0


# pytest's closing line, with or without the ``=`` banner (``-q`` drops it).
_PYTEST_WORDS = r"(?:failed|passed|skipped|errors?|xfailed|xpassed|deselected|warnings?|rerun)"
# pytest 9 counts subtests apart (``120 subtests passed``): not tests, so not added to the counts.
_PYTEST_COUNT = re.compile(rf"(\d+) (subtests )?({_PYTEST_WORDS})\b")
_PYTEST_SUMMARY = re.compile(rf"^=*\s*((?:\d+ (?:subtests )?{_PYTEST_WORDS},? ?)+)(?:in [\d.]+s.*?)?\s*=*\s*$")
_PYTEST_NO_TESTS = re.compile(r"^=*\s*no tests ran\b.*$")
_SHORT_SUMMARY = re.compile(r"^(FAILED|ERROR|SUBFAILED(?:\((.*?)\))?) (.+)$")
_SUBTESTS_ROLLUP = re.compile(r"^contains \d+ failed subtests?$")
_SECTION_BANNER = re.compile(r"^=+ (FAILURES|ERRORS|warnings summary|short test summary info) =+$")
_SECTION_TITLE = re.compile(r"^_{3,} (.+?) _{3,}$")
_ANY_BANNER = re.compile(r"^={5,}")

_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in [\d.]+s")
_UNITTEST_RESULT = re.compile(r"^(OK|FAILED)(?: \((.*)\))?\s*$")
_UNITTEST_HEADER = re.compile(r"^(FAIL|ERROR): (\S+) \(([^)]*)\)")
_PLAIN = re.compile(r"^(?:\w+:\s*)?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$", re.IGNORECASE)


def parse_test_output(output: str, root: Path | None = None, exit_code: int | None = None) -> TestReport:
    """Parse a test run's combined output.

    Paths come back workspace-relative (POSIX style) when under ``root``; frames outside it (the standard
    library, site-packages) are dropped. ``exit_code``, when given and nothing was recognised, turns a
    non-zero exit into one generic failure carrying the locations found in the text.
    """
    text = ANSI.sub("", output).replace("\r\n", "\n")
    lines = text.split("\n")
    report = _parse_pytest(lines, root)
    if report is None:
        report = _parse_unittest(lines, root)
    if report is None:
        report = _parse_plain(lines, root)
    if report is None:
        failures: tuple[Failure, ...] = ()
        if exit_code not in (None, 0):
            locations = parse_locations(text, root)
            tail = "\n".join(line for line in lines if line.strip())[-2000:]
            deepest = locations[-1] if locations else (None, None)
            failures = (
                Failure(
                    test_id="(test command)",
                    path=deepest[0],
                    line=deepest[1],
                    message=tail,
                    frames=tuple(locations),
                ),
            )
        report = TestReport(0, 0, 0, 0, failures, None, parsed=False)
    return report


def _error_message(block: list[str]) -> str:
    """The ``E   ...`` lines of a pytest section, or the last exception line of a plain traceback."""
    e_lines = [line[1:].strip() for line in block if line.startswith("E ")]
    if e_lines:
        return "\n".join(e_lines[:20])
    for line in reversed(block):
        stripped = line.strip()
        if re.match(r"^[\w.]+(Error|Exception|Failure|Interrupt|Exit)\b.*", stripped):
            return stripped
    return ""


def _section_to_id(title: str) -> str:
    """``TestK.test_p[a b]`` -> ``TestK::test_p[a b]``; ``ERROR at setup of test_x`` -> ``test_x``."""
    for prefix in ("ERROR at setup of ", "ERROR at teardown of ", "ERROR collecting "):
        if title.startswith(prefix):
            title = title[len(prefix) :]
            break
    head, bracket, params = title.partition("[")
    if "/" not in head and not head.endswith(".py"):
        head = head.replace(".", "::")
    return head + bracket + params


def _parse_pytest(lines: list[str], root: Path | None) -> TestReport | None:
    summary_line: str | None = None
    counts: dict[str, int] = {}
    for line in reversed(lines):
        stripped = line.strip()
        if _PYTEST_SUMMARY.match(stripped) and (" in " in stripped or stripped.startswith("=")):
            summary_line = stripped
            for number, subtests, word in _PYTEST_COUNT.findall(stripped):
                if not subtests:
                    counts[word.rstrip("s") if word.startswith("error") else word] = int(number)
            break
        if _PYTEST_NO_TESTS.match(stripped):
            summary_line = stripped
            break
    if summary_line is None:
        return None

    # Failure sections: title -> body lines, only inside the FAILURES / ERRORS banners.
    sections: dict[str, list[str]] = {}
    order: list[str] = []
    current: list[str] | None = None
    in_block = False
    for line in lines:
        banner = _SECTION_BANNER.match(line)
        if banner:
            in_block = banner.group(1) in ("FAILURES", "ERRORS")
            current = None
            continue
        if _ANY_BANNER.match(line):
            in_block = False
            current = None
            continue
        if not in_block:
            continue
        title = _SECTION_TITLE.match(line)
        if title:
            key = _section_to_id(title.group(1))
            current = sections.setdefault(key, [])
            order.append(key)
            continue
        if current is not None:
            current.append(line)

    failures: list[Failure] = []
    used_sections: set[str] = set()
    with_subfailures: set[str] = set()
    for line in lines:
        match = _SHORT_SUMMARY.match(line.rstrip())
        if not match:
            continue
        test_id, message = _split_short_summary(match.group(3))
        subtest = match.group(2) if match.group(1).startswith("SUBFAILED") else None
        if subtest is None and test_id in with_subfailures and _SUBTESTS_ROLLUP.match(message):
            used_sections.add(_matching_section(test_id, sections) or "")
            continue  # "contains 3 failed subtests": each one is already listed with its own place
        # A subtest's section is titled ``test_name (i=1)``; the runnable id stays the test's own.
        found = _matching_section(f"{test_id} ({subtest})" if subtest else test_id, sections)
        block = sections.get(found, []) if found else []
        if found:
            used_sections.add(found)
        if subtest is not None:
            with_subfailures.add(test_id)
            message = f"[{subtest}] {message}" if subtest else message
        failures.append(_failure(test_id, message, block, root))
    # Sections without a short-summary line (``-r`` turned off): still failures.
    for key in order:
        if key not in used_sections:
            used_sections.add(key)
            failures.append(_failure(key, "", sections[key], root))
    return TestReport(
        passed=counts.get("passed", 0),
        failed=counts.get("failed", 0),
        errors=counts.get("error", 0),
        skipped=counts.get("skipped", 0),
        failures=tuple(failures),
        summary_line=summary_line,
        parsed=True,
    )


def _split_short_summary(rest: str) -> tuple[str, str]:
    """``tests/t.py::test_p[a - b] - AssertionError: x`` -> (test id, message).

    pytest writes ``<id> - <message>``, and a parametrized id may hold " - " itself: the separator
    is the first " - " outside the id's brackets. With brackets that never close, the first " - ".
    """
    depth = 0
    for index, char in enumerate(rest):
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        elif depth == 0 and char == " " and rest.startswith(" - ", index):
            return rest[:index].strip(), rest[index + 3 :].strip()
    head, _, message = rest.partition(" - ")  # brackets never closed: the first " - " then
    return head.strip(), message.strip()


def _matching_section(test_id: str, sections: dict[str, list[str]]) -> str | None:
    if test_id in sections:
        return test_id
    best: str | None = None
    for key in sections:
        if test_id.endswith("::" + key) and (best is None or len(key) > len(best)):
            best = key
    return best


def _failure(test_id: str, message: str, block: list[str], root: Path | None) -> Failure:
    frames = frames_in(block, root)
    if not message:
        message = _error_message(block)
    test_file = workspace_path(test_id.split("::", 1)[0], root) if "::" in test_id else None
    test_location = next((frame for frame in frames if frame[0] == test_file), None)
    deepest = frames[-1] if frames else None
    if deepest is None and test_file is not None:
        return Failure(test_id, test_file, None, message, (), None)
    return Failure(
        test_id=test_id,
        path=deepest[0] if deepest else None,
        line=deepest[1] if deepest else None,
        message=message,
        frames=tuple(frames),
        test_location=test_location,
    )


def _parse_unittest(lines: list[str], root: Path | None) -> TestReport | None:
    ran: int | None = None
    result_line: str | None = None
    details = ""
    for index, line in enumerate(lines):
        match = _UNITTEST_RAN.match(line.strip())
        if match:
            ran = int(match.group(1))
            for follow in lines[index + 1 : index + 4]:
                result = _UNITTEST_RESULT.match(follow.strip())
                if result:
                    result_line = follow.strip()
                    details = result.group(2) or ""
                    break
    if ran is None or result_line is None:
        return None
    counts = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", details)}
    failed = counts.get("failures", 0) + counts.get("unexpected_successes", 0)
    errors = counts.get("errors", 0)
    skipped = counts.get("skipped", 0) + counts.get("expected_failures", 0)

    failures: list[Failure] = []
    starts = [i for i, line in enumerate(lines) if _UNITTEST_HEADER.match(line)]
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(lines)
        header = _UNITTEST_HEADER.match(lines[start])
        assert header is not None
        block = lines[start + 1 : end]
        stop = next((i for i, line in enumerate(block) if _UNITTEST_RAN.match(line)), len(block))
        block = block[:stop]
        frames = frames_in(block, root)
        deepest = frames[-1] if frames else None
        test_id = header.group(3) if "." in header.group(3) else header.group(2)
        failures.append(
            Failure(
                test_id=test_id,
                path=deepest[0] if deepest else None,
                line=deepest[1] if deepest else None,
                message=_error_message(block),
                frames=tuple(frames),
                test_location=frames[0] if frames else None,
            )
        )
    return TestReport(
        passed=max(ran - failed - errors - skipped, 0),
        failed=failed,
        errors=errors,
        skipped=skipped,
        failures=tuple(failures),
        summary_line=result_line,
        parsed=True,
    )


def _parse_plain(lines: list[str], root: Path | None) -> TestReport | None:
    for line in reversed(lines):
        match = _PLAIN.match(line.strip())
        if match:
            locations = parse_locations("\n".join(lines), root)
            failed = int(match.group(2))
            failures: tuple[Failure, ...] = ()
            if failed and locations:
                path, number = locations[-1]
                failures = (Failure("(test command)", path, number, "", tuple(locations)),)
            return TestReport(
                passed=int(match.group(1)),
                failed=failed,
                errors=0,
                skipped=int(match.group(3) or 0),
                failures=failures,
                summary_line=line.strip(),
                parsed=True,
            )
    return None


_NOT_FOUND = re.compile(r"(?:not found|No such file or directory|command not found)\s*$", re.MULTILINE)
_MISSING_PATH = re.compile(r"^ERROR: file or directory not found: (.+)$", re.MULTILINE)
_COLLECTION = re.compile(
    r"^(?:_+ ERROR collecting (\S+) _+|ImportError: Failed to import test module: (\S+))$", re.MULTILINE
)


def run_problem(exit_code: int | None, output: str, report: TestReport) -> str | None:
    """Why this run of the test command says nothing about the code, or None when it ran tests.

    Named: a command not found (exit 127) or not executable (126), a test path that does not exist
    (pytest's exit 4), no tests collected (pytest's exit 5, unittest's ``NO TESTS RAN``), and test files
    that could not be collected or imported.
    """
    text = ANSI.sub("", output)
    last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
    if exit_code == 127 or (exit_code not in (0, None) and not report.parsed and _NOT_FOUND.search(last)):
        return f"the test command was not found (exit {exit_code}): {last}"
    if exit_code == 126:
        return f"the test command is not executable (exit 126): {last}"
    missing = _MISSING_PATH.search(text)
    if exit_code and missing:
        return f"the test command names a path that does not exist (exit {exit_code}): {missing.group(1).strip()}"
    no_tests = report.summary_line is not None and _PYTEST_NO_TESTS.match(report.summary_line)
    if exit_code and (no_tests or (exit_code == 5 and "NO TESTS RAN" in text)):
        return f"the test command collected no tests (exit {exit_code}): check its paths and test names"
    broken = [a or b for a, b in _COLLECTION.findall(text)]
    if broken and exit_code not in (0, None):
        shown = ", ".join(dict.fromkeys(broken[:5]))
        return f"tests could not be collected (import or collection errors) in {shown}"
    return None
