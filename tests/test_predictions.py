"""Every run saves each test image's prediction: the paired tests between methods resample them."""
import numpy as np
import pytest
from safetensors.numpy import load_file

from jst.engine.errors import JstError
from jst.report.records import read_record


def test_the_saved_predictions_are_the_reported_accuracy(smoke_method):
    result, out = smoke_method("l1norm")
    p = load_file(str(out / result["predictions"]))
    assert len(p["label"]) == result["data"]["test"]
    assert np.mean(p["predicted"] == p["label"]) == pytest.approx(result["pruned"]["test_acc"], abs=1e-12)
    correct = read_record(out).correct()
    assert correct.dtype == bool and correct.mean() == pytest.approx(result["pruned"]["test_acc"], abs=1e-12)


def test_a_damaged_predictions_file_is_one_line(smoke_method, tmp_path):
    import shutil
    _, out = smoke_method("l1norm")
    copy = tmp_path / "run"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("checkpoints"))
    (copy / "predictions.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(JstError, match="damaged predictions file"):
        read_record(copy).correct()


def test_a_record_without_predictions_has_none(smoke_method, tmp_path):
    import shutil
    _, out = smoke_method("l1norm")
    copy = tmp_path / "old"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("checkpoints", "predictions.safetensors"))
    assert read_record(copy).correct() is None
