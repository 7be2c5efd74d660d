"""The next worker, prepared outside every window (llem.study.spare): the gate with a fake clock, and real
studies of the `count` backend whose spare workers are real processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import msgspec
import pytest
from llem.plugins.manager import get_plugin_manager
from llem.plugins.types import DeviceInfo
from llem.run.progress import ProgressEvent
from llem.study.config import study_from_dict
from llem.study.manifest import save_manifest
from llem.study.planning import plan_study
from llem.study.processes import pid_alive
from llem.study.runner import run_study
from llem.study.spare import GATE_FILE, Gate, WindowGate

from tests.plugin_dists import count_plugin, make_plugin_dist


def gate_for(tmp_path: Path, alive=lambda pid: True):
    ready = tmp_path / "ready.json"
    gate_path = tmp_path / GATE_FILE
    gate_path.write_bytes(msgspec.json.encode(Gate(pid=4242, ready_path=str(ready))))
    lines: list[str] = []
    signals: list[tuple[int, int]] = []
    gate = WindowGate(
        gate_path, log=lines.append, alive=alive, kill=lambda pid, sig: signals.append((pid, sig))
    )
    return gate, ready, lines, signals


def start(stage: str) -> ProgressEvent:
    return ProgressEvent(stage=stage, state="start")  # type: ignore[arg-type]


def test_a_spare_still_preparing_is_stopped_through_the_measuring_stages_only(tmp_path):
    gate, _, lines, signals = gate_for(tmp_path)
    gate(start("load"))  # loading is not measured: the spare goes on preparing
    assert signals == []
    gate(start("baseline"))
    assert signals == [(4242, signal.SIGSTOP)]
    for stage in ("warmup", "measure", "prefill"):
        gate(start(stage))
    assert signals == [(4242, signal.SIGSTOP)]  # stopped once, through every measuring stage
    gate(start("unload"))  # the measurement is over
    assert signals == [(4242, signal.SIGSTOP), (4242, signal.SIGCONT)]
    gate(start("write"))
    gate.release()
    assert len(signals) == 2
    assert "still preparing: stopped while this experiment measures" in lines[0]
    assert lines[1] == "not measuring; the spare worker 4242 continues"


def test_a_spare_prepares_beside_the_compiling_first_of_several_warmup_batches_only(tmp_path):
    gate, _, _, signals = gate_for(tmp_path)
    stop, cont = (4242, signal.SIGSTOP), (4242, signal.SIGCONT)
    gate(start("baseline"))
    gate(ProgressEvent(stage="warmup", state="start", current=0, total=2))  # the first batch compiles
    assert signals == [stop, cont]
    gate(ProgressEvent(stage="warmup", state="advance", current=1, total=2))  # the second one is timed
    assert signals == [stop, cont, stop]
    for event in (ProgressEvent(stage="warmup", state="advance", current=2, total=2), start("measure")):
        gate(event)
    gate(start("prefill"))
    assert signals == [stop, cont, stop]
    gate(start("unload"))
    assert signals == [stop, cont, stop, cont]
    (tmp_path / "single").mkdir()
    single, _, _, one = gate_for(tmp_path / "single")
    single(ProgressEvent(stage="warmup", state="start", current=0, total=1))  # its time predicts the window
    assert one == [stop]


def test_an_experiment_that_fails_while_measuring_still_continues_the_spare(tmp_path):
    gate, _, _, signals = gate_for(tmp_path)
    gate(start("measure"))
    gate.release()  # the worker's finally: no "unload" event came
    assert signals == [(4242, signal.SIGSTOP), (4242, signal.SIGCONT)]
    gate(start("warmup"))  # the worker's next experiment gates again
    assert signals[-1] == (4242, signal.SIGSTOP)


def test_a_prepared_dead_or_absent_spare_is_left_alone(tmp_path):
    gate, ready, lines, signals = gate_for(tmp_path)
    ready.write_text("{}")
    gate(start("measure"))
    assert signals == [] and "is prepared and idle" in lines[0]
    (tmp_path / "dead").mkdir()
    dead, _, lines, signals = gate_for(tmp_path / "dead", alive=lambda pid: False)
    dead(start("measure"))
    assert signals == [] and "ended before it was prepared" in lines[0]
    no_gate = WindowGate(
        tmp_path / "absent.json", log=lines.append, kill=lambda pid, sig: signals.append(sig)
    )
    no_gate(start("measure"))
    no_gate.release()
    assert signals == [] and len(lines) == 1


PREPARE = (
    "@hookimpl\ndef llem_prepare(config):\n"
    "    import os\n"
    "    with open(os.environ['LLEM_TEST_PREPARED'], 'a') as f:\n"
    "        f.write(f'{os.getpid()}\\n')\n"
    "    BODY\n\n\n"
    "@hookimpl\ndef llem_unload(handle):"
)


GENERATE = "def llem_generate(handle, batch, config):\n"


def first_in_generate(*lines: str) -> dict[str, str]:
    """count_study's `replace`: `lines` run first in the count backend's llem_generate."""
    return {GENERATE: GENERATE + "".join(f"    {line}\n" for line in lines)}


def count_study(
    tmp_path: Path, monkeypatch, body: str = "pass", replace: dict[str, str] | None = None, **study
):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("LLEM_DISABLE_PLUGINS", "pytorch,vllm,tensorrt,server")
    prepared = tmp_path / "prepared.txt"
    monkeypatch.setenv("LLEM_TEST_PREPARED", str(prepared))
    source = count_plugin(
        **{"@hookimpl\ndef llem_unload(handle):": PREPARE.replace("BODY", body)}, **(replace or {})
    )
    make_plugin_dist(site, "llem-count", {"llem_count": source}, {"count": "llem_count"})
    base = {"model": "random:tiny-llama", "backend": "count", "n_prompts": 2, "max_output_tokens": 4}
    cfg, base = study_from_dict({"base": base, "sweep": {"count.batch_size": [1, 2, 3]}, **study})
    manifest = plan_study(cfg, base, plugins=get_plugin_manager(), device=DeviceInfo())
    folder = tmp_path / "study"
    folder.mkdir()
    save_manifest(folder, manifest)
    return run_study(manifest, folder), folder, prepared


def log_of(folder: Path, run) -> str:
    return (folder / run.log).read_text()


def test_later_workers_are_forked_from_one_spare_worker_that_imported_once(tmp_path, monkeypatch):
    final, folder, prepared = count_study(tmp_path, monkeypatch)
    assert [r.status for r in final.runs] == ["ok", "ok", "ok"]
    pids = [r.worker_pid for r in final.runs]
    assert len(set(pids)) == 3  # still one process per experiment
    # llem_prepare ran in one spare worker, never in a worker: once per config still to run (points 2 and 3)
    calls = [int(x) for x in prepared.read_text().split()]
    assert len(set(calls)) == 1 and len(calls) == 2 and calls[0] not in pids
    spare = calls[0]
    assert "llem-study-worker: prepared in" in (folder / "logs" / "spare-worker.log").read_text()
    for run in final.runs[1:]:  # forked from it, each logging to its own run's log
        assert f"forked from the spare worker {spare}, prepared in" in log_of(folder, run)
    # the first worker ran while the spare prepared: it found it prepared (then idle) or stopped it while it
    # measured; the later ones found it prepared
    first = log_of(folder, final.runs[0])
    assert f"measuring; the spare worker {spare} is prepared and idle" in first or (
        f"measuring; the spare worker {spare} is still preparing: stopped" in first
        and f"not measuring; the spare worker {spare} continues" in first
    )
    for run in final.runs[1:]:
        assert f"measuring; the spare worker {spare} is prepared and idle" in log_of(folder, run)
    assert not (folder / "jobs" / GATE_FILE).exists()
    assert not pid_alive(spare)  # ended with the study


def test_a_forked_worker_that_crashes_is_recorded_and_the_next_one_is_forked_again(tmp_path, monkeypatch):
    crash = first_in_generate(
        "import os",
        "if config.section(CountConfig).batch_size == 2:",
        "    print('about to die', flush=True)",
        "    os._exit(3)",
    )
    final, folder, prepared = count_study(tmp_path, monkeypatch, replace=crash)
    assert [(r.status, r.failure) for r in final.runs] == [("ok", None), ("failed", "crash"), ("ok", None)]
    error = final.runs[1].error or ""
    assert "exited with status 3 before writing a result" in error and "about to die" in error
    assert final.runs[1].exit_code == 3
    spare = int(prepared.read_text().split()[0])
    assert f"forked from the spare worker {spare}" in log_of(folder, final.runs[2])


def test_a_failed_preparation_is_logged_and_the_job_still_runs(tmp_path, monkeypatch):
    final, folder, _ = count_study(tmp_path, monkeypatch, body="raise RuntimeError('no such library')")
    assert [r.status for r in final.runs] == ["ok", "ok", "ok"]
    assert "preparation failed: RuntimeError: no such library" in log_of(folder, final.runs[1])


def test_a_spare_that_dies_is_replaced_by_a_worker_started_the_usual_way(tmp_path, monkeypatch):
    final, folder, prepared = count_study(tmp_path, monkeypatch, body="os._exit(3)")
    assert [r.status for r in final.runs] == ["ok", "ok", "ok"]
    # the spares died in llem_prepare; the runs were done by fresh workers, which never call it
    assert set(int(x) for x in prepared.read_text().split()).isdisjoint(r.worker_pid for r in final.runs)
    assert all("forked from" not in log_of(folder, r) for r in final.runs)


def test_prepare_next_false_starts_each_worker_after_the_previous_one(tmp_path, monkeypatch):
    final, folder, prepared = count_study(tmp_path, monkeypatch, prepare_next=False)
    assert [r.status for r in final.runs] == ["ok", "ok", "ok"]
    assert not prepared.exists()
    assert all("prepared in" not in log_of(folder, r) for r in final.runs)


def test_runs_left_over_by_a_crash_never_take_the_spare_prepared_for_the_next_batch(tmp_path, monkeypatch):
    # Two models, reused within each: worker batches [m1 b1, m1 b2] and [m2 b1, m2 b2]. The first worker
    # crashes in m1 b1, so m1 b2 runs next, while the spare was prepared (and logs) for m2's batch.
    crash = first_in_generate(
        "import os", "if config.model == 'random:tiny-llama' and len(batch.prompts) == 1:", "    os._exit(3)"
    )
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("LLEM_DISABLE_PLUGINS", "pytorch,vllm,tensorrt,server")
    source = count_plugin(**crash)
    make_plugin_dist(site, "llem-count", {"llem_count": source}, {"count": "llem_count"})
    base = {"backend": "count", "n_prompts": 2, "max_output_tokens": 4}
    sweep = {"model": ["random:tiny-llama", "random:llama-3.2-1b"], "count.batch_size": [1, 2]}
    cfg, base = study_from_dict({"base": base, "sweep": sweep, "reuse_model": True, "order": "sequential"})
    manifest = plan_study(cfg, base, plugins=get_plugin_manager(), device=DeviceInfo())
    folder = tmp_path / "study"
    folder.mkdir()
    save_manifest(folder, manifest)
    final = run_study(manifest, folder)
    assert [(r.status, r.failure) for r in final.runs] == [("failed", "crash")] + [("ok", None)] * 3
    workers_by_log: dict[str, set[int | None]] = {}
    for run in final.runs:  # each run's log names it, and a log belongs to one worker only
        assert run.log is not None and f"{run.id} starting" in (folder / run.log).read_text()
        workers_by_log.setdefault(run.log, set()).add(run.worker_pid)
    assert all(len(pids) == 1 for pids in workers_by_log.values()), workers_by_log
    assert final.runs[1].log == f"logs/{final.runs[1].id}.log"  # the left-over run has a log of its own


def test_a_spare_that_initialised_cuda_forks_nothing_and_is_not_started_again(tmp_path, monkeypatch):
    # A process forked after CUDA was initialised cannot use CUDA. There is no CUDA here, so the count
    # backend's llem_prepare stands in a module for torch whose CUDA says it was initialised.
    body = (
        "import sys, types\n"
        "    cuda = types.SimpleNamespace(is_initialized=lambda: True)\n"
        "    sys.modules['torch'] = types.SimpleNamespace(cuda=cuda)"
    )
    final, folder, prepared = count_study(tmp_path, monkeypatch, body=body)
    assert [r.status for r in final.runs] == ["ok", "ok", "ok"]
    assert len(set(prepared.read_text().split())) == 1  # one spare, not one per experiment
    log = (folder / "logs" / "spare-worker.log").read_text()
    assert "CUDA was initialised while preparing: no worker can be forked from here" in log
    assert all("forked from" not in log_of(folder, r) for r in final.runs)


def test_forked_workers_get_the_studys_own_cuda_check_setting_back(tmp_path, monkeypatch):
    # The spare asks NVML instead of the CUDA driver (so that forking stays safe); the experiments must not.
    record = first_in_generate(
        "import os",
        "with open(os.environ['LLEM_TEST_PREPARED'] + '.env', 'a') as f:",
        "    f.write(f\"{os.getpid()} {os.environ.get('PYTORCH_NVML_BASED_CUDA_CHECK', '-')}\\n\")",
    )
    monkeypatch.delenv("PYTORCH_NVML_BASED_CUDA_CHECK", raising=False)
    final, folder, prepared = count_study(tmp_path, monkeypatch, replace=record)
    assert [r.status for r in final.runs] == ["ok", "ok", "ok"]
    seen = {line.split()[0]: line.split()[1] for line in Path(f"{prepared}.env").read_text().splitlines()}
    forked = {str(r.worker_pid) for r in final.runs[1:]}
    assert forked <= set(seen) and all("forked from" in log_of(folder, r) for r in final.runs[1:])
    assert set(seen.values()) == {"-"}  # unset in every worker, forked or not, as it was in the study


def test_a_spare_killed_after_forking_is_replaced_and_its_running_worker_is_recorded(tmp_path, monkeypatch):
    # The second experiment's worker kills its own parent, the spare (as an OOM kill from outside would); the
    # kernel then ends that worker too (PR_SET_PDEATHSIG). The third starts afresh beside a new spare, from
    # which the fourth is forked.
    kill = first_in_generate(
        "import os, signal",
        "if config.section(CountConfig).batch_size == 2:",
        "    os.kill(os.getppid(), signal.SIGKILL)",
        "    signal.pause()",
    )
    final, folder, prepared = count_study(
        tmp_path, monkeypatch, replace=kill, sweep={"count.batch_size": [1, 2, 3, 4]}
    )
    ok, crash = ("ok", None), ("failed", "crash")
    assert [(r.status, r.failure) for r in final.runs] == [ok, crash, ok, ok]
    first, second = dict.fromkeys(int(x) for x in prepared.read_text().split())  # two spares, in order
    assert f"forked from the spare worker {first}" in log_of(folder, final.runs[1])
    assert "forked from" not in log_of(folder, final.runs[2])
    assert f"forked from the spare worker {second}" in log_of(folder, final.runs[3])


def test_forked_workers_find_the_result_writers_parquet_import_done(tmp_path, monkeypatch):
    # Importing pyarrow (what writing each result's timeseries needs) took 0.3-0.9 s per experiment on an H200
    # host; the spare imports it once. The first worker, started afresh, has not imported it at generate time.
    pytest.importorskip("pyarrow")
    record = first_in_generate(
        "import os, sys",
        "with open(os.environ['LLEM_TEST_PREPARED'] + '.pyarrow', 'a') as f:",
        "    f.write(f\"{os.getpid()} {'pyarrow' in sys.modules}\\n\")",
    )
    final, folder, prepared = count_study(tmp_path, monkeypatch, replace=record)
    assert [r.status for r in final.runs] == ["ok", "ok", "ok"]
    seen = dict(line.split() for line in Path(f"{prepared}.pyarrow").read_text().splitlines())
    assert all("forked from" in log_of(folder, r) for r in final.runs[1:])
    assert [seen[str(r.worker_pid)] for r in final.runs] == ["False", "True", "True"]
    assert all((folder / (r.result_dir or "-") / "timeseries.parquet").is_file() for r in final.runs)
