"""Files keel reads back are opened in one step, only if they are regular files: a check such as
``is_file()`` followed by an open leaves a window in which someone can put a FIFO in the file's
place, and then the open or the read waits for a writer forever.

Each test forces the worst moment: the check answers "a regular file" and a real FIFO takes the
file's place right after. The read must end (within a generous 30 s) with one clear error. Cases:
a resumed run's status.json (`keel run --resume`), a training checkpoint, and a blob or audit
checkpoint of an fsspec ``file://`` artifact store.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from keel.errors import IntegrityError, UserError
from keel.registry import FsspecBackend
from keel.train._checkpoint import load_checkpoint
from tests._cli import assert_user_error

SPEC = 'name = "iris"\n[data]\nsource = "builtin:iris"\n[train]\nepochs = 1\n'


@contextlib.contextmanager
def swapped_after(owner: Any, check: str, path: Path) -> Iterator[None]:
    """A FIFO in ``path``'s place, while ``owner.check`` (``is_file``, ``isfile``) still answers
    True for it: as if the check ran while the file was regular and the swap came right after."""
    path.unlink()
    os.mkfifo(path)
    original = getattr(owner, check)

    def stale(*args: Any, **kwargs: Any) -> Any:
        target = args[-1] if args else kwargs.get("path")
        return True if Path(str(target)) == path else original(*args, **kwargs)

    setattr(owner, check, stale)
    try:
        yield
    finally:
        setattr(owner, check, original)


def ends(work: Callable[[], Any], fifo: Path, seconds: float = 30.0) -> BaseException | None:
    """Run ``work`` in a thread; the error it raised (None if none). Fails if it is still waiting
    after ``seconds`` (then a writer opens ``fifo`` once, so the thread can end)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            work()
            outcome.append(None)
        except BaseException as err:  # the test inspects it
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():  # pragma: no cover - only without the fix
        with contextlib.suppress(OSError):  # unblock the reader: a writer arrives and leaves
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"reading {fifo} was still waiting after {seconds} s (a FIFO in its place)")
    return outcome[0]


# -- keel run --resume: the run's status.json --------------------------------------------------


@pytest.fixture
def run_dir(keel_home: Path, tmp_path: Path) -> Path:
    """A run folder as `keel run` leaves it when killed, and its spec next to the tests."""
    (tmp_path / "spec.toml").write_text(SPEC)
    folder = keel_home / "runs" / "iris-20260101-000000-abcdef"
    folder.mkdir(parents=True)
    (folder / "spec.toml").write_text(SPEC)
    (folder / "status.json").write_text('{"state": "running", "spec_sha256": "x"}')
    return folder


@pytest.mark.parametrize("text", ["{not json", '["a", "list"]', "\x00" * 10, '"running"'])
def test_a_status_keel_did_not_write_is_one_line(run_dir: Path, tmp_path, keel_cli, text) -> None:
    (run_dir / "status.json").write_text(text)
    done = keel_cli("run", tmp_path / "spec.toml", "--resume", run_dir.name, "--no-register")
    assert_user_error(done, "is not a run status keel wrote", "start a new run")


def test_a_status_swapped_for_a_fifo_after_its_check_does_not_hang(
    run_dir: Path, tmp_path: Path
) -> None:
    from keel.pipeline import _run

    status = run_dir / "status.json"
    with swapped_after(Path, "is_file", status):
        error = ends(lambda: _run._run_status(status), status)
    assert isinstance(error, UserError) and "is not a run status keel wrote" in str(error)


# -- a training checkpoint ---------------------------------------------------------------------


def test_a_checkpoint_swapped_for_a_fifo_after_its_check_does_not_hang(tmp_path: Path) -> None:
    checkpoint = tmp_path / "last.pt"
    checkpoint.write_bytes(b"not read")
    with swapped_after(Path, "is_file", checkpoint):
        error = ends(lambda: load_checkpoint(checkpoint), checkpoint)
    assert isinstance(error, IntegrityError), error
    assert "is a FIFO (named pipe), not a file: delete it and start afresh" in str(error)


# -- an fsspec file:// artifact store: blobs and audit checkpoints -----------------------------


@pytest.mark.parametrize("read", ["open", "read"])
def test_a_local_fsspec_blob_swapped_for_a_fifo_after_its_check_does_not_hang(
    tmp_path: Path, read: str
) -> None:
    backend = FsspecBackend(f"file://{tmp_path / 'store'}")
    backend.write("audit/abc/000000000001.json", [b"{}"])
    blob = tmp_path / "store" / "audit" / "abc" / "000000000001.json"
    with swapped_after(backend.fs, "isfile", blob):
        error = ends(lambda: getattr(backend, read)("audit/abc/000000000001.json"), blob)
    assert isinstance(error, IntegrityError), error
    assert "is a FIFO (named pipe), not a regular file" in str(error)


def test_a_local_fsspec_blob_behind_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    backend = FsspecBackend(f"file://{tmp_path / 'store'}")
    backend.write("sha256/ab/x", [b"blob"])
    (tmp_path / "elsewhere").write_bytes(b"someone else's bytes")
    link = tmp_path / "store" / "sha256" / "ab" / "x"
    link.unlink()
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(IntegrityError, match="a symbolic link, not a regular file"):
        backend.read("sha256/ab/x")
