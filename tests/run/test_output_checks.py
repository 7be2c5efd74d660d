"""The core checks every BatchOutput: impossible counts or times fail the run, one line naming the backend.

Through the real CLI with an installed plugin that lies (10× the tokens, a negative TTFT), and rule by rule on
the checker itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llem.plugins.types import Batch, BatchOutput, Prompt, RequestOutput
from llem.run.output_checks import BackendOutputError, check_batch_output
from plugin_dists import count_plugin, make_plugin_dist

CONFIG = "model: random:tiny-llama\nbackend: count\nn_prompts: 2\nmax_output_tokens: 4\n"


def _run_lying_backend(site: Path, llem_cli, tmp_path: Path, **replace: str) -> tuple[dict, str]:
    make_plugin_dist(site, "llem-count", {"llem_count": count_plugin(**replace)}, {"count": "llem_count"})
    (tmp_path / "c.yaml").write_text(CONFIG)
    result = llem_cli("run", str(tmp_path / "c.yaml"), "--output", str(tmp_path / "out"), "--json")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr
    [folder] = (tmp_path / "out").iterdir()
    on_disk = json.loads((folder / "result.json").read_text())
    assert on_disk == json.loads(result.stdout)
    assert on_disk["status"] == "failed"
    assert on_disk["metrics"]["output_tokens"] is None, "an impossible output must not become a metric"
    [line] = result.stderr.strip().splitlines()
    return on_disk, line


def test_ten_times_too_many_tokens_fail_the_run(count_site, llem_cli, tmp_path):
    result, line = _run_lying_backend(count_site, llem_cli, tmp_path, **{"OUT_FACTOR = 1": "OUT_FACTOR = 10"})
    assert result["error"] == (
        "BackendOutputError: backend 'count' returned an impossible output, batch 0 (warmup): "
        "request 0: output_tokens 40 > max_new_tokens 4"
    )
    assert line.startswith("llem: error: the run failed: BackendOutputError: backend 'count' returned an imp")


def test_negative_ttft_fails_the_run(count_site, llem_cli, tmp_path):
    result, _ = _run_lying_backend(
        count_site, llem_cli, tmp_path, **{"TTFT_FRACTION = 0.25": "TTFT_FRACTION = -0.25"}
    )
    assert (
        "backend 'count' returned an impossible output, batch 0 (warmup): request 0: ttft_s -"
        in result["error"]
    )
    assert "is not a finite non-negative time" in result["error"]


def test_an_honest_backend_passes(count_site, llem_cli, tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    result = llem_cli("run", str(tmp_path / "c.yaml"), "--output", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"]["output_tokens"] == 8


def _batch(n_prompts: int = 2, *, max_new: int = 4, fixed: bool = True) -> Batch:
    prompts = [Prompt(token_ids=[1, 2, 3]) for _ in range(n_prompts)]
    return Batch(
        prompts=prompts, max_new_tokens=max_new, fixed_output_length=fixed, index=3, phase="measure", seed=0
    )


def _req(**kw) -> RequestOutput:
    base = {"input_tokens": 3, "output_tokens": 4, "ttft_s": 0.01, "e2e_s": 0.04, "itl_s": [0.01, 0.01, 0.01]}
    return RequestOutput(**{**base, **kw})


@pytest.mark.parametrize(
    ("requests", "ids", "fixed", "elapsed", "expected"),
    [
        ([_req()], None, True, None, "1 request outputs for 2 prompts"),
        (
            [_req(), _req(output_tokens=5, itl_s=None)],
            None,
            False,
            None,
            "request 1: output_tokens 5 > max_new",
        ),
        (
            [_req(), _req(output_tokens=3, itl_s=None)],
            None,
            True,
            None,
            "under fixed_output_length (must be exa",
        ),
        (
            [_req(), _req(input_tokens=7)],
            None,
            True,
            None,
            "request 1: input_tokens 7 for a prompt of 3 token ids",
        ),
        (
            [_req(), _req()],
            [[1, 2, 3, 4], [1, 2]],
            True,
            None,
            "request 1: output_tokens 4 but 2 output token ids",
        ),
        ([_req(), _req(ttft_s=-0.01)], None, True, None, "ttft_s -0.01 is not a finite non-negative time"),
        ([_req(), _req(e2e_s=float("nan"))], None, True, None, "e2e_s nan is not a finite non-negative time"),
        ([_req(), _req(ttft_s=0.05)], None, True, None, "ttft_s 0.05 > e2e_s 0.04"),
        (
            [_req(), _req(itl_s=[0.02, 0.02, 0.02])],
            None,
            True,
            None,
            "inter-token gaps = 0.07 s > e2e_s 0.04",
        ),
        ([_req(), _req(itl_s=[0.01] * 4)], None, True, None, "4 inter-token gaps for 4 output tokens"),
        ([_req(), _req(itl_s=[0.01, -0.01, 0.0])], None, True, None, "itl_s contains -0.01"),
        (
            [_req(), _req(itl_s=[0.01, 0.02], itl_tokens=[1])],
            None,
            True,
            None,
            "itl_tokens has 1 entries for 2 gaps",
        ),
        (
            [_req(), _req(itl_s=[0.01, 0.02], itl_tokens=[1, 3])],
            None,
            True,
            None,
            "itl_tokens [1, 3] do not fit 4",
        ),
        ([_req(), _req()], None, True, 0.02, "e2e_s 0.04 s is longer than the whole generate call (0.02 s)"),
    ],
)
def test_each_impossible_output_is_named(requests, ids, fixed, elapsed, expected):
    out = BatchOutput(requests=requests, timing_source="test", output_token_ids=ids)
    with pytest.raises(BackendOutputError) as err:
        check_batch_output("demo", _batch(fixed=fixed), out, elapsed)
    message = str(err.value)
    assert message.startswith("backend 'demo' returned an impossible output, batch 3 (measure): ")
    assert expected in message


def test_possible_outputs_pass_unchanged():
    out = BatchOutput(requests=[_req(), _req(ttft_s=None, e2e_s=None, itl_s=None)], timing_source="test")
    assert check_batch_output("demo", _batch(), out, 0.04) is out
    short = BatchOutput(
        requests=[_req(output_tokens=1, itl_s=[])] * 2, timing_source="t", output_token_ids=[[5], [6]]
    )
    assert check_batch_output("demo", _batch(fixed=False), short, 1.0) is short


def test_a_non_batchoutput_is_named():
    with pytest.raises(
        BackendOutputError, match=r"backend 'demo' returned NoneType from generate, not BatchOutput"
    ):
        check_batch_output("demo", _batch(), None)
