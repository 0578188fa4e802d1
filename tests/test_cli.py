"""Bad input: a one-line message and exit status 2, before any work."""
import subprocess
import sys


def jst(*args):
    return subprocess.run([sys.executable, "-m", "jst", *map(str, args)], capture_output=True, text=True)


def base(data_root, out):
    return ["run", "--dataset", "mnist", "--arch", "lenet5", "--data-root", data_root, "--scale", "smoke",
            "--out", out]


def test_help_lists_methods_archs_and_datasets():
    out = jst("run", "--help").stdout
    for word in ("jst", "dense", "lenet5", "resnet56", "fashion_mnist", "imagefolder", "smoke", "paper"):
        assert word in out


def test_missing_data_root(tmp_path):
    p = jst(*base(tmp_path / "absent", tmp_path / "out"))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "absent" in p.stderr
    assert not (tmp_path / "out").exists()


def test_flops_target_out_of_range(data_root, tmp_path):
    for bad in ("0", "1.5", "-0.2"):
        p = jst(*base(data_root, tmp_path / "out"), "--flops-target", bad)
        assert p.returncode == 2 and "flops target" in p.stderr
    assert not (tmp_path / "out").exists()


def test_flops_target_below_the_architecture_floor(data_root, tmp_path):
    p = jst(*base(data_root, tmp_path / "out"), "--flops-target", "0.01")
    assert p.returncode == 2 and "below what lenet5 allows" in p.stderr


def test_unknown_set_field_and_bad_device(data_root, tmp_path):
    p = jst(*base(data_root, tmp_path / "o"), "--set", "no_such_field=1")
    assert p.returncode == 2 and "no_such_field" in p.stderr
    p = jst(*base(data_root, tmp_path / "o"), "--device", "cuda:7")
    assert p.returncode == 2 and "cuda:7" in p.stderr
    p = jst(*base(data_root, tmp_path / "o"), "--set", "coarse_epochs=-1")
    assert p.returncode == 2 and "coarse_epochs" in p.stderr


def test_unknown_arch_is_refused_by_argparse(tmp_path):
    p = jst("run", "--dataset", "mnist", "--arch", "resnet7", "--out", tmp_path)
    assert p.returncode == 2 and "resnet7" in p.stderr


def test_flops_command():
    p = jst("flops", "--arch", "resnet20")
    assert p.returncode == 0 and '"macs": 40551040' in p.stdout
