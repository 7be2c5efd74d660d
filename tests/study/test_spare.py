"""The next worker, prepared outside every window (llem.study.spare): the gate with a fake clock, and real
studies of the `count` backend whose spare workers are real processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import msgspec
from llem.plugins.manager import get_plugin_manager
from llem.plugins.types import DeviceInfo
from llem.run.progress import ProgressEvent
from llem.study.config import study_from_dict
from llem.study.manifest import save_manifest
from llem.study.planning import plan_study
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


def count_study(tmp_path: Path, monkeypatch, body: str = "pass", **study):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("LLEM_DISABLE_PLUGINS", "pytorch,vllm,tensorrt,server")
    prepared = tmp_path / "prepared.txt"
    monkeypatch.setenv("LLEM_TEST_PREPARED", str(prepared))
    source = count_plugin(**{"@hookimpl\ndef llem_unload(handle):": PREPARE.replace("BODY", body)})
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


def test_each_next_worker_is_prepared_while_the_previous_one_runs_and_waits_for_it(tmp_path, monkeypatch):
    final, folder, prepared = count_study(tmp_path, monkeypatch)
    assert [r.status for r in final.runs] == ["ok", "ok", "ok"]
    pids = [r.worker_pid for r in final.runs]
    assert len(set(pids)) == 3  # still one process per experiment
    # runs 2 and 3 ran in the spares that prepared for them (the count backend's llem_prepare ran there)
    assert sorted(int(x) for x in prepared.read_text().split()) == sorted(pids[1:])
    for run in final.runs[1:]:
        assert "llem-study-worker: prepared in" in log_of(folder, run)
    # each worker saw the next one, prepared (then idle) or stopped while it measured; the last saw none
    for run, nxt in zip(final.runs, pids[1:], strict=False):
        log = log_of(folder, run)
        assert f"measuring; the spare worker {nxt} is prepared and idle" in log or (
            f"measuring; the spare worker {nxt} is still preparing: stopped" in log
            and f"not measuring; the spare worker {nxt} continues" in log
        )
    assert "measuring;" not in log_of(folder, final.runs[2])
    assert not (folder / "jobs" / GATE_FILE).exists()


def test_a_failed_preparation_is_logged_and_the_job_still_runs(tmp_path, monkeypatch):
    final, folder, _ = count_study(tmp_path, monkeypatch, body="raise RuntimeError('no such library')")
    assert [r.status for r in final.runs] == ["ok", "ok", "ok"]
    assert "preparation failed: RuntimeError: no such library" in log_of(folder, final.runs[1])


def test_a_spare_that_dies_is_replaced_by_a_worker_started_the_usual_way(tmp_path, monkeypatch):
    final, _, prepared = count_study(tmp_path, monkeypatch, body="os._exit(3)")
    assert [r.status for r in final.runs] == ["ok", "ok", "ok"]
    # the spares died in llem_prepare; the runs were done by fresh workers, which never call it
    assert set(int(x) for x in prepared.read_text().split()).isdisjoint(r.worker_pid for r in final.runs)


def test_prepare_next_false_starts_each_worker_after_the_previous_one(tmp_path, monkeypatch):
    final, folder, prepared = count_study(tmp_path, monkeypatch, prepare_next=False)
    assert [r.status for r in final.runs] == ["ok", "ok", "ok"]
    assert not prepared.exists()
    assert all("prepared in" not in log_of(folder, r) for r in final.runs)


def test_runs_left_over_by_a_crash_never_take_the_spare_prepared_for_the_next_batch(tmp_path, monkeypatch):
    # Two models, reused within each: worker batches [m1 b1, m1 b2] and [m2 b1, m2 b2]. The first worker
    # crashes in m1 b1, so m1 b2 runs next, while the spare was prepared (and logs) for m2's batch.
    crash = (
        "def llem_generate(handle, batch, config):\n"
        "    import os\n"
        "    if config.model == 'random:tiny-llama' and len(batch.prompts) == 1:\n"
        "        os._exit(3)\n"
    )
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("LLEM_DISABLE_PLUGINS", "pytorch,vllm,tensorrt,server")
    source = count_plugin(**{"def llem_generate(handle, batch, config):\n": crash})
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
