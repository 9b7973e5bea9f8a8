"""Duplicates of a table with a text column beside other columns are whole rows, not texts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from keel.data import DataConfig, load_dataset
from keel.data.config import DedupConfig
from keel.pipeline._prepare import dedup_dataset


def test_rows_that_share_a_text_but_not_their_numbers_are_kept(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "name": ["ford pinto", "ford pinto", "ford pinto", "amc gremlin", "amc gremlin x"],
            "year": [70.0, 75.0, 75.0, 71.0, 71.0],
            "mpg": [25.0, 23.0, 23.0, 19.0, 19.0],
        }
    )
    frame.to_csv(tmp_path / "cars.csv", index=False)
    cfg = DataConfig(source=str(tmp_path / "cars.csv"), target="mpg", columns={"name": "text"})
    dataset = load_dataset(cfg, base_dir=tmp_path)
    assert dataset.schema.lone_text is None
    kept, report = dedup_dataset(dataset, DedupConfig(exact=True), seed=0)
    assert report.exact_removed == 1  # only row 2 repeats row 1 whole
    assert kept.features["year"].tolist() == [70.0, 75.0, 71.0, 71.0]
