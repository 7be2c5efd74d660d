"""Prompt generation: synthetic lengths and ids, files, datasets, and warm-up prompts that share no prefix."""

from __future__ import annotations

import importlib.util
import json

import pytest
from llem.config.resolve import load_experiment
from llem.errors import UserError
from llem.prompts import load_prompts
from llem.prompts.sets import WARMUP_TEXT_PREFIX


@pytest.fixture
def cfg(llem_plugins):
    def make(**fields):
        data = {
            "model": "random:tiny-llama",
            "backend": "pytorch",
            "n_prompts": 20,
            "max_input_tokens": 16,
            **fields,
        }
        return load_experiment(data, plugins=llem_plugins)

    return make


def test_synthetic_prompts_follow_the_seed_length_and_vocabulary(cfg):
    a = load_prompts(cfg(random_seed=1))
    assert [p.token_ids for p in a.measured] == [
        p.token_ids for p in load_prompts(cfg(random_seed=1)).measured
    ]
    assert [p.token_ids for p in a.measured] != [
        p.token_ids for p in load_prompts(cfg(random_seed=2)).measured
    ]
    ids = [t for p in a.measured for t in p.token_ids]
    assert all(len(p.token_ids) == 16 for p in a.measured)
    assert all(0 <= t < 1024 for t in ids) and not {0, 1, 2} & set(ids)  # pad, bos, eos avoided


def test_uniform_and_normal_lengths_stay_in_range(cfg):
    uni = load_prompts(cfg(n_prompts=200, prompts={"distribution": "uniform", "min_input_tokens": 4}))
    lengths = [len(p.token_ids) for p in uni.measured]
    assert min(lengths) >= 4 and max(lengths) <= 16 and len(set(lengths)) > 5
    norm = load_prompts(
        cfg(
            n_prompts=200,
            prompts={"distribution": "normal", "mean_input_tokens": 10, "std_input_tokens": 1.0},
        )
    )
    lengths = [len(p.token_ids) for p in norm.measured]
    assert 9 <= sum(lengths) / len(lengths) <= 11 and min(lengths) >= 1 and max(lengths) <= 16


def test_synthetic_warmup_prompts_start_differently_from_every_measured_prompt(cfg):
    ps = load_prompts(cfg(n_prompts=200))
    firsts = {p.token_ids[0] for p in ps.measured}
    warm = ps.warmup(100)
    assert len(warm) == 100 and all(p.token_ids[0] not in firsts for p in warm)
    assert ps.warmup(100) == warm  # deterministic


def test_jsonl_and_text_files(cfg, tmp_path):
    jl = tmp_path / "p.jsonl"
    jl.write_text("\n".join(json.dumps({"q": f"question {i}"}) for i in range(5)) + "\n\n")
    ps = load_prompts(cfg(n_prompts=3, prompts={"source": "file", "path": str(jl), "field": "q"}))
    assert [p.text for p in ps.measured] == ["question 0", "question 1", "question 2"]
    warm = ps.warmup(4)
    # the two spare lines first, then measured texts behind a distinct prefix
    assert [p.text for p in warm[:2]] == ["question 3", "question 4"]
    assert warm[2].text == WARMUP_TEXT_PREFIX.format(i=0) + "question 0"
    tx = tmp_path / "p.txt"
    tx.write_text("one\n\ntwo\nthree\n")
    assert [
        p.text for p in load_prompts(cfg(n_prompts=3, prompts={"source": "file", "path": str(tx)})).measured
    ] == ["one", "two", "three"]


def test_file_errors_name_the_file_and_line(cfg, tmp_path):
    jl = tmp_path / "bad.jsonl"
    jl.write_text('{"prompt": "ok"}\n{"text": "no prompt key"}\n')
    with pytest.raises(UserError, match=r"bad.jsonl: line 2: no field 'prompt'"):
        load_prompts(cfg(n_prompts=1, prompts={"source": "file", "path": str(jl)}))
    few = tmp_path / "few.txt"
    few.write_text("a\nb\n")
    with pytest.raises(UserError, match="has 2 prompts but n_prompts is 3"):
        load_prompts(cfg(n_prompts=3, prompts={"source": "file", "path": str(few)}))


@pytest.mark.skipif(importlib.util.find_spec("datasets") is not None, reason="datasets is installed here")
def test_dataset_without_the_datasets_package_is_a_one_line_error(cfg):
    with pytest.raises(UserError, match=r"needs the `datasets` package \(pip install datasets\)") as info:
        load_prompts(cfg(prompts={"source": "dataset", "id": "tatsu-lab/alpaca"}))
    assert "\n" not in str(info.value)
