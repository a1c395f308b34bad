"""The sweep runner: tables, executors (in-process, local processes, a Dask LocalCluster the
test starts), identical results whichever way, bad input, and the ``sweep`` CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from pkverify import sweeps
from pkverify.claims.ntk_measures import measure_lemma2, measure_lemma3
from pkverify.errors import (
    InvalidArgumentError,
    SchedulerUnreachableError,
    ShapeError,
)

# a real measurement: closed-form kernels over small widths (fast, deterministic by seed)
CONFIGS = sweeps.grid(activation=["relu", "erf"], width=[16, 64], data_seed=[0], n=[5], d=[3])


def rows_per_time(scale, seed):
    """A module-level measure returning several rows per task (picklable for processes)."""
    rng = np.random.default_rng(seed)
    return [{"t": float(t), "value": float(scale * t + rng.standard_normal())} for t in (0, 1)]


def not_scalar(seed):
    return {"value": np.ones(3)}


def clashing(width, seed):
    return {"width": 1.0}


# ---------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------


def test_grid_is_first_axis_slowest():
    assert sweeps.grid(a=[1, 2], b=["x", "y"]) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    with pytest.raises(InvalidArgumentError, match="empty"):
        sweeps.grid(a=[])


def test_table_is_tidy_in_input_order():
    table = sweeps.run(rows_per_time, sweeps.grid(scale=[1.0, 10.0]), seeds=[5, 6])
    assert table.columns == ["scale", "seed", "t", "value"]
    assert [(r["scale"], r["seed"], r["t"]) for r in table] == [
        (1.0, 5, 0.0), (1.0, 5, 1.0), (1.0, 6, 0.0), (1.0, 6, 1.0),
        (10.0, 5, 0.0), (10.0, 5, 1.0), (10.0, 6, 0.0), (10.0, 6, 1.0)]
    # the seed alone fixes the noise: value − scale·t is the same draw for both scales
    noise = table.column("value") - table.column("scale") * table.column("t")
    np.testing.assert_allclose(noise[:4], noise[4:], rtol=0, atol=1e-12)
    assert len(table.where(scale=10.0, t=1.0)) == 2
    frame = table.to_frame()
    assert list(frame.columns) == table.columns and len(frame) == 8
    assert frame["value"].tolist() == table.column("value").tolist()
    csv_lines = table.to_csv().splitlines()
    assert csv_lines[0] == "scale,seed,t,value" and len(csv_lines) == 9
    assert [float(v) for v in csv_lines[1].split(",")[3:]] == [table.records[0]["value"]]
    assert json.loads(table.to_json())[0] == table.records[0]
    assert "value" in table.format(max_rows=2) and "6 more rows" in table.format(max_rows=2)


def test_write_csv_and_json(tmp_path):
    table = sweeps.run(rows_per_time, [{"scale": 2.0}], seeds=2)
    sweeps.write(table, tmp_path / "t.csv")
    sweeps.write(table, tmp_path / "sub" / "t.json")
    assert (tmp_path / "t.csv").read_text().startswith("scale,seed,t,value\n")
    assert json.loads((tmp_path / "sub" / "t.json").read_text()) == list(table.records)


# ---------------------------------------------------------------------------------------
# executors give the same table
# ---------------------------------------------------------------------------------------


def test_in_process_processes_and_dask_give_identical_tables(local_cluster):
    cluster, client = local_cluster
    reference = sweeps.run(measure_lemma2, CONFIGS, seeds=3)
    by_processes = sweeps.run(measure_lemma2, CONFIGS, seeds=3, jobs=2)
    by_client = sweeps.run(measure_lemma2, CONFIGS, seeds=3, scheduler=client)
    by_address = sweeps.run(measure_lemma2, CONFIGS, seeds=3,
                            scheduler=cluster.scheduler_address)
    assert len(reference) == 12
    # identical, not merely close: every task is a deterministic function of its seed
    assert reference.records == by_processes.records == by_client.records == by_address.records
    assert len(set(reference.column("err"))) == 12  # and the seeds really differ


def test_a_flow_sweep_is_identical_on_dask(local_cluster):
    _, client = local_cluster
    configs = sweeps.grid(activation=["relu"], width=[32], data_seed=[1], n=[4], d=[3], t=[0.5])
    assert (sweeps.run(measure_lemma3, configs, seeds=2).records
            == sweeps.run(measure_lemma3, configs, seeds=2, scheduler=client).records)


def test_defaults_set_by_using_are_restored(local_cluster):
    _, client = local_cluster
    before = sweeps.current()
    with sweeps.using(scheduler=client):
        assert sweeps.current()["scheduler"] is client
        table = sweeps.run(rows_per_time, [{"scale": 1.0}], seeds=2)
    assert sweeps.current() == before
    assert table.records == sweeps.run(rows_per_time, [{"scale": 1.0}], seeds=2).records


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------


def test_unreachable_scheduler_fails_within_seconds():
    start = time.perf_counter()
    with pytest.raises(SchedulerUnreachableError, match=r"did not answer within 1 s"):
        sweeps.run(rows_per_time, [{"scale": 1.0}], scheduler="tcp://127.0.0.1:9",
                   connect_timeout=1.0)
    # the 1 s timeout plus Dask's import and teardown, never a hang
    assert time.perf_counter() - start < 15


@pytest.mark.parametrize("kwargs,match", [
    ({"jobs": 0}, "jobs must be a positive integer"),
    ({"jobs": True}, "jobs must be a positive integer"),
    ({"jobs": 2, "scheduler": "tcp://127.0.0.1:9"}, "not both"),
    ({"scheduler": 8786}, "scheduler must be a Dask scheduler address"),
    ({"scheduler": "  "}, "address is empty"),
    ({"seeds": 0}, "seeds must be ≥ 1"),
    ({"seeds": []}, "non-empty list of ints"),
    ({"seeds": [1.5]}, "non-empty list of ints"),
])
def test_bad_arguments_are_refused_before_any_work(kwargs, match):
    calls = []

    def measure(scale, seed):
        calls.append(seed)
        return {"v": 1.0}

    kwargs = {"seeds": 1, **kwargs}
    with pytest.raises(InvalidArgumentError, match=match):
        sweeps.run(measure, [{"scale": 1.0}], **kwargs)
    assert calls == []


def test_bad_configs_and_measures():
    with pytest.raises(InvalidArgumentError, match="configs is empty"):
        sweeps.run(rows_per_time, [], seeds=1)
    with pytest.raises(InvalidArgumentError, match="may not set 'seed'"):
        sweeps.run(rows_per_time, [{"scale": 1.0, "seed": 3}])
    with pytest.raises(InvalidArgumentError, match="callable"):
        sweeps.run("not a function", [{}])
    with pytest.raises(ShapeError, match="scalar"):
        sweeps.run(not_scalar, [{}])
    with pytest.raises(InvalidArgumentError, match="clashes"):
        sweeps.run(clashing, [{"width": 3}])
    with pytest.raises(InvalidArgumentError, match="module level"):
        sweeps.run(lambda seed: {"v": 1.0}, [{}], jobs=2)
    with pytest.raises(InvalidArgumentError, match="no column"):
        sweeps.run(rows_per_time, [{"scale": 1.0}]).column("nope")


def test_grid_axes_must_be_lists_of_values():
    """A single number, a string (swept letter by letter before), a mapping or a set is
    refused with the list to write instead; tuples, ranges and 1-d arrays are lists."""
    with pytest.raises(InvalidArgumentError, match=r"single int .*width=\[64\]"):
        sweeps.grid(width=64)
    with pytest.raises(InvalidArgumentError, match=r"letter by letter.*activation=\['relu'\]"):
        sweeps.grid(activation="relu")
    with pytest.raises(InvalidArgumentError, match="unordered set"):
        sweeps.grid(width={64, 128})
    with pytest.raises(InvalidArgumentError, match="mapping"):
        sweeps.grid(width={"a": 1})
    with pytest.raises(InvalidArgumentError, match="2-d array"):
        sweeps.grid(width=np.ones((2, 2)))
    with pytest.raises(InvalidArgumentError, match="at least one axis"):
        sweeps.grid()
    assert sweeps.grid(w=np.array([1, 2]), a=("x",), n=range(2)) == [
        {"w": 1, "a": "x", "n": 0}, {"w": 1, "a": "x", "n": 1},
        {"w": 2, "a": "x", "n": 0}, {"w": 2, "a": "x", "n": 1}]
    assert type(sweeps.grid(w=np.array([1]))[0]["w"]) is int  # plain Python in the table


def test_configurations_must_fit_the_measure_before_any_task_runs():
    calls = []

    def measure(scale, t, seed):
        calls.append(seed)
        return {"v": scale * t}

    with pytest.raises(InvalidArgumentError, match=r"missing a required argument: 't'"):
        sweeps.run(measure, [{"scale": 1.0}])
    with pytest.raises(InvalidArgumentError, match="unexpected keyword argument 'width'"):
        sweeps.run(measure, [{"scale": 1.0, "t": 1.0, "width": 3}])
    with pytest.raises(InvalidArgumentError, match=r"configuration 1 has keys.*missing \['t'\]"):
        sweeps.run(measure, [{"scale": 1.0, "t": 1.0}, {"scale": 2.0}])
    with pytest.raises(InvalidArgumentError, match=r"one mapping.*\[config\]"):
        sweeps.run(measure, {"scale": 1.0, "t": 1.0})
    with pytest.raises(InvalidArgumentError, match="configuration 0 is a str"):
        sweeps.run(measure, ["scale"])
    assert calls == []
    assert len(sweeps.run(measure, [{"scale": 1.0, "t": 2.0}], seeds=2)) == 2


def test_write_refuses_folders_and_files_it_did_not_write(tmp_path):
    from pkverify.errors import OutputFileError

    table = sweeps.run(rows_per_time, [{"scale": 2.0}], seeds=2)
    with pytest.raises(OutputFileError, match="is a folder"):
        sweeps.write(table, tmp_path)
    with pytest.raises(OutputFileError, match="folder separator"):
        sweeps.write(table, str(tmp_path / "new") + "/")
    assert not (tmp_path / "new").exists()
    # files of other tools: no seed column, another JSON layout, Windows line ends
    for name, text in [("notes.csv", "a,b\n1,2\n"), ("mine.json", '[{"seed": 1}]'),
                       ("data.csv", "scale,seed,t,value\r\n2.0,0,0.0,1.5\r\n")]:
        user = tmp_path / name
        user.write_bytes(text.encode())
        with pytest.raises(OutputFileError, match="did not write"):
            sweeps.write(table, user)
        assert user.read_bytes() == text.encode()  # untouched
    # a table pkverify wrote is replaced (a rerun of the same sweep), CSV and JSON alike
    for name in ("t.csv", "t.json"):
        sweeps.write(table, tmp_path / name)
        bigger = sweeps.run(rows_per_time, [{"scale": 3.0}], seeds=3)
        sweeps.write(bigger, tmp_path / name)
        text = (tmp_path / name).read_text()
        assert text == (bigger.to_csv() if name.endswith(".csv") else bigger.to_json())
        # the mode a plain open(path, "w") gives (0o666 minus the umask), not mkstemp's 0o600
        from pkverify.io import umask

        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask()


def dies(seed):
    """A module-level measure whose worker process exits without a word."""
    import os

    os._exit(3)


def test_a_dead_worker_is_a_clear_error():
    from pkverify.errors import WorkerStartError

    with pytest.raises(WorkerStartError, match=r"__name__ == \"__main__\""):
        sweeps.run(dies, [{}], seeds=1, jobs=2, progress=False)


SCRIPT = """
from pkverify import sweeps
from pkverify.claims.ntk_measures import measure_lemma2

def run():
    table = sweeps.run(measure_lemma2, sweeps.grid(activation=["relu"], width=[16],
                       data_seed=[0], n=[4], d=[3]), seeds=2, jobs=2, progress=False)
    print("ROWS", len(table))
"""


@pytest.mark.parametrize("guarded", [False, True])
def test_jobs_in_a_script_without_main_guard_says_how_to_fix_it(tmp_path, guarded):
    """The README's example run as a script: without the guard, every spawned worker would
    import the script and start the sweep again (a BrokenProcessPool); pkverify refuses it
    before starting a process, naming the line and the fix. With the guard it runs."""
    import os
    import subprocess
    import sys

    body = SCRIPT + ('if __name__ == "__main__":\n    run()\n' if guarded else "run()\n")
    script = tmp_path / "my_sweep.py"
    script.write_text(body)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=300)
    if guarded:
        assert out.returncode == 0, out.stderr
        assert "ROWS 2" in out.stdout
    else:
        assert out.returncode != 0
        assert "WorkerStartError" in out.stderr and "BrokenProcessPool" not in out.stderr
        line = body.splitlines().index("run()") + 1
        assert f"my_sweep.py line {line} " in out.stderr
        assert 'if __name__ == "__main__":' in out.stderr


def test_progress_is_drawn_on_request(capsys):
    sweeps.run(rows_per_time, sweeps.grid(scale=[1.0, 2.0]), seeds=2, desc="my sweep",
               progress=True)
    err = capsys.readouterr().err
    assert "my sweep" in err and "/4" in err  # tqdm redraws at most every 0.1 s
    sweeps.run(rows_per_time, [{"scale": 1.0}], seeds=2, desc="quiet", progress=False)
    assert "quiet" not in capsys.readouterr().err


def test_public_face_and_no_dask_import_until_used():
    import subprocess
    import sys

    import pkverify as pk

    assert pk.sweeps is sweeps
    code = ("import sys, pkverify as pk; pk.sweeps.run(lambda seed: {'v': 1.0}, [{}]); "
            "print('distributed' in sys.modules, 'pandas' in sys.modules,"
            " 'pkverify.sweeps.dask_executor' in sys.modules)")
    root = Path(__file__).resolve().parents[1]  # `python -c` imports pkverify from here
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root).stdout.split()
    # the [dask] extra, and the executor file that uses it, load only when a sweep asks for it
    assert out == ["False", "False", "False"]
    assert callable(sweeps.connect) and sweeps.CONNECT_TIMEOUT > 0  # reachable, lazily


def test_using_jobs_keeps_one_pool_for_every_sweep_in_the_block():
    with sweeps.using(jobs=2):
        first = sweeps.run(measure_lemma2, CONFIGS[:1], seeds=2)
        pool = sweeps.executors._POOL["pool"]
        second = sweeps.run(measure_lemma2, CONFIGS[:1], seeds=2)
        assert pool is not None and sweeps.executors._POOL["pool"] is pool  # reused, not restarted
    assert sweeps.executors._POOL["pool"] is None and sweeps.current()["jobs"] is None
    assert first.records == second.records == sweeps.run(measure_lemma2, CONFIGS[:1],
                                                          seeds=2).records
