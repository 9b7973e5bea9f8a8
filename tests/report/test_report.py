"""The HTML report: written whole, parses, holds every section and real PNGs, opens offline."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from keel import _io
from keel.errors import DataError, UserError
from keel.evaluate import (
    Evaluation,
    classification_metrics,
    regression_metrics,
    summarize_cv,
)
from keel.report import write_report
from tests.report._html_check import Parsed, parse

SPEC = '[data]\nsource = "x.csv"\n# </pre><script>alert("owned")</script> & more\n'
SECTIONS = {"diagnosis", "metrics", "figures", "data", "spec"}


def _history(n: int = 6) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for e in range(1, n + 1):
        rows.append(
            {
                "epoch": e,
                "train_loss": 1.0 / e,
                "val_loss": None if e == 2 else 1.2 / e,  # a gap
                "lr": 1e-3 if e < 4 else 1e-4,
                "val_accuracy": 1 - 0.5 / e,
            }
        )
    rows.append({"epoch": n + 1})  # every value missing
    return rows


def _classification(k: int, n: int = 150, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    z = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[y]
    proba = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    names = [f"class <{j}>" for j in range(k)]  # markup in names must be escaped too
    m = classification_metrics(y, proba, names)
    return {
        "task": "classification",
        "class_names": names,
        "test_true": y,
        "test_outputs": proba,
        "metrics": Evaluation(val=m, test=m, cv=summarize_cv([m, m, m])).to_dict(),
    }


def _regression(n: int = 120, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n) * 10
    pred = y + rng.normal(size=n)
    return {
        "task": "regression",
        "class_names": [],
        "test_true": y,
        "test_outputs": pred,
        "metrics": {"val": regression_metrics(y, pred), "test": regression_metrics(y, pred)},
    }


def _write(path: Path, case: dict[str, Any], **overrides: Any) -> tuple[str, Parsed]:
    kwargs: dict[str, Any] = {
        "title": "Report <title>",
        "spec_text": SPEC,
        "data_summary": {
            "rows": 1234,
            "digest": "sha256:0f0f",
            "class_counts": {"a": 10, "b": np.int64(20)},
            "columns": {"x": {"kind": "numeric", "missing": 0}, "y": {"kind": "text"}},
            "splits": [{"part": "train", "rows": 900}, {"part": "test", "rows": 334}],
            "weird": {"nested": [1, {"deep": None}], "arr": np.arange(3)},
            "image": {"shape": [1, 8, 8], "pixels": 64},
            "empty": {},
            "split": {
                "train": {"rows": 900, "class_counts": {"a": 450, "b": 450}},
                "test": {"rows": 334, "class_counts": {"a": 167, "b": 167}},
            },
            "mean": np.float32(0.25),
            "missing": None,
        },
        "history": _history(),
        "diagnosis": {
            "verdict": "overfitting",
            "message": "validation loss rises after epoch 4",
            "suggestion": "[train] weight_decay = 1e-4",
        },
        **case,
    }
    kwargs.update(overrides)
    out = write_report(path, **kwargs)
    assert out == path
    html = path.read_text(encoding="utf-8")
    return html, parse(html)


def _png(uri: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    raw = base64.b64decode(uri[len(prefix) :], validate=True)
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    Image.open(io.BytesIO(raw)).verify()
    image = Image.open(io.BytesIO(raw))
    image.load()
    assert image.format == "PNG"
    return image


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, Parsed]]:
    folder = tmp_path_factory.mktemp("reports")
    return {
        "binary": _write(folder / "binary.html", _classification(2)),
        "multiclass": _write(folder / "multi.html", _classification(4, seed=1)),
        "regression": _write(folder / "regression.html", _regression()),
    }


@pytest.mark.parametrize(
    ("kind", "n_images"), [("binary", 5), ("multiclass", 5), ("regression", 3)]
)
def test_report_has_every_section_and_valid_pngs(reports, kind: str, n_images: int) -> None:
    _, doc = reports[kind]
    assert doc.ids >= SECTIONS
    assert "Report <title>" in doc.text  # the title, escaped then read back
    assert len(doc.images) == n_images
    for uri in doc.images:
        image = _png(uri)
        assert image.width >= 300 and image.height >= 250
        # A real picture, not a blank canvas: many distinct colours.
        assert len(image.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 20


def test_report_opens_offline(reports) -> None:
    for html, doc in reports.values():
        lowered = html.lower()
        assert "http://" not in lowered and "https://" not in lowered
        assert "script" not in doc.tags and "link" not in doc.tags and "iframe" not in doc.tags
        for name, value in doc.attributes:
            if name in ("src", "href"):
                assert value.startswith(("data:image/png;base64,", "#")), value


def test_spec_and_names_are_escaped(reports) -> None:
    html, doc = reports["multiclass"]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(" in html
    assert doc.pre[-1] == SPEC  # the spec reads back exactly, as text
    assert "class <0>" in doc.text


def test_diagnosis_and_metrics_are_shown(reports) -> None:
    _, doc = reports["binary"]
    assert "overfitting" in doc.text
    assert "tone-bad" in doc.classes  # the verdict is highlighted
    assert "weight_decay = 1e-4" in doc.text
    case = _classification(2)
    test = case["metrics"]["test"]
    assert f"{test['accuracy']:.4f}" in doc.text
    assert f"{test['accuracy']:.4f} ± 0.0000" in doc.text  # cv mean ± std over 3 equal folds
    assert "cross-validation (3 folds)" in doc.text
    assert "Per class" in doc.text
    for name in ("rows", "1,234", "sha256:0f0f", "class_counts", "splits", "missing", "deep"):
        assert name in doc.text
    assert "1, 8, 8" in doc.text  # a list inside a dict stays one cell
    assert "class_counts · a" in doc.text  # nested counts become columns of the split table


def test_regression_report_has_no_per_class_table(reports) -> None:
    _, doc = reports["regression"]
    assert "Per class" not in doc.text
    assert "rmse" in doc.text and "r2" in doc.text


def test_missing_history_and_parts_do_not_crash(tmp_path: Path) -> None:
    _, doc = _write(
        tmp_path / "r.html",
        _classification(3),
        history=[],
        metrics={"val": {}, "test": {"accuracy": None}},
        diagnosis={},
        data_summary={},
    )
    assert "No training history" in doc.text
    assert len(doc.images) == 4  # no learning curves
    assert "No data summary" in doc.text
    _, doc = _write(
        tmp_path / "r2.html",
        _regression(),
        history=[{"epoch": 1, "train_loss": None}, {"val_loss": 0.5}, {}],
    )
    assert len(doc.images) == 3


def test_undefined_curves_are_left_out(tmp_path: Path) -> None:
    case = _classification(2)
    case["test_true"] = np.zeros_like(case["test_true"])  # one class only: no ROC, no PR
    _, doc = _write(tmp_path / "one.html", case)
    assert len(doc.images) == 3  # learning curves, confusion matrix, reliability


def test_write_is_atomic_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "report.html"
    _write(target, _regression())
    first = target.stat().st_ino
    _write(target, _regression(seed=1))
    assert target.stat().st_ino != first  # replaced by rename, not rewritten in place
    assert os.listdir(target.parent) == ["report.html"]  # no temporary file left behind


def test_a_refused_report_leaves_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    _write(target, _regression())
    before = target.read_bytes()
    bad = _regression()
    bad["test_outputs"] = bad["test_outputs"][:-1]
    with pytest.raises(DataError):
        _write(target, bad)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["report.html"]


def test_a_failed_write_leaves_the_old_report_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.html"
    _write(target, _regression())
    before = target.read_bytes()

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_io.os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        _write(target, _regression(seed=2))
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["report.html"]


@pytest.mark.parametrize(
    ("change", "error", "needle"),
    [
        ({"task": "ranking"}, DataError, "ranking"),
        ({"class_names": ["a", "b", "c"]}, DataError, "3 class names"),
        ({"test_outputs": np.full((150, 2), 2.0)}, DataError, "logits"),
        ({"test_true": np.full(150, 5)}, DataError, "class index 5"),
    ],
)
def test_bad_inputs_are_user_errors(tmp_path: Path, change, error, needle) -> None:
    with pytest.raises(error, match=needle):
        _write(tmp_path / "r.html", {**_classification(2), **change})


def test_a_directory_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="directory"):
        _write(tmp_path, _regression())


def test_figures_never_touch_pyplot(tmp_path: Path) -> None:
    """The report draws with the object API only: pyplot (global state) is never imported."""
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from keel.report import write_report\n"
        "y = np.arange(40) % 3\n"
        "p = np.full((40, 3), 0.2); p[np.arange(40), y] = 0.6\n"
        f"write_report(Path({str(tmp_path / 'r.html')!r}), title='t', spec_text='', "
        "data_summary={}, history=[{'epoch': 1, 'train_loss': 1.0}], metrics={}, "
        "diagnosis={}, task='classification', class_names=['a', 'b', 'c'], "
        "test_true=y, test_outputs=p)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert (tmp_path / "r.html").exists()


def test_history_with_every_validation_metric_renders(tmp_path: Path) -> None:
    """The trainer records every scalar metric per epoch; the curves pick the headline ones."""
    case = _classification(3)
    val = case["metrics"]["val"]
    history = [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "val_loss": 1.1 / e,
            "lr": 0.01,
            "seconds": 0.2,
            **{
                f"val_{k}": (None if k == "roc_auc" and e == 1 else v)
                for k, v in val.items()
                if isinstance(v, float)
            },
        }
        for e in range(1, 5)
    ]
    _, doc = _write(tmp_path / "r.html", case, history=history)
    assert len(doc.images) == 5
    _png(doc.images[0])
