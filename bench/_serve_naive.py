"""The naive baseline server of ``bench/serve.py``: what one would write without keel's server.

A plain FastAPI app under uvicorn (one worker) that loads a model with ``keel.load(ref)`` and calls
``predictor.predict_proba(records)`` once per request, in a plain ``def`` endpoint (FastAPI runs it
in its thread pool). It serves keel's v1 route and JSON, and ``GET /v2/health/ready``, so the load
generator and the readiness check are the same as for ``keel serve``.

    KEEL_HOME=/path/.keel python bench/_serve_naive.py digits:1 --port 8000
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, HTTPException

import keel


def make_app(ref: str) -> FastAPI:
    """The app for the model ``ref`` names, loaded (and verified) once at start."""
    predictor = keel.load(ref)
    classes = list(predictor.classes)
    app = FastAPI()

    @app.get("/v2/health/ready")
    def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/v1/models/{name}:predict")
    def predict(name: str, body: dict[str, Any]) -> dict[str, Any]:
        if name != predictor.name:
            raise HTTPException(404, f"no model named {name!r}")
        proba = predictor.predict_proba(body["instances"])
        return {
            "model_name": predictor.name,
            "model_version": predictor.version,
            "predictions": [classes[i] for i in np.argmax(proba, axis=1)],
            "probabilities": proba.tolist(),
        }

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="model reference, e.g. digits:1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(make_app(args.ref), host=args.host, port=args.port, workers=1, log_level="warning")


if __name__ == "__main__":
    main()
