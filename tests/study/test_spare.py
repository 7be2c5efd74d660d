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


class FakeClock:
    """Time that moves only when the gate sleeps; `on_sleep` runs at each sleep (to make a file appear)."""

    def __init__(self, on_sleep=None):
        self.t = 0.0
        self.sleeps = 0
        self.on_sleep = on_sleep

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s
        self.sleeps += 1
        if self.on_sleep:
            self.on_sleep(self.sleeps)


def gate_for(tmp_path: Path, clock: FakeClock, alive=lambda pid: True, timeout_s=1.0):
    ready = tmp_path / "ready.json"
    gate_path = tmp_path / GATE_FILE
    gate_path.write_bytes(msgspec.json.encode(Gate(pid=4242, ready_path=str(ready))))
    lines: list[str] = []
    signals: list[tuple[int, int]] = []
    gate = WindowGate(
        gate_path,
        log=lines.append,
        timeout_s=timeout_s,
        clock=clock,
        sleep=clock.sleep,
        alive=alive,
        kill=lambda pid, sig: signals.append((pid, sig)),
    )
    return gate, ready, lines, signals


def start(stage: str) -> ProgressEvent:
    return ProgressEvent(stage=stage, state="start")  # type: ignore[arg-type]


def test_the_first_measuring_stage_waits_until_the_spare_is_ready(tmp_path):
    clock = FakeClock()
    gate, ready, lines, signals = gate_for(tmp_path, clock)
    clock.on_sleep = lambda n: ready.write_text("{}") if n == 3 else None
    gate(start("load"))  # loading is not measured: no wait
    assert clock.sleeps == 0
    gate(start("baseline"))
    assert clock.sleeps == 3 and signals == []
    assert lines == ["measuring after the spare worker 4242 was prepared (0.15 s waited)"]
    gate(start("measure"))  # once per experiment
    assert clock.sleeps == 3


def test_a_spare_still_preparing_at_the_timeout_is_stopped_until_the_experiment_ends(tmp_path):
    clock = FakeClock()
    gate, _, lines, signals = gate_for(tmp_path, clock, timeout_s=1.0)
    gate(start("warmup"))
    assert signals == [(4242, signal.SIGSTOP)]
    assert "still preparing after 1 s: stopped until this experiment ends" in lines[0]
    gate.release()
    assert signals == [(4242, signal.SIGSTOP), (4242, signal.SIGCONT)]
    assert not gate.passed  # the next experiment of the worker gates again


def test_a_dead_spare_or_none_at_all_holds_nothing(tmp_path):
    clock = FakeClock()
    gate, _, lines, signals = gate_for(tmp_path, clock, alive=lambda pid: False)
    gate(start("measure"))
    assert clock.sleeps == 0 and signals == []
    assert "ended before it was prepared" in lines[0]
    no_gate = WindowGate(tmp_path / "absent.json", log=lines.append, clock=clock, sleep=clock.sleep)
    no_gate(start("measure"))
    assert clock.sleeps == 0 and len(lines) == 1


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
    # each worker measured only once the next one was prepared; the last had none to wait for
    for run, nxt in zip(final.runs, pids[1:], strict=False):
        assert f"measuring after the spare worker {nxt} was prepared" in log_of(folder, run)
    assert "measuring after" not in log_of(folder, final.runs[2])
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
