"""Bad input: a one-line message and exit status 2, before any work. Two cases go through ``python -m jst``
in a new process (the real entry point and its exit status); the rest call the same ``main`` in-process."""
import subprocess
import sys

from cli_helpers import call

from jst.cli import main


def jst(*args):
    return subprocess.run([sys.executable, "-m", "jst", *map(str, args)], capture_output=True, text=True)


def base(data_root, out):
    return ["run", "--dataset", "mnist", "--arch", "lenet5", "--data-root", data_root, "--scale", "smoke",
            "--out", out]


def test_help_lists_methods_archs_and_datasets():
    out = jst("run", "--help").stdout
    for word in ("jst", "dense", "lenet5", "resnet56", "fashion_mnist", "imagefolder", "smoke", "paper"):
        assert word in out


def test_unknown_arch_is_refused_by_argparse(tmp_path):
    p = jst("run", "--dataset", "mnist", "--arch", "resnet7", "--out", tmp_path)
    assert p.returncode == 2 and "resnet7" in p.stderr


def test_missing_data_root(tmp_path, capsys):
    code, err = call(base(tmp_path / "absent", tmp_path / "out"), capsys)
    assert code == 2 and err.count("\n") == 1 and "absent" in err
    assert not (tmp_path / "out").exists()


def test_flops_target_out_of_range(data_root, tmp_path, capsys):
    for bad in ("0", "1.5", "-0.2"):
        code, err = call([*base(data_root, tmp_path / "out"), "--flops-target", bad], capsys)
        assert code == 2 and "flops target" in err
    assert not (tmp_path / "out").exists()


def test_flops_target_below_the_architecture_floor(data_root, tmp_path, capsys):
    code, err = call([*base(data_root, tmp_path / "out"), "--flops-target", "0.01"], capsys)
    assert code == 2 and "below what lenet5 allows" in err


def test_unknown_set_field_and_bad_device(data_root, tmp_path, capsys):
    for extra, named in ((["--set", "no_such_field=1"], "no_such_field"), (["--device", "cuda:7"], "cuda:7"),
                         (["--set", "coarse_epochs=-1"], "coarse_epochs")):
        code, err = call([*base(data_root, tmp_path / "o"), *extra], capsys)
        assert code == 2 and named in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_flops_command(capsys):
    assert main(["flops", "--arch", "resnet20"]) == 0
    assert '"macs": 40551040' in capsys.readouterr().out
