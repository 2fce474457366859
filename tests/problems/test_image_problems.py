"""Image problems (MNIST, Fashion-MNIST, CIFAR-10) on tiny files in the official formats."""

import numpy as np
import pandas as pd
import pytest
import torch

from ml2bench.data.loaders import load_image_dataset
from ml2bench.data.testing import make_fake_cifar, make_fake_mnist
from ml2bench.errors import UserError
from ml2bench.models.conv_resnet_ode import ConvResNetODE
from ml2bench.problems.registry import FAMILIES, make_task, resolve_problem
from ml2bench.runner.prepare import prepare
from ml2bench.runner.sweep import expand, run_sweep

CNNS = ["mnist_cnn", "fashion_mnist_cnn", "cifar10_cnn"]
RESNETS = ["mnist_resnet", "fashion_mnist_resnet", "cifar10_resnet"]
SHAPES = {"mnist": (1, 28), "fashion": (1, 28), "cifar10": (3, 32)}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """100 training / 20 test images of every data set, in the official formats."""
    root = tmp_path_factory.mktemp("data")
    make_fake_mnist(root, n_train=100, n_test=20, kind="mnist", seed=1)
    make_fake_mnist(root, n_train=100, n_test=20, kind="fashion_mnist", gz=True, seed=2)
    make_fake_cifar(root, n_per_batch=20, n_test=20, seed=3)
    return root


@pytest.fixture(autouse=True)
def use_data_dir(data_dir, monkeypatch):
    monkeypatch.setenv("ML2BENCH_DATA", str(data_dir))


@pytest.mark.parametrize("name", CNNS + RESNETS)
def test_quick_task_data_on_device_normalised(name):
    task = make_task(f"{name}[quick=true]", seed=0)
    channels, size = SHAPES[name.split("_")[0]]
    x_train, y_train = task.train
    x_test, y_test = task.test
    assert x_train.shape == (100, channels, size, size)
    assert x_test.shape == (20, channels, size, size)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert x_train.device == task.device == torch.device("cpu")
    per_channel = dict(atol=1e-4, rtol=0)
    torch.testing.assert_close(x_train.mean(dim=(0, 2, 3)), torch.zeros(channels), **per_channel)
    torch.testing.assert_close(x_train.std(dim=(0, 2, 3), unbiased=False), torch.ones(channels),
                               **per_channel)
    assert task.metric == "test_acc" and task.batch_size == 128
    logits = task.model(x_test)
    assert logits.shape == (20, 10) and torch.isfinite(logits).all()
    expected_levels = 3 if name in RESNETS else 1
    assert len(task.hierarchy) == expected_levels


def test_float64_and_fixed_subset():
    task = make_task("cifar10_cnn[quick=true,dtype=float64,train_size=30,test_size=7]")
    raw = load_image_dataset("cifar10")
    assert task.train[0].dtype == torch.float64 and task.num_train == 30
    np.testing.assert_array_equal(task.train[1].numpy(), raw.y_train[:30])
    np.testing.assert_array_equal(task.test[1].numpy(), raw.y_test[:7])
    mean = raw.x_train[:30].astype(np.float64).mean(axis=(0, 2, 3)) / 255
    np.testing.assert_allclose(task.info["mean"], mean, rtol=1e-12)


@pytest.mark.parametrize("name", RESNETS)
def test_resnet_levels_table(name):
    spec, _, values = resolve_problem(name)
    assert (values["blocks"], values["levels"], values["centering"]) == (8, 3, "cell")
    table = make_task(f"{name}[quick=true]").hierarchy.table()
    assert [row["blocks"] for row in table] == [4, 2, 1]
    assert [row["h"] for row in table] == [0.5, 1.0, 2.0]
    grads = [row["cost_grad"] for row in table]
    assert grads[0] == pytest.approx(1.0)
    assert grads[0] > grads[1] > grads[2] > 0
    assert all(row["cost_hvp"] > row["cost_grad"] > row["cost_forward"] for row in table)


def test_conv_resnet_transfer_invariants():
    task = make_task("mnist_resnet[quick=true,dtype=float64]")
    gen = torch.Generator().manual_seed(0)
    hierarchy = task.hierarchy
    for fine, coarse, transfer in zip(hierarchy.levels[:-1], hierarchy.levels[1:],
                                      hierarchy.transfers):
        shapes_f = [p.shape for p in fine.model.parameters()]
        shapes_c = [p.shape for p in coarse.model.parameters()]
        assert shapes_f[2][0] == 2 * shapes_c[2][0] and shapes_f[2][1:] == shapes_c[2][1:]
        x = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes_c]
        for a, b in zip(transfer.project(transfer.prolong(x)), x):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        g = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes_f]
        left = sum((r * v).sum() for r, v in zip(transfer.restrict(g), x))
        right = sum((a * b).sum() for a, b in zip(g, transfer.prolong(x)))
        assert float(left) == pytest.approx(transfer.adjoint_scale * float(right), rel=1e-12)
    # levels start from the same function: coarse parameters are the projection of the fine
    fine, coarse = hierarchy.levels[0].model, hierarchy.levels[1].model
    projected = hierarchy.transfers[0].project(list(fine.parameters()))
    for p, q in zip(coarse.parameters(), projected):
        torch.testing.assert_close(p, q)


def test_conv_resnet_matches_the_euler_formula():
    gen = torch.Generator().manual_seed(3)
    model = ConvResNetODE(2, 3, 4, 3, 1.5, 8, centering="vertex", activation="tanh",
                          pooling="global", generator=gen, dtype=torch.float64,
                          block_init="independent")
    assert model.h == 0.75 and model.stacked() == [False, False, True, True, False, False]
    x = torch.randn(5, 2, 8, 8, generator=gen, dtype=torch.float64)
    p = list(model.parameters())
    conv = lambda y, w, b: torch.nn.functional.conv2d(y, w, b, padding=1)  # noqa: E731
    y = torch.tanh(conv(x, p[0], p[1]))
    for k, step in enumerate((0.375, 0.75, 0.375)):  # trapezoidal steps: they sum to T
        y = y + step * torch.tanh(conv(y, p[2][k], p[3][k]))
    torch.testing.assert_close(model(x), y.mean(dim=(2, 3)) @ p[4].T + p[5])
    reg = 0.5 * ((p[2].diff(dim=0).square().sum() + p[3].diff(dim=0).square().sum()) / 0.75
                 + sum(q.square().sum() for q in (p[0], p[1], p[4], p[5])))
    torch.testing.assert_close(model.regularization(), reg)
    again = ConvResNetODE(2, 3, 4, 3, 1.5, 8, centering="vertex", activation="tanh",
                          pooling="global", generator=torch.Generator().manual_seed(3),
                          dtype=torch.float64, block_init="independent")
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(), model.parameters()))
    cell = ConvResNetODE(1, 2, 10, 4, 2.0, 28, generator=gen)
    assert cell.h == 0.5 and cell(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert cell.classifier_weight.shape == (10, 2 * 14 * 14)


def test_bad_depth_is_a_user_error():
    with pytest.raises(UserError, match="mnist_resnet: 6 blocks cannot be coarsened"):
        make_task("mnist_resnet[quick=true,blocks=6,levels=3]")


def _run(problem, out, solver="adam"):
    report = run_sweep(expand([problem], [solver], [0], budget=1.0), str(out), progress=False)
    assert not report.failed
    (path,) = (out / "runs").glob("*.parquet")
    return pd.read_parquet(path)


@pytest.mark.parametrize("problem,solver", [("mnist_cnn[quick=true,batch_size=32]", "adam"),
                                            ("cifar10_resnet[quick=true]", "nested")])
def test_quick_run_through_the_runner(tmp_path, problem, solver):
    frame = _run(problem, tmp_path, solver)
    assert frame["status"].iloc[-1] in ("budget", "target")
    assert 0.0 < frame["work_units"].iloc[-1] <= 1.0  # the budget is a hard limit
    assert frame["test_acc"].between(0, 1).all() and np.isfinite(frame["train_loss"]).all()


def test_runs_are_deterministic(tmp_path):
    problem = "fashion_mnist_resnet[batch_size=16,quick=true]"  # shuffled mini-batches
    first = _run(problem, tmp_path / "a")
    second = _run(problem, tmp_path / "b")
    assert len(first) > 5
    np.testing.assert_array_equal(first["train_loss"].to_numpy(), second["train_loss"].to_numpy())


@pytest.mark.parametrize("name,dataset", [("mnist_cnn", "mnist"), ("cifar10_resnet", "cifar10"),
                                          ("fashion_mnist_resnet", "fashion_mnist")])
def test_missing_data_fails_fast(tmp_path, monkeypatch, name, dataset):
    empty = tmp_path / "nothing-here"
    monkeypatch.setenv("ML2BENCH_DATA", str(empty))
    spec, _, values = resolve_problem(f"{name}[quick=true]")
    with pytest.raises(UserError) as caught:
        FAMILIES[spec.family]().check_available(spec.name, values)
    message = str(caught.value)
    assert str(empty) in message and f"ml2bench data download {dataset}" in message
    assert "\n" not in message
    with pytest.raises(UserError, match=f"ml2bench data download {dataset}"):
        prepare(expand([name], ["adam"], [0])[0])
    with pytest.raises(UserError, match="not found in"):
        make_task(name)


@pytest.mark.cuda
def test_task_data_resident_on_cuda():
    task = make_task("mnist_resnet[quick=true]", device="cuda")
    assert all(t.device.type == "cuda" for t in task.train + task.test)
    assert all(p.device.type == "cuda" for p in task.model.parameters())
    assert task.model(task.train[0][:4]).shape == (4, 10)
