"""The results store's checkpoints and temporary files (issue 17, point 6): a damaged
checkpoint is detected, reported in one line, moved aside and the run resumes from the
previous one or restarts — never left failed; stale temporaries of a kill are removed."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from ml2bench.runner.checked import DamagedFile, read_checked, write_checked
from ml2bench.runner.loop import RunLoop, execute
from ml2bench.runner.prepare import prepare
from ml2bench.runner.spec import RunSpec
from ml2bench.runner.store import ResultsStore

PROBLEM = "swissroll_resnet[quick=true]"
VOLATILE = {"time_s", "eval_time_s", "peak_mem_mb", "hostname", "started_at"}


def test_a_checked_file_detects_truncation_and_corruption(tmp_path):
    path = write_checked(tmp_path / "a.bin", b"payload" * 100)
    assert read_checked(path) == b"payload" * 100
    data = path.read_bytes()
    for damaged in (data[:-1], data[:40], data[:-3] + b"xyz", b""):
        path.write_bytes(damaged)
        with pytest.raises(DamagedFile):
            read_checked(path)
    path.write_bytes(b"PK\x03\x04 an older checkpoint without a header")
    assert read_checked(path) is None  # read as before, by the caller


def interrupted_run(tmp_path, monkeypatch, checkpoints=3):
    """A run stopped (KeyboardInterrupt) after ``checkpoints`` saved states."""
    prepared = prepare(RunSpec(problem=PROBLEM, solver="adam", seed=0, budget=0.6,
                               checkpoint_every=0.05, stop_at_target=False))
    store, saves, original = ResultsStore(tmp_path / "out"), [], RunLoop.save_state

    def save_and_stop(self):
        original(self)
        saves.append(self.step)
        if len(saves) == checkpoints:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunLoop, "save_state", save_and_stop)
    with pytest.raises(KeyboardInterrupt):
        execute(prepared, store)
    monkeypatch.setattr(RunLoop, "save_state", original)
    return prepared, store


def reference_rows(tmp_path, prepared):
    store = ResultsStore(tmp_path / "reference")
    execute(prepared, store)
    return pd.read_parquet(store.run_path(prepared.run_id))


def same_numbers(a, b):
    columns = [c for c in a.columns if c not in VOLATILE]
    pd.testing.assert_frame_equal(a[columns], b[columns], check_exact=True)


@pytest.mark.parametrize("damage", ["truncate", "empty", "flip"])
def test_a_damaged_checkpoint_resumes_from_the_previous_one(tmp_path, monkeypatch, capfd, damage):
    prepared, store = interrupted_run(tmp_path, monkeypatch)
    path = store.partial_path(prepared.run_id)
    assert store.previous_partial_path(prepared.run_id).exists()
    data = path.read_bytes()
    broken = {"truncate": data[: len(data) // 2], "empty": b"", "flip": data[:-10] + bytes(10)}
    path.write_bytes(broken[damage])
    capfd.readouterr()
    assert execute(prepared, store) == "budget", pd.read_parquet(store.run_path(
        prepared.run_id))["error"].iloc[-1]
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ml2bench: warning: damaged checkpoint ")
    assert str(path) in err[0] and "resuming from" in err[0] and ".prev.pt" in err[0]
    assert path.with_name(path.name + ".damaged").read_bytes() == broken[damage]  # kept
    same_numbers(pd.read_parquet(store.run_path(prepared.run_id)),
                 reference_rows(tmp_path, prepared))
    assert not path.exists() and not store.previous_partial_path(prepared.run_id).exists()


def test_both_generations_damaged_restart_from_scratch(tmp_path, monkeypatch, capfd):
    prepared, store = interrupted_run(tmp_path, monkeypatch)
    for path in (store.partial_path(prepared.run_id), store.previous_partial_path(prepared.run_id)):
        path.write_bytes(path.read_bytes()[:100])
    capfd.readouterr()
    assert execute(prepared, store) == "budget", pd.read_parquet(store.run_path(
        prepared.run_id))["error"].iloc[-1]
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "restarting the run from scratch" in err[0]
    assert len(list((tmp_path / "out" / "partial").glob("*.damaged"))) == 2
    same_numbers(pd.read_parquet(store.run_path(prepared.run_id)),
                 reference_rows(tmp_path, prepared))


def test_an_unchecked_checkpoint_of_an_older_version_still_resumes(tmp_path, monkeypatch):
    import torch
    prepared, store = interrupted_run(tmp_path, monkeypatch)
    path = store.partial_path(prepared.run_id)
    state = store.load_partial(prepared.run_id, prepared.config_hash)
    torch.save(state, path)  # no checksum header, as before
    assert store.load_partial(prepared.run_id, prepared.config_hash)["loop"]["step"] == \
        state["loop"]["step"]


def test_stale_temporaries_of_a_killed_writer_are_removed_live_ones_kept(tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    import socket
    host = socket.gethostname()
    killed = partial / f".x.pt.{dead}@{host}.abc123_z.tmp"
    live = partial / f".y.pt.{os.getpid()}@{host}.abc123_z.tmp"
    other = tmp_path / "elsewhere" / f".x.pt.{dead}@{host}.abc123_z.tmp"
    other.parent.mkdir()
    for path in (killed, live, other):
        path.write_bytes(b"")
    removed = ResultsStore(tmp_path).remove_stale_temporaries()
    assert removed == [killed] and live.exists() and other.exists()


def test_a_killed_write_leaves_a_temporary_the_next_sweep_removes(tmp_path, capsys):
    from ml2bench.cli import main
    out = tmp_path / "out"
    code = ("import os, sys\nfrom ml2bench.files import atomic_save\n"
            "atomic_save(sys.argv[1], lambda tmp: os._exit(9))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(out / "partial" / "r.pt")])
    assert proc.returncode == 9
    assert len(list((out / "partial").glob(".*.tmp"))) == 1
    assert main(["run", "--problem", PROBLEM, "--solver", "adam", "--budget", "0.05",
                 "--out", str(out), "--no-progress"]) == 0
    assert "removed 1 temporary file(s)" in capsys.readouterr().err
    assert not list((out / "partial").glob(".*.tmp"))


def test_a_damaged_final_model_is_moved_aside_and_recreated_not_a_failed_run(tmp_path, capfd):
    prepared = prepare(RunSpec(problem=PROBLEM, solver="adam", seed=0, budget=0.1,
                               stop_at_target=False))
    store = ResultsStore(tmp_path / "out")
    assert execute(prepared, store) == "budget"
    rows = pd.read_parquet(store.run_path(prepared.run_id))
    model = store.model_path(prepared.run_id)
    model.write_bytes(model.read_bytes()[:50])
    capfd.readouterr()
    # asking for an end-of-run metric needs the final model: it is trained again
    again = prepare(RunSpec(problem=PROBLEM, solver="adam", seed=0, budget=0.1,
                            stop_at_target=False, metrics=("hess_max",)))
    assert execute(again, store) == "budget"
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ml2bench: warning: damaged final model ")
    assert str(model) in err[0] and (model.parent / (model.name + ".damaged")).exists()
    same_numbers(pd.read_parquet(store.run_path(prepared.run_id)), rows)
    assert store.load_model(prepared.run_id, prepared.config_hash) is not None
    assert store.has_flatness(prepared.run_id, ["hess_max"])


def test_checkpoints_left_beside_a_finished_run_are_removed_by_the_next_sweep(tmp_path, capsys):
    from ml2bench.cli import main
    out = tmp_path / "out"
    args = ["run", "--problem", PROBLEM, "--solver", "adam", "--budget", "0.05",
            "--out", str(out), "--no-progress"]
    assert main(args) == 0
    store = ResultsStore(out)
    run_id = next((out / "runs").glob("*.parquet")).stem
    # a kill between writing the results and dropping the checkpoints leaves them behind,
    # and the run's lock file (the kernel released the lock itself)
    for path in (store.partial_path(run_id), store.previous_partial_path(run_id)):
        write_checked(path, b"stale")
    store.lock_path(run_id).write_bytes(b"")
    assert main(args) == 0 and "1 up to date" in capsys.readouterr().out
    assert not list((out / "partial").iterdir())
