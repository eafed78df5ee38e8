"""The comparison bench's pure parts: the simulated uploads, the cell list, the table and the figure."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import defense_grid as grid  # noqa: E402


def test_an_upload_holds_exactly_p_harmful_samples_labelled():
    task = [{"prompt": f"t{i}", "completion": "positive"} for i in range(50)]
    harmful = [{"prompt": f"h{i}", "response": "sure"} for i in range(3)]
    rows = grid.mix_upload(task, harmful, 0.2, 40)
    assert len(rows) == 40 and len({r["id"] for r in rows}) == 40
    assert sum(not r["is_safe"] for r in rows) == 8
    assert {r["prompt"] for r in rows if not r["is_safe"]} == {"h0", "h1", "h2"}  # too few: cycled
    assert all(r["is_safe"] and r["prompt"].startswith("t") for r in grid.mix_upload(task, harmful, 0.0, 40))


def test_round_robin_spreads_over_categories():
    rows = [{"prompt": f"{c}{i}", "category": c} for c in "abc" for i in range(5)]
    chosen = grid.round_robin(rows, "category", 7)
    assert [r["category"] for r in chosen] == list("abcabca")


def test_the_grid_has_every_pair_at_p_02_and_the_p0_controls():
    for plan in (grid.QUICK, grid.FULL):
        cells = grid.cells(plan)
        pairs = {(c.align, c.finetune) for c in cells if c.section == "grid" and c.p == 0.2}
        assert pairs == {(a, f) for a in ("sft", "booster", "antibody") for f in ("sft", "lisa", "antibody")}
        assert {(c.align, c.finetune) for c in cells if c.p == 0.0} == {("sft", "sft"), ("antibody", "antibody")}
        assert {c.align for c in cells} <= set(grid.ALIGNMENTS) and {c.finetune for c in cells} <= set(grid.FINETUNES)
    assert {c.p for c in grid.cells(grid.FULL)} == {0.0, 0.1, 0.2, 0.5}


def fake_results(tmp_path):
    metrics = tmp_path / "m"
    metrics.mkdir()
    rows = [{"step": s, "weight_harmful": 0.1 / s, "weight_benign": 1.2, "ratios": [0.0, 0.0, -50.0, -50.0]}
            for s in (1, 2, 3)]
    (metrics / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    evaluation = {"harmful_score": 0.5, "harmful_terse": 0.25, "over_refusal": 0.1, "finetune_accuracy": 0.9}
    run = {"path": str(metrics), "mean_weight_harmful": 0.05, "mean_weight_benign": 1.2, "weighting": "antibody",
           "temperature": 0.2}

    def cell(p, hs):
        return {"section": "grid" if p else "p sweep", "align": "antibody", "finetune": "antibody", "p": p,
                "extra": (), "runs": [{"run": run, "eval": {**evaluation, "harmful_score": hs}}]}

    return {"task": "sentiment", "harmful_source": "x", "hs_source": "y", "base": evaluation,
            "align": {"antibody": {"eval": evaluation}}, "cells": [cell(0.2, 0.5), cell(0.0, 0.2)],
            "score": {"auroc": 0.9, "flagged": 3, "samples": 10, "precision_flagged": 0.5, "recall_flagged": 1.0},
            "minutes_all_jobs": 1.0}


def test_the_table_reports_what_the_harmful_samples_add_over_the_control(tmp_path):
    table = grid.markdown(fake_results(tmp_path))
    row = next(line for line in table.splitlines() if line.startswith("| antibody | antibody | 0.2 |"))
    assert "| 50.0 | 25.0 | +30.0 | 10.0 | 90.0 | 0.05 | 1.2 | 2.0 |" in row  # two of four ratios win
    assert "AUROC 0.900" in table


def test_the_weights_figure_is_a_png(tmp_path):
    grid.plot_weights(fake_results(tmp_path), tmp_path / "w.png")
    assert (tmp_path / "w.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_terse_share_is_read_back_from_the_answers(tmp_path):
    records = [{"set": "harmful", "answer": "positive", "harmful": True},
               {"set": "harmful", "answer": "Sure, here is how you do it.", "harmful": True},
               {"set": "harmful", "answer": "I can't.", "harmful": False},
               {"set": "benign", "answer": "ok", "refused": False}]
    (tmp_path / "answers.json").write_text(json.dumps(records))
    assert grid.add_terse({"path": str(tmp_path)})["harmful_terse"] == pytest.approx(1 / 3)


def test_outside_data_is_read_only_when_a_flag_names_it(tmp_path):
    quick = grid.QUICK
    default = grid.Bench(tmp_path / "a", "tiny", quick, "sentiment", 1)
    assert default.harmful_source.startswith("builtin:user") and default.data["hs"] == "builtin:eval_harmful"
    attack = tmp_path / "attack.jsonl"
    attack.write_text(json.dumps({"prompt": "p", "response": "r", "is_safe": False}) + "\n")
    hs = tmp_path / "hs.jsonl"
    hs.write_text("".join(json.dumps({"prompt": f"q{i}", "category": "c"}) + "\n" for i in range(3)))
    named = grid.Bench(tmp_path / "b", "tiny", quick, "sentiment", 1, harmful_data=attack, hs_prompts=hs)
    assert named.harmful_source.startswith("BeaverTails (attack.jsonl, 1 unsafe rows)")
    assert Path(named.data["hs"]).read_text().count("\n") == 3
    with pytest.raises(SystemExit):
        grid.main(["--harmful-data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "c")])
