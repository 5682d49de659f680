"""Does the first prompt of ``kimi-lsp fix`` show the code that real bug fixes changed?

Run: ``python tests/bench/bench_localize.py`` (``--only ID``, ``--held-out`` / ``--tuned`` for a subset,
``--json`` for the rows). Runs offline: everything it reads is in this repository.

The bugs (``localize/bugs.toml``) are real fixes from popular libraries, each changing one source file,
chosen so that the file as released on PyPI (``package==version``) is byte-identical to the file at
the fix's parent commit. Per bug we keep metadata (project, repository, fix commit), a short failing test
written for this benchmark, and (``localize/captured.json``) the output of really running that test with
pytest on the buggy tree, with the fixed file and the line ranges the fix changed in it. The releases
themselves are stored compactly in ``localize/trees/`` (see ``_localize_trees``: per project one
``tar.xz`` of the sdists' files, with their licenses). At run time each buggy tree is written out from
there, our test is appended to the test file the fix touched, and the tree is committed to a fresh git
repository, so no diff points at the bug. ``--store`` rebuilds the stored trees of the selected bugs'
projects from the sdists (``pip download``, or ``--sdists DIR``): run it after adding a bug.

``--validate`` (re)captures ``captured.json`` and needs the projects' histories under ``/work/.mirror``
(or ``--mirrors DIR``): for each bug it checks the stored file against the parent commit's, runs our
test (it must fail), puts the fix commit's version of the file in place, runs it again (it must pass),
and records the test output and the changed line ranges. ``--python`` names the interpreter that runs
the tests (it needs pytest, and what the projects' test modules import: markupsafe and trio for jinja2,
markupsafe, ephemeral-port-reserve and pytest-xprocess for werkzeug, simplejson for marshmallow, pretend
for packaging, freezegun and coverage for humanize); the package under test is imported from the tree itself.
Use an interpreter with only these: humanize's ``filterwarnings = error`` makes any other pytest plugin's
warning an error. The output is recorded as pytest prints it, in colour where a project's settings ask for
it (humanize's do), as the job's own test run would see it.

Per bug and in total it reports, for the prompt the job builds (``agent.job``'s request construction
and task text around ``build_context``): whether every line the fix changed is shown, the fixed file's
rank among the non-test files shown, and the estimated token offset where it starts; and two
baselines from the same failure output: the files of the traceback (innermost first) and BM25 over all
non-test Python files with the whole test output as the query. Totals are printed for the bugs run,
then for the tuned-on and the held-out bugs apart, and last one line for the held-out bugs alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kimi_lsp.agent import job
from kimi_lsp.context import TokenEstimator, parse_test_output
from kimi_lsp.context.rank import is_test_path
from kimi_lsp.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _localize_trees as trees

HERE = Path(__file__).resolve().parent / "localize"
MIRRORS = Path("/work/.mirror")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}


@dataclass
class Bug:
    id: str
    package: str
    version: str
    repo: str
    fix: str
    test_file: str
    test: str
    held_out: bool = False
    captured: dict[str, Any] = field(default_factory=dict)

    @property
    def test_name(self) -> str:
        found = re.search(r"^def (\w+)\(", self.test, re.M)
        if found is None:
            raise ValueError(f"{self.id}: the test has no function")
        return found.group(1)

    @property
    def test_id(self) -> str:
        return f"{self.test_file}::{self.test_name}"


def load_bugs() -> list[Bug]:
    data = tomllib.loads((HERE / "bugs.toml").read_text())
    captured_path = HERE / "captured.json"
    captured = json.loads(captured_path.read_text()) if captured_path.exists() else {}
    bugs = [Bug(**entry) for entry in data["bug"]]
    if len({bug.id for bug in bugs}) != len(bugs):
        raise ValueError("bug ids repeat in bugs.toml")
    for bug in bugs:
        bug.captured = captured.get(bug.id, {})
    return bugs


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def materialize(bug: Bug, root: Path, stored: trees.Trees) -> None:
    """The buggy tree at ``root``: the release's stored files, our test appended, committed to a fresh git."""
    stored.extract(bug.package, bug.version, root)
    test_path = root / bug.test_file
    test_path.parent.mkdir(parents=True, exist_ok=True)
    before = test_path.read_text() if test_path.exists() else ""
    test_path.write_text(before.rstrip("\n") + ("\n\n" if before else "") + "\n" + bug.test.strip("\n") + "\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", f"{bug.package} {bug.version}")


def fixed_file(bug: Bug, root: Path) -> str:
    path = bug.captured["file"]
    return path if (root / path).exists() else path.removeprefix("src/")


# -- validation (needs the projects' histories) --------------------------------------------------------


def _run_test(bug: Bug, root: Path, python: str) -> subprocess.CompletedProcess[str]:
    src = root / "src"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = str(src if src.is_dir() else root)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", bug.test_id],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _changed_ranges(mirror: Path, parent: str, fix: str, path: str) -> list[list[int]]:
    diff = subprocess.run(
        ["git", "--git-dir", str(mirror), "diff", "-U0", parent, fix, "--", path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    ranges = []
    for start, count in re.findall(r"^@@ -(\d+)(?:,(\d+))? \+", diff, re.M):
        first, size = int(start), 1 if count == "" else int(count)
        # A pure insertion after line N: the lines on either side of where it goes.
        ranges.append([first, first + size - 1] if size else [first, first + 1])
    return ranges


def validate(bug: Bug, python: str, mirrors: Path, stored: trees.Trees) -> dict[str, Any]:
    mirror = mirrors / bug.repo.replace("/", "+") / "repo"
    git = ["git", "--git-dir", str(mirror)]
    parent = subprocess.run([*git, "rev-parse", f"{bug.fix}^"], check=True, capture_output=True, text=True)
    parent_sha = parent.stdout.strip()
    names = subprocess.run(
        [*git, "diff", "--name-only", parent_sha, bug.fix], check=True, capture_output=True, text=True
    )
    sources = [p for p in names.stdout.split() if p.endswith(".py") and not is_test_path(p)]
    if len(sources) != 1:
        raise RuntimeError(f"{bug.id}: the fix changes {len(sources)} source files")
    path = sources[0]
    with tempfile.TemporaryDirectory(prefix="bench-localize-") as tmp:
        root = Path(tmp)
        materialize(bug, root, stored)
        local = path if (root / path).exists() else path.removeprefix("src/")
        parent_text = subprocess.run([*git, "show", f"{parent_sha}:{path}"], check=True, capture_output=True).stdout
        if (root / local).read_bytes() != parent_text:
            raise RuntimeError(f"{bug.id}: {local} in the sdist differs from the fix's parent")
        failing = _run_test(bug, root, python)
        if failing.returncode != 1:
            raise RuntimeError(f"{bug.id}: the test did not fail on the buggy tree:\n{failing.stdout[-3000:]}")
        fixed = subprocess.run([*git, "show", f"{bug.fix}:{path}"], check=True, capture_output=True).stdout
        (root / local).write_bytes(fixed)
        passing = _run_test(bug, root, python)
        if passing.returncode != 0:
            raise RuntimeError(f"{bug.id}: the test still fails with the fix:\n{passing.stdout[-3000:]}")
        output = (failing.stdout + failing.stderr).replace(str(root) + "/", "").replace(str(root), ".")
    return {
        "repo": bug.repo,
        "fix": bug.fix,
        "parent": parent_sha[:12],
        "file": local,
        "lines": _changed_ranges(mirror, parent_sha, bug.fix, path),
        "test_id": bug.test_id,
        "output": output,
    }


# -- measurement ---------------------------------------------------------------------------------------


def first_prompt(root: Path, output: str) -> str:
    """The first user message ``kimi-lsp fix`` sends for failing tests with this output."""
    request = job.JobRequest(root=root, kind="fix_tests")
    before = job.TestRun(
        exit_code=1,
        passed=0,
        failed=1,
        errors=0,
        skipped=0,
        timed_out=False,
        duration=1.0,
        failures=[],
        output=output,
    )
    estimator = TokenEstimator()
    context = job._build_context(request, root, Settings(), before, None, estimator)
    return job._task_text(request, context, before)  # type: ignore[no-any-return]


_HEADING = re.compile(r"^### (\S+) — ([^;\n]*); (whole file|excerpt|outline only)", re.M)
_NUMBERED = re.compile(r"^ *(\d+)\| ", re.M)


def shown_files(prompt: str) -> list[tuple[str, int, set[int] | None]]:
    """``(path, offset, lines shown)`` per file block in the prompt; ``None`` lines = whole file."""
    found = []
    matches = list(_HEADING.finditer(prompt))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(prompt)
        block = prompt[match.start() : end]
        lines = None if match.group(3) == "whole file" else {int(n) for n in _NUMBERED.findall(block)}
        found.append((match.group(1), match.start(), lines))
    return found


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _terms(text: str) -> list[str]:
    terms = []
    for word in _WORD.findall(text):
        lowered = word.lower()
        terms.append(lowered)
        parts = [part for part in re.split(r"_|(?<=[a-z])(?=[A-Z])", word) if part]
        if len(parts) > 1:
            terms.extend(part.lower() for part in parts)
    return terms


def bm25_ranking(root: Path, files: list[str], query: str, k1: float = 1.5, b: float = 0.75) -> list[str]:
    """Plain Okapi BM25 (the baseline: independent of the product's ranking)."""
    docs = [Counter(_terms((root / path).read_text(errors="replace"))) for path in files]
    lengths = [sum(doc.values()) for doc in docs]
    average = sum(lengths) / max(len(lengths), 1)
    frequency: Counter[str] = Counter()
    for doc in docs:
        frequency.update(doc.keys())
    scores = []
    for path, doc, length in zip(files, docs, lengths, strict=True):
        score = 0.0
        for term in set(_terms(query)):
            count = doc.get(term, 0)
            if count:
                idf = math.log(1 + (len(docs) - frequency[term] + 0.5) / (frequency[term] + 0.5))
                score += idf * count * (k1 + 1) / (count + k1 * (1 - b + b * length / average))
        scores.append((-score, path))
    return [path for _, path in sorted(scores)]


def _rank(paths: list[str], wanted: str) -> int | None:
    return paths.index(wanted) + 1 if wanted in paths else None


def measure(bug: Bug, stored: trees.Trees) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-localize-") as tmp:
        root = Path(tmp)
        materialize(bug, root, stored)
        target = fixed_file(bug, root)
        output = bug.captured["output"]
        started = time.perf_counter()
        prompt = first_prompt(root, output)
        seconds = time.perf_counter() - started
        estimator = TokenEstimator()
        blocks = shown_files(prompt)
        sources = [path for path, _, _ in blocks if not is_test_path(path)]
        wanted = {n for first, last in bug.captured["lines"] for n in range(first, last + 1)}
        block = next((item for item in blocks if item[0] == target), None)
        shown = block is not None and (block[2] is None or wanted <= block[2])
        offset = estimator.estimate(prompt[: block[1]]) if block is not None else None
        report = parse_test_output(output, root)
        frames: list[str] = []
        for failure in report.failures:
            for path in [failure.path, *(p for p, _ in reversed(failure.frames))]:
                if path and path not in frames and not is_test_path(path):
                    frames.append(path)
        tracked = _git(root, "ls-files").split()
        candidates = [p for p in tracked if p.endswith(".py") and not is_test_path(p)]
        bm25 = bm25_ranking(root, candidates, output)
    return {
        "id": bug.id,
        "held_out": bug.held_out,
        "file": target,
        "shown": shown,
        "rank": _rank(sources, target),
        "offset": offset,
        "prompt_tokens": estimator.estimate(prompt),
        "seconds": round(seconds, 3),
        "traceback_rank": _rank(frames, target),
        "bm25_rank": _rank(bm25, target),
        "sources": len(candidates),
        "shown_sources": [(path, reasons) for path, reasons in _reasons(prompt) if not is_test_path(path)][:6],
    }


def _reasons(prompt: str) -> list[tuple[str, str]]:
    return [(match.group(1), match.group(2)) for match in _HEADING.finditer(prompt)]


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "-"


def summary(rows: list[dict[str, Any]], title: str) -> str:
    n = len(rows)

    def top(key: str, k: int) -> int:
        return sum(1 for row in rows if row[key] is not None and row[key] <= k)

    def firsts(key: str) -> str:
        return f"first {_pct(top(key, 1), n)}, top 3 {_pct(top(key, 3), n)}"

    offsets = sorted(row["offset"] for row in rows if row["offset"] is not None)
    median = offsets[len(offsets) // 2] if offsets else None
    return "\n".join(
        [
            f"{title}: {n} bugs",
            f"  fixed lines in the first prompt: {_pct(sum(row['shown'] for row in rows), n)}",
            f"  fixed file among the source files shown: {firsts('rank')}",
            f"  starts within 8K tokens: {_pct(sum(1 for o in offsets if o <= 8000), n)}; median offset {median}",
            f"  baseline traceback files: {firsts('traceback_rank')}",
            f"  baseline BM25: {firsts('bm25_rank')}",
        ]
    )


def headline(rows: list[dict[str, Any]], title: str) -> str:
    """The goal's figures on one line: fixed lines shown, fixed file first and in the top 3, starting within 8K."""
    n = len(rows)
    shown = sum(row["shown"] for row in rows)
    first = sum(1 for row in rows if row["rank"] == 1)
    top3 = sum(1 for row in rows if row["rank"] is not None and row["rank"] <= 3)
    near = sum(1 for row in rows if row["offset"] is not None and row["offset"] <= 8000)
    return f"{title}: shown {_pct(shown, n)}, first {_pct(first, n)}, top 3 {_pct(top3, n)}, within 8K {_pct(near, n)}"


def _validate_all(bugs: list[Bug], python: str, mirrors: Path, stored: trees.Trees) -> int:
    path = HERE / "captured.json"
    captured = json.loads(path.read_text()) if path.exists() else {}
    failed = 0
    for bug in bugs:
        try:
            captured[bug.id] = validate(bug, python, mirrors, stored)
            print(f"{bug.id}: ok {captured[bug.id]['file']} {captured[bug.id]['lines']}", flush=True)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            failed += 1
            print(f"{bug.id}: INVALID {exc}", flush=True)
    path.write_text(json.dumps(dict(sorted(captured.items())), indent=1, ensure_ascii=False) + "\n")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", help="bug id (repeatable)")
    parser.add_argument("--held-out", action="store_true", help="only the held-out bugs")
    parser.add_argument("--tuned", action="store_true", help="only the bugs the ranking was tuned on")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--explain", action="store_true", help="also list the first source files and their reasons")
    parser.add_argument("--validate", action="store_true", help="recapture captured.json (needs the mirrors)")
    parser.add_argument("--store", action="store_true", help="rebuild the stored trees from the sdists (needs pip)")
    parser.add_argument("--sdists", type=Path, help="for --store: a folder of sdists to use before downloading")
    parser.add_argument("--python", default=sys.executable, help="interpreter with pytest for --validate")
    parser.add_argument("--mirrors", type=Path, default=MIRRORS)
    args = parser.parse_args()
    bugs = load_bugs()
    if args.only:
        bugs = [bug for bug in bugs if bug.id in args.only]
    if args.held_out or args.tuned:
        bugs = [bug for bug in bugs if bug.held_out == args.held_out]
    if args.store:
        versions: dict[str, set[str]] = {}
        for bug in load_bugs():
            versions.setdefault(bug.package, set()).add(bug.version)
        for package in sorted({bug.package for bug in bugs}):
            archive = trees.store(package, versions[package], args.sdists)
            print(f"{archive.relative_to(HERE)}: {', '.join(sorted(versions[package]))}", flush=True)
        return 0
    stored = trees.Trees()
    if args.validate:
        return _validate_all(bugs, args.python, args.mirrors, stored)
    missing = [bug.id for bug in bugs if not bug.captured]
    if missing:
        print(f"not validated (left out): {', '.join(missing)}", file=sys.stderr)
    rows = [measure(bug, stored) for bug in bugs if bug.captured]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'bug':<24} {'file':<38} {'shown':<5} {'rank':>4} {'offset':>7} {'tokens':>6} {'tb':>3} {'bm25':>4}")
    for row in rows:
        print(
            f"{row['id']:<24} {row['file'][-38:]:<38} {'yes' if row['shown'] else 'no':<5} "
            f"{row['rank'] or '-':>4} {row['offset'] if row['offset'] is not None else '-':>7} "
            f"{row['prompt_tokens']:>6} {row['traceback_rank'] or '-':>3} {row['bm25_rank'] or '-':>4}"
        )
        if args.explain:
            for path, reasons in row["shown_sources"]:
                print(f"    {'*' if path == row['file'] else ' '} {path}: {reasons}")
    print()
    tuned = [row for row in rows if not row["held_out"]]
    held = [row for row in rows if row["held_out"]]
    print(summary(rows, "held out" if not tuned else "tuned on" if not held else "all"))
    if tuned and held:
        print(summary(tuned, "tuned on"))
        print(summary(held, "held out"))
    if held:
        print(headline(held, "held out"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
