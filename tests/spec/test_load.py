"""Spec loading: a valid spec becomes typed config; a mistake is one line naming file, key, fix."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from keel.errors import NotFoundError, SpecError
from keel.models.config import CNNConfig
from keel.spec import load_spec, parse_spec

EXAMPLES = Path(__file__).parents[2] / "examples"
BASE = 'name = "m"\n[data]\nsource = "builtin:iris"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "spec.toml") in message
    return message


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_is_valid(example):
    loaded = load_spec(example)
    assert loaded.spec.name == example.stem
    assert loaded.base_dir == example.parent.resolve()


def test_defaults_fill_missing_sections(tmp_path):
    spec = load_spec(write(tmp_path, BASE)).spec
    assert spec.model.name == "mlp"
    assert spec.train.optimizer == "adam"
    assert spec.data.split.val == 0.15
    assert spec.evaluate.cv_folds == 0


def test_model_section_selects_architecture_config(tmp_path):
    spec = load_spec(write(tmp_path, BASE + '[model]\nname = "cnn"\nchannels = [8]\n')).spec
    assert isinstance(spec.model, CNNConfig)
    assert spec.model.channels == [8]


def test_unknown_key_suggests_the_close_one(tmp_path):
    message = error_for(tmp_path, BASE + "[train]\nepochz = 3\n")
    assert "train.epochz" in message and "did you mean 'epochs'" in message


def test_unknown_key_in_architecture_section(tmp_path):
    message = error_for(tmp_path, BASE + '[model]\nname = "cnn"\nchanels = [8]\n')
    assert "model.chanels" in message and "'channels'" in message


def test_unknown_section_suggests_the_close_one(tmp_path):
    message = error_for(tmp_path, 'name = "m"\n[dat]\nsource = "builtin:iris"\n')
    assert "'dat'" in message and "did you mean 'data'" in message


def test_wrong_type_names_key_and_value(tmp_path):
    message = error_for(tmp_path, BASE + '[train]\nepochs = "ten"\n')
    assert "train.epochs" in message and "'ten'" in message and "integer" in message


def test_bad_choice_lists_allowed_values_and_suggests(tmp_path):
    message = error_for(tmp_path, BASE + '[train]\noptimizer = "adm"\n')
    assert "'sgd', 'adam' or 'adamw'" in message and "did you mean 'adam'" in message


def test_unknown_model_lists_the_valid_ones(tmp_path):
    message = error_for(tmp_path, BASE + '[model]\nname = "resnet"\n')
    assert "mlp, cnn, rnn, transformer" in message


def test_out_of_range_value(tmp_path):
    message = error_for(tmp_path, BASE + "[train]\nlr = -1.0\n")
    assert "train.lr" in message and "-1.0" in message


def test_split_that_leaves_nothing_to_train(tmp_path):
    message = error_for(tmp_path, BASE + "[data.split]\nval = 0.5\ntest = 0.45\n")
    assert "data.split" in message and "too little to train" in message


def test_missing_required_key(tmp_path):
    message = error_for(tmp_path, "[data]\nsource = 'builtin:iris'\n")
    assert "missing required key 'name'" in message


def test_bad_name(tmp_path):
    message = error_for(tmp_path, 'name = "my model!"\n[data]\nsource = "builtin:iris"\n')
    assert "name = 'my model!'" in message and "letters" in message


def test_invalid_toml(tmp_path):
    message = error_for(tmp_path, "name = \n")
    assert "not valid TOML" in message


def test_missing_file(tmp_path):
    with pytest.raises(NotFoundError, match="spec file not found"):
        load_spec(tmp_path / "nope.toml")


def test_parse_spec_from_mapping():
    spec = parse_spec({"name": "m", "data": {"source": "builtin:wine"}})
    assert spec.data.source == "builtin:wine"
    with pytest.raises(SpecError, match="<spec>: unknown key 'dat'"):
        parse_spec({"name": "m", "dat": {}, "data": {"source": "x"}})


def test_configs_are_frozen(tmp_path):
    spec = load_spec(write(tmp_path, BASE)).spec
    with pytest.raises(ValidationError, match="frozen"):
        spec.train.epochs = 3  # type: ignore[misc]
    assert spec.train.epochs != 3


def test_gates_section(tmp_path):
    text = BASE + '[gates]\nrequire = ["test.accuracy >= 0.9", "cv.accuracy.std < 0.05"]\n'
    spec = load_spec(write(tmp_path, text)).spec
    assert spec.gates.require == ["test.accuracy >= 0.9", "cv.accuracy.std < 0.05"]
    assert load_spec(write(tmp_path, BASE)).spec.gates.require == []


def test_bad_gate_is_one_line_naming_the_condition(tmp_path):
    text = BASE + '[gates]\nrequire = ["test.accuracy >= 0.9", "test.accuracy => 0.9"]\n'
    message = error_for(tmp_path, text)
    assert "gates.require[1]" in message and "'test.accuracy => 0.9'" in message
    assert "FIGURE OP NUMBER" in message and "e.g. 'test.accuracy >= 0.97'" in message


def test_unknown_gates_key(tmp_path):
    message = error_for(tmp_path, BASE + '[gates]\nrequires = ["test.accuracy >= 0.9"]\n')
    assert "gates.requires" in message and "did you mean 'require'" in message


def test_validate_reports_a_bad_gate_in_one_line(tmp_path, keel_cli):
    path = write(tmp_path, BASE + '[gates]\nrequire = ["accuracy >= 0.9"]\n')
    proc = keel_cli("validate", path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "gates.require[0]" in lines[0] and "e.g. 'test.accuracy'" in lines[0]
    assert "Traceback" not in proc.stderr
