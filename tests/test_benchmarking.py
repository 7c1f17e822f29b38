"""Benchmark hygiene (`sciml.benchmarking`): sides run interleaved after warm-up, the load average and each side's
threads are recorded, and a timed table is refused (or marked not valid) when other jobs loaded the machine."""

import json

import pytest

from sciml import benchmarking
from sciml.benchmarking import Benchmark, BusyMachineError, Side, xla_cpu_threads


class FakeLoad:
    """A load-average reader returning the given 1-min loads in turn (the last one from then on)."""

    def __init__(self, *loads: float):
        self.loads, self.calls = list(loads), 0

    def __call__(self):
        one = self.loads[min(self.calls, len(self.loads) - 1)]
        self.calls += 1
        return one, one, one


@pytest.fixture
def results_dirs(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmarking, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(benchmarking, "DOCS_RESULTS_DIR", tmp_path / "docs")
    monkeypatch.delenv(benchmarking.UNDER_LOAD, raising=False)
    return tmp_path


def _result():
    return {"machine": {"date": "today", "device": {"backend": "cpu", "devices": ["cpu"], "cpu_count": 2}},
            "value": 1.5}


def test_sides_run_interleaved_after_one_warm_up_each():
    calls = []
    sides = {name: Side(lambda repeat, name=name: calls.append((name, repeat)) or 10.0 * repeat, threads=threads)
             for name, threads in (("ours", 2), ("theirs", 1))}
    bench = Benchmark("demo", read_load=FakeLoad(0.1), cores=2)
    rates = bench.interleaved(sides, repeats=3)
    assert calls == [("ours", 0), ("theirs", 0), ("ours", 0), ("theirs", 0), ("ours", 1), ("theirs", 1),
                     ("ours", 2), ("theirs", 2)]
    assert rates == {"ours": [0.0, 10.0, 20.0], "theirs": [0.0, 10.0, 20.0]}
    assert bench.threads == {"ours": 2, "theirs": 1}
    labels = [s["label"] for s in bench.samples]
    assert labels == ["before", "after warm-up", "after round 1", "after round 2", "after round 3"]
    assert [s["own_threads"] for s in bench.samples] == [0, 2, 2, 2, 2]  # none of its own before it starts


def test_an_idle_machine_writes_the_table_with_its_load(results_dirs):
    bench = Benchmark("demo", read_load=FakeLoad(0.3, 2.2), cores=2)  # 2.2 after: its own 2 threads at work
    bench.interleaved({"ours": Side(lambda repeat: 1.0, threads=2)}, repeats=1)
    json_path, md_path = bench.write_report(_result(), "Demo", ["| a | b |"])
    record = json.loads(json_path.read_text())["load"]
    assert record["valid"] and not record["busy"] and record["threads"] == {"ours": 2}
    assert record["others_load_max"] == pytest.approx(0.3)
    text = md_path.read_text()
    assert text.startswith("# Demo\n\nLoad average (1 min) 0.30 before, 2.20 after, on 2 cores; threads per side: "
                           "ours 2.")
    assert "| a | b |" in text and "not valid" not in text


def test_a_busy_machine_gets_no_table(results_dirs):
    bench = Benchmark("demo", read_load=FakeLoad(0.5, 4.5), cores=2)  # others: 4.5 - 1 own thread > 2 cores
    bench.interleaved({"ours": Side(lambda repeat: 1.0, threads=1)}, repeats=2)
    with pytest.raises(BusyMachineError, match=r"other jobs' 1-min load reached 3.50 on 2 cores.*"
                                               "SCIML_BENCH_UNDER_LOAD=mark"):
        bench.write_report(_result(), "Demo", ["| a | b |"])
    assert not (results_dirs / "results").exists() and not (results_dirs / "docs").exists()


def test_a_busy_machine_before_the_start_counts_too(results_dirs):
    bench = Benchmark("demo", read_load=FakeLoad(2.5, 0.5), cores=2)
    assert bench.busy and bench.others_load() == pytest.approx(2.5)


def test_a_table_taken_under_load_can_be_written_marked(results_dirs, monkeypatch):
    monkeypatch.setenv(benchmarking.UNDER_LOAD, "mark")
    bench = Benchmark("demo", read_load=FakeLoad(5.0), cores=2)
    bench.declare_threads(ours=2)
    json_path, md_path = bench.write(results_dirs / "r.json", {"x": 1}, results_dirs / "r.md", "# T\n\nbody\n")
    assert json.loads(json_path.read_text())["load"]["valid"] is False
    assert md_path.read_text().startswith("# T\n\n**Taken under load, not valid:** other jobs' 1-min load reached "
                                          "5.00 on 2 cores.")


def test_accuracy_benchmarks_note_the_load_but_are_not_refused(results_dirs):
    bench = Benchmark("demo", timed=False, read_load=FakeLoad(6.0), cores=2)
    _, md_path = bench.write_report(_result(), "Demo", ["rows"])
    assert "Other jobs' load reached 6.00: wall times are upper bounds." in md_path.read_text()


def test_xla_threads_from_the_flags():
    assert xla_cpu_threads("--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1") == 1
    assert xla_cpu_threads("") == benchmarking.available_cores()


def test_the_gpu_benchmark_refuses_cleanly_without_a_gpu(results_dirs, capsys):
    import runpy

    gpu = runpy.run_path(str(benchmarking.ROOT / "benchmarks" / "gpu.py"), run_name="gpu_benchmark")
    assert gpu["main"]([]) == 2
    assert "needs a GPU, but JAX sees only cpu devices" in capsys.readouterr().err
    assert not (results_dirs / "results").exists() and not (results_dirs / "docs").exists()


def test_a_table_rendered_again_keeps_the_stored_load_line(tmp_path):
    bench = Benchmark("demo", read_load=FakeLoad(0.3, 1.1), cores=2, timed=False)
    bench.sample("after")
    record = bench.record()
    results, table = tmp_path / "demo.json", tmp_path / "demo.md"
    page = lambda payload: f"# Demo\n\n| {payload['value']} |\n"  # noqa: E731
    results.write_text(json.dumps({"value": 1.5, "load": record}))
    text = benchmarking.render_table(results, table, page).read_text()
    assert text.startswith("# Demo\n\nLoad average (1 min) 0.30 before, 1.10 after, on 2 cores") and "| 1.5 |" in text
    results.write_text(json.dumps({"value": 2}))  # stored before load records were kept: no load line
    assert benchmarking.render_table(results, table, page).read_text() == "# Demo\n\n| 2 |\n"
