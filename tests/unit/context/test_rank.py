"""Ranking from what a failure says, on real pytest output produced in each test's own workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kimi_lsp.context import WorkspaceIndex
from kimi_lsp.context.definitions import callees, find_definition
from kimi_lsp.context.imports import ModuleMap
from kimi_lsp.context.relevance import bm25_scores

# A package whose public names are re-exported from private modules, and a test that only asserts:
# the traceback ends in the test, so only the test's own code says where to look.
REEXPORTED: dict[str, str | bytes] = {
    "shapes/__init__.py": "from ._area import area\nfrom ._names import describe\n",
    "shapes/_area.py": "def area(width, height):\n    return width + height  # the bug\n",
    "shapes/_names.py": "def describe(kind):\n    return f'a {kind}'\n",
    "shapes/colours.py": "PALETTE = ['red', 'green']\n\n\ndef mix(first, second):\n    return first + second\n",
    "tests/test_shapes.py": (
        "import shapes\n\n\ndef test_area_of_rectangle():\n    assert shapes.area(3, 4) == 12\n\n\n"
        "def test_describe():\n    assert shapes.describe('box') == 'a box'\n"
    ),
}


def test_find_definition_follows_re_exports_and_submodules(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(REEXPORTED)
    index = WorkspaceIndex(root)
    index.scan()
    modules = ModuleMap(index.files())
    found = find_definition(index, modules, "shapes", ["area"])
    assert found is not None and found[:2] == ("shapes/_area.py", 1)
    assert find_definition(index, modules, "shapes", ["colours", "mix"])[:2] == ("shapes/colours.py", 4)  # type: ignore[index]
    assert find_definition(index, modules, "shapes", ["missing"]) is None
    assert find_definition(index, modules, "os", ["path"]) is None  # not workspace code


def test_a_method_the_test_calls_is_found_with_what_it_hands_the_work_to(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(
        {
            "engine/__init__.py": "from .environment import Environment\n",
            "engine/environment.py": (
                "from .parser import Parser\n\n\n"
                "class Environment:\n"
                "    def from_string(self, source):\n        return self.compile(source)\n\n"
                "    def compile(self, source):\n        return self._parse(source)\n\n"
                "    def _parse(self, source):\n        return Parser(source).parse()\n"
            ),
            "engine/parser.py": "class Parser:\n    def __init__(self, source):\n        self.source = source\n",
        }
    )
    index = WorkspaceIndex(root)
    index.scan()
    modules = ModuleMap(index.files())
    found = find_definition(index, modules, "engine", ["Environment", "from_string"])
    assert found is not None and found[:3] == ("engine/environment.py", 5, 6)  # the method, not the class
    # from_string -> self.compile -> self._parse -> Parser: the module that does the work.
    assert ("engine/parser.py", 1, 3) in callees(index, modules, found[0], found[3])
    whole_class = find_definition(index, modules, "engine", ["Environment"])
    assert whole_class is not None and whole_class[1:3] == (4, 12)


def test_the_failures_words_rank_the_files_that_share_them(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(REEXPORTED)
    index = WorkspaceIndex(root)
    index.scan()
    sources = ["shapes/_area.py", "shapes/_names.py", "shapes/colours.py"]
    scores = bm25_scores(index, sources, "mixing the palette colours gives the wrong colour: mix(red, green)")
    assert max(scores, key=scores.__getitem__) == "shapes/colours.py"
    assert scores["shapes/colours.py"] == 1.0
    assert bm25_scores(index, sources, "") == {}
