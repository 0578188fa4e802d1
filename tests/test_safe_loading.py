"""No pickle loading of untrusted files: checkpoints load with weights_only=True, exports from
safetensors + JSON."""
import ast
import pathlib

import pytest
import torch

from jst.engine import checkpoint
from jst.engine.errors import CheckpointError
from jst.engine.rng import rng_state, set_rng_state


class Payload:
    """An arbitrary object: unpickling it would run code of the file's choosing."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_a_checkpoint_with_a_pickled_object_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "hook": Payload()}, path)
    with pytest.raises(CheckpointError, match="not a valid jst checkpoint"):
        checkpoint.load(path)
    assert "pwned" not in capsys.readouterr().out


def test_rng_states_of_torch_numpy_and_python_survive_a_checkpoint(tmp_path):
    import random

    import numpy as np
    state = rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    checkpoint.save({"rng": state, "epoch": 3}, tmp_path / "ok.pt")
    loaded = checkpoint.load(tmp_path / "ok.pt")
    torch.rand(5), np.random.rand(5), random.random()  # the generators move on
    set_rng_state(loaded["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2] and loaded["epoch"] == 3


def test_the_package_never_unpickles():
    """Every torch.load in jst/ passes weights_only=True; no pickle.load / torch.load elsewhere."""
    root = pathlib.Path(__file__).resolve().parents[1] / "jst"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = f"{getattr(node.func.value, 'id', '?')}.{node.func.attr}"
                if name in ("pickle.load", "pickle.loads", "dill.load"):
                    pytest.fail(f"{path}: {name}")
                if name == "torch.load":
                    kw = {k.arg: k.value for k in node.keywords}
                    assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, path
