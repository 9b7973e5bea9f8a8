"""The public surface of keel is exactly ``keel.__all__``, and every name in it works."""

import keel

EXPECTED = {
    "DataError", "Dataset", "Evaluation", "IntegrityError", "KeelError", "LoadedSpec",
    "NotFoundError", "Preprocessor", "RunResult", "Spec", "SpecError", "Split", "TargetEncoder",
    "TrainResult", "UserError", "__version__", "available_models", "build_model",
    "classification_metrics", "kfold", "load_dataset", "load_spec", "predict_outputs",
    "regression_metrics", "run", "split_dataset", "train", "write_report",
    "Predictor", "Registry", "ModelVersion", "RegistrySettings", "load", "open_registry",
}  # fmt: skip


def test_all_is_the_curated_surface():
    assert set(keel.__all__) == EXPECTED
    assert len(keel.__all__) == len(set(keel.__all__))


def test_every_public_name_resolves():
    for name in keel.__all__:
        assert getattr(keel, name) is not None, name


def test_public_objects_do_not_leak_private_modules():
    for name in keel.__all__:
        obj = getattr(keel, name)
        module = getattr(obj, "__module__", "keel") or "keel"
        assert module.startswith("keel"), (name, module)


def test_unknown_attribute_is_an_attribute_error():
    try:
        keel.no_such_thing  # noqa: B018
    except AttributeError as err:
        assert "no_such_thing" in str(err)
    else:
        raise AssertionError("expected AttributeError")


def test_error_tree_maps_to_exit_codes():
    from keel.errors import exit_code, http_status

    assert exit_code(keel.SpecError("x")) == 2
    assert exit_code(keel.DataError("x")) == 2
    assert exit_code(keel.IntegrityError("x")) == 3
    assert exit_code(RuntimeError("x")) == 1
    assert http_status(keel.NotFoundError("x")) == 404
    assert http_status(ValueError("x")) == 500
    assert issubclass(keel.SpecError, keel.UserError)
    assert issubclass(keel.UserError, keel.KeelError)
