"""Every `keel …` command a message, a help text or a docstring in src/keel names exists, with
every `--flag` it names: a fix that names a command nobody can run is no fix (`keel keys trust`
and `keel keys show` were named for years and never existed).

The mentions are read from the source (every string constant, f-strings with their fields as
placeholders) and resolved against the real command tree the `keel` script runs.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from keel.cli._app import app

SRC = Path(__file__).parents[2] / "src" / "keel"
MENTION = re.compile(r"`keel ([^`]+)`")
PLACEHOLDERS = {"…", "..."}  # `keel …`: any command


def strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string constant of ``tree`` with its line; an f-string with ``{}`` for each field."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                inside.add(id(value))
                literal = isinstance(value, ast.Constant) and isinstance(value.value, str)
                parts.append(value.value if literal else "{}")
            yield node.lineno, "".join(parts)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in inside
        ):
            yield node.lineno, node.value


def mentions() -> list[tuple[str, str]]:
    """``(where, words after keel)`` for every backquoted `keel …` in src/keel. Implicitly joined
    literals are one constant to ``ast``, so a mention split over two lines is read whole."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, text in strings(tree):
            for match in MENTION.finditer(text):
                if match[1] not in PLACEHOLDERS:
                    found.append((f"{path.relative_to(SRC.parent)}:{line}", match[1]))
    return found


def problem(words: str) -> str | None:
    """Why `keel WORDS` is not a command line keel runs (unknown command or flag), or None."""
    command = typer.main.get_command(app)
    path = ["keel"]
    tokens = words.split()
    while tokens and hasattr(command, "commands"):
        token = tokens.pop(0)
        if token not in command.commands:
            known = ", ".join(sorted(command.commands))
            return f"`{' '.join(path)}` has no command {token!r} (it has: {known})"
        command = command.commands[token]
        path.append(token)
    if hasattr(command, "commands"):
        return f"`{' '.join(path)}` is a group: name one of its commands"
    flags = {opt for param in command.params for opt in getattr(param, "opts", [])}
    flags |= {"--help"}
    for token in tokens:
        flag = token.split("=")[0]
        if flag.startswith("--") and flag not in flags:
            return f"`{' '.join(path)}` has no option {flag}"
    return None


ALL = mentions()


def test_the_source_names_commands() -> None:
    assert len(ALL) > 40  # the reader works: messages name many commands


@pytest.mark.parametrize(("where", "words"), ALL, ids=[f"{w} keel {c}" for w, c in ALL])
def test_every_named_command_exists(where: str, words: str) -> None:
    assert problem(words) is None, f"{where}: `keel {words}`: {problem(words)}"


@pytest.mark.parametrize(
    "words", ["keys trust", "keys show", "keys", "models resign --force", "nope run"]
)
def test_a_command_that_does_not_exist_is_caught(words: str) -> None:
    assert problem(words) is not None
