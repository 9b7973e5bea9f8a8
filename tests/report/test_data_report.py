"""The data report: findings, figures of what was measured, columns and repairs, offline."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from keel.report import DataFigures, write_data_report
from tests.report._html_check import parse

SUMMARY = {
    "rows": 1000,
    "task": "classification",
    "kinds": {"numeric": 2, "categorical": 0, "image": 0, "text": 1},
    "columns": {
        "age <x>": {"kind": "numeric", "missing": 40, "distinct": 60, "min": 18, "max": 90},
        "note": {"kind": "text", "missing": 0, "distinct": 990},
    },
}
CHECK = {
    "rows": 1000,
    "errors": 1,
    "warnings": 1,
    "findings": [
        {"check": "duplicates", "severity": "error", "message": "12 rows <b>repeat</b>",
         "count": 12, "fraction": 0.012, "details": {}},
        {"check": "outliers", "severity": "warn", "message": "3 rows hold a far value",
         "count": 3, "fraction": 0.003, "details": {}},
    ],
    "measured": {"duplicate_rows": 12, "test_rows_in_training": 4, "outlier_rows": 3,
                 "outliers_by_column": {"age <x>": 3}},
}  # fmt: skip


def _figures(**change) -> DataFigures:
    rng = np.random.default_rng(0)
    base = dict(
        rows=1000,
        measured=CHECK["measured"],
        parts={"train": {"a": 600, "b": 100}, "val": {"a": 130, "b": 20},
               "test": {"a": 130, "b": 20}},
        missing={"age <x>": 0.04},
        numeric={"age <x>": rng.normal(40, 10, 1000), "income": rng.lognormal(3, 1, 1000)},
        text_words=rng.integers(5, 400, 1000).astype(float),
        max_tokens=128,
        test_rows=150,
    )  # fmt: skip
    return DataFigures(**(base | change))


def _write(tmp_path: Path, **kw) -> tuple[str, object]:
    args = dict(
        title="shop <data>",
        summary=SUMMARY,
        check=CHECK,
        figures=_figures(),
        repairs={"duplicates removed": {"exact": 5, "near": 2}},
        spec_text="x = 1",
    )
    path = write_data_report(tmp_path / "check.html", **(args | kw))  # type: ignore[arg-type]
    html = path.read_text()
    return html, parse(html)


def test_report_shows_findings_figures_columns_and_repairs(tmp_path):
    html, doc = _write(tmp_path)
    assert doc.ids >= {"findings", "figures", "columns", "repairs", "spec"}
    assert "1 error(s)" in doc.text and "12 rows <b>repeat</b>" in doc.text  # escaped, read back
    assert "<b>repeat" not in html and "shop <data>" in doc.text
    assert "age <x>" in doc.text and "duplicates removed" in doc.text
    # problems, classes per split, missing values, numeric columns, document lengths
    assert len(doc.images) == 5
    for uri in doc.images:
        image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
        assert image.width >= 300 and len(image.convert("RGB").getcolors(1_000_000) or []) > 20
    assert "http://" not in html.lower() and "script" not in doc.tags


def test_figures_without_anything_to_show_are_left_out(tmp_path):
    clean = {"rows": 10, "errors": 0, "warnings": 0, "findings": [], "measured": {}}
    figures = DataFigures(rows=10)
    _, doc = _write(tmp_path, check=clean, figures=figures, repairs={})
    assert "no findings" in doc.text and doc.images == []
    assert "Nothing to draw" in doc.text and "[data.pii] and [data.dedup] are off" in doc.text


def _planted_spec(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame(
        {
            "a": rng.normal(0, 1, n),
            "gappy": np.where(rng.random(n) < 0.3, np.nan, rng.normal(0, 1, n)),
            "label": rng.choice(["x", "y"], n, p=[0.8, 0.2]),
        }
    )
    frame.loc[3, "a"] = 1e4
    frame.loc[50:59] = frame.loc[0:9].to_numpy()
    frame.to_csv(tmp_path / "d.csv", index=False)
    spec = tmp_path / "d.toml"
    spec.write_text(
        'name = "planted"\n[data]\nsource = "d.csv"\ntarget = "label"\nmissing = "impute"\n'
    )
    return spec


def test_cli_data_check_writes_the_html_report_beside_the_json(tmp_path, keel_cli):
    done = keel_cli("data", "check", _planted_spec(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    report = Path(out["report"])
    assert report.suffix == ".html" and report.with_suffix(".json") == Path(out["written"])
    doc = parse(report.read_text())
    assert "duplicates" in doc.text and "10 rows" in doc.text
    assert len(doc.images) >= 4  # problems, classes, missing, numeric
    skipped = keel_cli("data", "check", tmp_path / "d.toml", "--json", "--no-html")
    assert json.loads(skipped.stdout)["report"] is None


def test_a_regression_target_is_drawn(tmp_path):
    rng = np.random.default_rng(2)
    figures = _figures(parts={}, target=rng.lognormal(4, 0.4, 500), target_name="wage")
    _, doc = _write(tmp_path, figures=figures)
    assert "Target" in doc.text and "Classes per split" not in doc.text
    assert len(doc.images) == 5  # target replaces the classes chart


def test_image_data_shows_sample_images_per_class(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.random((3, 4, 1, 8, 8))
    images[2, 3] = np.nan  # a class with fewer samples than the row holds
    figures = _figures(numeric={}, text_words=None, images=images, image_labels=["a", "b", "c"])
    _, doc = _write(tmp_path, figures=figures)
    assert "Sample images" in doc.text
    grid = doc.images[-1]
    image = Image.open(io.BytesIO(base64.b64decode(grid.split(",", 1)[1])))
    assert image.height > 200 and len(image.convert("L").getcolors(1_000_000) or []) > 20


def test_a_data_check_of_images_samples_every_class(tmp_path):
    from keel.data import DataConfig, load_dataset, split_dataset
    from keel.pipeline._data_report import data_figures
    from keel.spec import Spec

    spec = Spec(name="digits", data=DataConfig(source="builtin:digits"))
    ds = load_dataset(spec.data, base_dir=tmp_path)
    figures = data_figures(ds, split_dataset(ds, spec.data.split, 0), None, spec)
    assert figures.images is not None and figures.images.shape == (10, 8, 1, 8, 8)
    assert figures.image_labels == [str(c) for c in ds.classes]
    first = ds.features[ds.schema.of_kind("image")].to_numpy()[
        ds.target.to_numpy() == ds.classes[0]
    ]
    assert any(np.array_equal(img.reshape(-1), row) for img in figures.images[0] for row in first)
