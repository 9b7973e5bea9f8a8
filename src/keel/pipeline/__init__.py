"""The pipeline: the stages of keel wired into one run."""

from keel.pipeline._run import RunResult, run

__all__ = ["RunResult", "run"]
