"""Run ids name files: short ones keep their old form, long ones are cut to a length
every common file system takes (255-byte names) and stay unique by their hash."""

from ml2bench.cli import main
from ml2bench.runner.spec import MAX_RUN_ID, run_id


def test_short_ids_are_unchanged():
    assert run_id("digits_cnn[quick=true]", "adam[lr=0.0025]", 3, "0123456789abcdef") == \
        "digits_cnn_quick=true__adam_lr=0.0025__s3__0123456789"


def test_long_ids_are_cut_and_keep_seed_and_hash():
    problem = "digits_cnn[" + ",".join(f"p{i}={i}" for i in range(40)) + "]"
    solver = "apts_d[" + ",".join(f"q{i}={i}.5" for i in range(40)) + "]"
    one = run_id(problem, solver, 1, "aaaaaaaaaaffff")
    two = run_id(problem, solver, 1, "bbbbbbbbbbffff")
    assert len(one) == MAX_RUN_ID and one != two
    assert one.startswith("digits_cnn_p0=0") and "__apts_d_q0=0.5" in one
    assert one.endswith("__s1__aaaaaaaaaa")
    # a short problem keeps all of its label; the solver takes the rest
    short = run_id("quadratic", solver, 0, "c" * 16)
    assert short.startswith("quadratic__apts_d_q0=0.5") and len(short) == MAX_RUN_ID


def test_a_run_with_a_long_label_writes_its_results(tmp_path):
    # T2's label of the authors' APTS_D settings: 265 bytes of temporary-file name before
    # ids were cut ("File name too long")
    solver = ("apts_d[subdomains=2,batch_size=239,batch_growth=1,subproblem=linear,"
              "local_steps=5,global_steps=1,radius=1.0,max_radius=4.0,min_radius=0.001,"
              "shrink=0.5,expand=2.0,overlap=0]")
    status = main(["run", "--problem", "digits_cnn[quick=true,batch_size=239,batch_overlap=0.05]",
                   "--solver", solver, "--budget", "0.5", "--out", str(tmp_path),
                   "--no-progress"])
    assert status == 0
    files = list((tmp_path / "runs").glob("*.parquet"))
    assert len(files) == 1 and len(files[0].stem) <= MAX_RUN_ID
