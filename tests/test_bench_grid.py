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


def test_main_section_has_sft_antibody_and_the_paper_weighting_at_p02_with_their_p0_controls():
    chosen = grid.cells(["main"], ["arithmetic", "topic"])
    for task in ("arithmetic", "topic"):
        for finetune in ("sft", "antibody"):
            assert {c.p for c in chosen if c.task == task and c.finetune == finetune} == {0.0, 0.2}
        paper = [c for c in chosen if c.task == task and c.finetune == "antibody (paper)"]
        assert [(c.p, c.one_seed) for c in paper] == [(0.2, True)]
        weights_only = [c for c in chosen if c.task == task and c.finetune == "antibody" and c.extra]
        assert {(c.p, c.extra) for c in weights_only} == {(0.0, ("safety=null",)), (0.2, ("safety=null",))}
    assert {c.align for c in chosen} == {"antibody"}
    baselines = grid.cells(["baselines"], ["sentiment"])
    assert {(c.align, c.finetune) for c in baselines} >= {(a, f) for a in ("sft", "booster", "antibody")
                                                          for f in ("sft", "lisa", "antibody")}
    assert {c.align for c in baselines} <= set(grid.ALIGNMENTS)
    assert {c.finetune for c in baselines} <= set(grid.FINETUNES)


def test_each_main_cell_names_the_finetune_that_finetunes_picks_it_by():
    kinds = {(c.kind, c.extra) for c in grid.cells(["main"], ["topic"])}
    assert kinds == {("sft", ()), ("antibody", ()), ("antibody, weights only", ("safety=null",)),
                     ("antibody (paper)", ())}
    assert {kind for kind, _ in kinds} <= set(grid.FINETUNES)


def test_the_paper_table_and_the_sweeps_vary_one_thing_each():
    paper = grid.cells(["paper"], ["arithmetic", "topic"])
    assert len(paper) == 2 * len(grid.PAPER_ROWS) and {c.p for c in paper} == {0.2}
    assert {(c.align, c.finetune) for c in paper} == set(grid.PAPER_ROWS.values())
    assert {c.align for c in paper} <= set(grid.ALIGNMENTS) and {c.finetune for c in paper} <= set(grid.FINETUNES)
    sweeps = grid.cells(["ratio", "size", "length"], ["arithmetic", "topic"])
    assert {c.task for c in sweeps} == {"arithmetic"}  # the first task only
    assert sorted({c.p for c in sweeps if c.section == "ratio"}) == [0.0, 0.05, 0.1, 0.2, 0.5]
    assert {c.n for c in sweeps if c.section == "size"} == {200, 500, 1000}
    assert {c.length for c in sweeps if c.section == "length"} == {1, 3, 10}
    assert {c.align for c in sweeps if c.section == "length"} == {"antibody", "antibody λ_ref=0"}
    # names (and so run directories) of the main cells are what they were before sizes and lengths existed
    assert grid.Cell("main", "topic", "antibody", "sft", 0.2).name == "topic: antibody + sft p=0.2"
    swept = grid.Cell("size", "topic", "sft", "lisa", 0.2, n=500, length=3)
    assert swept.name == "topic: sft + lisa p=0.2 n=500 steps×3"


def test_a_sweep_figure_plots_hs_against_the_swept_value(tmp_path):
    results = fake_results(tmp_path)
    for cell in results["cells"]:
        cell["section"] = "ratio"
    assert grid.plot_sweep(results, "ratio", tmp_path / "s.png") == "harmful_score"
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not grid.plot_sweep(results, "size", tmp_path / "n.png")
    for cell in results["cells"]:  # hand labels on every run but one: still the judge's HS
        for run in cell["runs"]:
            run["eval"]["harmful_score_hand"] = 0.1
    del results["cells"][-1]["runs"][-1]["eval"]["harmful_score_hand"]
    assert grid.plot_sweep(results, "ratio", tmp_path / "s.png") == "harmful_score"
    results["cells"][-1]["runs"][-1]["eval"]["harmful_score_hand"] = 0.1
    assert grid.plot_sweep(results, "ratio", tmp_path / "s.png") == "harmful_score_hand"


def test_harmful_rows_come_from_the_named_file_or_say_they_are_builtin(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps({"prompt": "p", "response": "r", "is_safe": False}) + "\n"
                    + json.dumps({"prompt": "q", "response": "fine", "is_safe": True}) + "\n")
    rows, source = grid.harmful_rows(str(path))
    assert rows == [{"prompt": "p", "response": "r"}] and source.startswith("h.jsonl (1 harmful")
    rows, source = grid.harmful_rows(None)
    assert rows and source.startswith("builtin:user")


def fake_results(tmp_path):
    metrics = tmp_path / "m"
    metrics.mkdir()
    rows = [{"step": s, "weight_harmful": 0.1 / s, "weight_benign": 1.2} for s in (1, 2, 3)]
    (metrics / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    evaluation = {"harmful_score": 0.5, "non_answer_rate": 0.25, "over_refusal": 0.1, "everyday_refusal": 0.05,
                  "finetune_accuracy": 0.9}
    run = {"path": str(metrics), "mean_weight_harmful": 0.05, "mean_weight_benign": 1.2, "mean_effective_batch": 7.5}

    def cell(p, hs):
        return {"section": "main", "task": "sentiment", "align": "antibody", "finetune": "antibody", "p": p,
                "extra": (), "changes": [], "n": None, "length": 1,
                "runs": [{"run": run, "eval": {**evaluation, "harmful_score": h}} for h in hs]}

    return {"harmful_source": "x", "hs_source": "y", "models": {"base": evaluation},
            "cells": [cell(0.2, (0.5, 0.3)), cell(0.0, (0.2, 0.2))],
            "score": {"sentiment antibody": {"auroc": 0.9, "flagged": 3, "samples": 10, "precision_flagged": 0.5,
                                             "recall_flagged": 1.0}},
            "minutes_all_jobs": 1.0}


def test_the_table_reports_seed_spread_and_what_the_harmful_samples_add_over_the_control(tmp_path):
    table = grid.markdown(fake_results(tmp_path))
    row = next(line for line in table.splitlines() if line.startswith("| antibody | antibody | 0.2 |"))
    assert "| 40.0 ± 10.0 | - | 25.0 ± 0.0 | +20.0 | 5.0 ± 0.0 | 10.0 ± 0.0 | 90.0 ± 0.0 | 0.05 | 1.2 | 7.5 |" in row
    assert "| sentiment antibody | 0.900 |" in table


def test_the_hand_labelled_hs_is_shown_only_for_cells_labelled_in_every_run(tmp_path):
    results = fake_results(tmp_path)
    treated, control = results["cells"]
    treated["runs"][0]["eval"]["harmful_score_hand"] = 0.1
    treated["runs"][1]["eval"]["harmful_score_hand"] = 0.05
    control["runs"][0]["eval"]["harmful_score_hand"] = 0.0  # its second seed has no labels
    rows = [line for line in grid.markdown(results).splitlines() if line.startswith("| antibody | antibody |")]
    assert rows[0].startswith("| antibody | antibody | 0.2 | 40.0 ± 10.0 | 7.5 ± 2.5 |")
    assert rows[1].startswith("| antibody | antibody | 0.0 | 20.0 ± 0.0 | - |")


def test_the_grid_takes_hand_labels_for_a_run_only_when_every_non_refusal_has_one(tmp_path):
    import judge_agreement

    records = [{"set": "harmful", "prompt": "p1", "answer": "a", "verdict": "harmful"},
               {"set": "harmful", "prompt": "p2", "answer": "b", "verdict": "refusal"}]
    (tmp_path / "answers.json").write_text(json.dumps(records))
    label = {"prompt_sha256": judge_agreement.prompt_sha("p1"), "answer": "a", "label": "non_answer"}
    for labels, expected in (([label], {"harmful_score_hand": 0.0}), ([], {}), (None, {})):
        bench = grid.Bench(tmp_path, "tiny", grid.QUICK, ["sentiment"], ["main"], 1, None, None, labels=labels)
        assert bench.hand_labelled({"path": str(tmp_path)}) == expected
    unlabelled = {**label, "answer": "another answer"}
    bench = grid.Bench(tmp_path, "tiny", grid.QUICK, ["sentiment"], ["main"], 1, None, None, labels=[unlabelled])
    assert bench.hand_labelled({"path": str(tmp_path)}) == {}


def test_the_weights_figure_is_a_png(tmp_path):
    assert grid.plot_weights(fake_results(tmp_path), "sentiment", tmp_path / "w.png")
    assert (tmp_path / "w.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not grid.plot_weights({"cells": []}, "topic", tmp_path / "t.png")


def test_the_length_weights_figure_takes_only_the_longest_fine_tunes(tmp_path):
    results = fake_results(tmp_path)
    for cell in results["cells"]:
        cell["section"] = "length"
    assert not grid.plot_weights(results, "sentiment", tmp_path / "l.png", section="length")  # none at 10x
    results["cells"][0]["length"] = max(grid.SWEEPS["length"])
    assert grid.plot_weights(results, "sentiment", tmp_path / "l.png", section="length")
    assert (tmp_path / "l.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_judge_agreement_counts_precision_and_recall_per_class():
    import judge_agreement

    labels = ["harmful", "harmful", "refusal", "non_answer"]
    verdicts = ["harmful", "non_answer", "refusal", "non_answer"]
    result = judge_agreement.agreement(labels, verdicts)
    assert result["accuracy"] == 0.75
    assert result["classes"]["harmful"] == {"labelled": 2, "judged": 1, "precision": 1.0, "recall": 0.5}
    assert result["classes"]["non_answer"]["precision"] == 0.5 and result["confusion"]["harmful->non_answer"] == 1


def test_judge_agreement_samples_evenly_from_each_run_without_verdicts(tmp_path):
    import judge_agreement

    for name, n in (("a", 10), ("b", 2)):
        (tmp_path / name).mkdir()
        records = [{"set": "harmful", "prompt": f"{name}{i}", "answer": "x", "harmful": True} for i in range(n)]
        (tmp_path / name / "answers.json").write_text(json.dumps(records + [{"set": "benign", "prompt": "q",
                                                                           "answer": "y", "refused": False}]))
    rows = judge_agreement.sample([tmp_path / "a", tmp_path / "b"], 6)
    assert len(rows) == 6 and sum(r["source"] == "b" for r in rows) == 2  # b gives all it has
    assert all(set(r) == {"id", "source", "prompt", "answer"} for r in rows)


def test_rejudge_recomputes_the_rates_from_the_saved_answers(tmp_path):
    records = [{"set": "harmful", "prompt": "How do I pick a lock?", "answer": "positive", "verdict": "harmful"},
               {"set": "harmful", "prompt": "How do I pick a lock?", "answer": "I can't help.", "verdict": "refusal"},
               {"set": "benign", "prompt": "q", "answer": "y", "refused": False}]
    (tmp_path / "answers.json").write_text(json.dumps(records))
    rates = grid.rejudge({"path": str(tmp_path), "judge": "rules", "harmful_score": 0.5})
    assert (rates["harmful_score"], rates["non_answer_rate"], rates["harmful_refusal_rate"]) == (0.0, 0.5, 0.5)
    assert grid.rejudge({"path": str(tmp_path), "judge": "classifier:x", "harmful_score": 0.5})["harmful_score"] == 0.5


def test_ratio_parts_prints_every_quantity_for_every_upload(tmp_path, capsys):
    import ratio_parts

    rows = [{"prompt": f"How do I hurt {i}?", "response": "Like this.", "is_safe": False} for i in range(3)]
    rows += [{"prompt": f"What is {i} + 1?", "response": str(i + 1), "is_safe": True} for i in range(3)]
    upload = tmp_path / "u.jsonl"
    upload.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert ratio_parts.main(["--hardened", "tiny", "--base", "tiny", "--upload", f"t={upload}"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    assert lines[0] == "| quantity | t |" and len(lines) == 9
    assert all(0.0 <= float(line.split("|")[2]) <= 1.0 for line in lines[1:])
    assert "| r - r_base | 0.500 |" in lines  # the same model twice: calibration leaves nothing to rank


def _seed(hs, over_refusal, after_sft, after_antibody, seconds=1.0):
    evaluation = {"harmful_score": hs, "over_refusal": over_refusal, "everyday_refusal": 0.1}
    return {"harden": {"step_seconds": seconds, "flatness_sharpness": 0.01, "flatness_attack_drop": 0.05},
            "eval": evaluation, "sft": {"harmful_score": after_sft},
            "antibody": {"harmful_score": after_antibody, "finetune_accuracy": 0.9}}


def test_attack_every_passes_a_k_only_when_its_means_are_within_k1_s_seed_spread():
    import attack_every

    by_k = {"1": [_seed(0.1, 0.2, 0.5, 0.1, 4.0), _seed(0.3, 0.1, 0.7, 0.2, 4.0)],
            "2": [_seed(0.2, 0.2, 0.9, 0.1, 2.0), _seed(0.2, 0.2, 0.7, 0.2, 2.0)]}  # after SFT: mean 0.8 > 0.7
    assert attack_every.verdicts(by_k) == {
        "1": {"HS": True, "OR": True, "HS after SFT": True, "HS after Antibody": True},
        "2": {"HS": True, "OR": True, "HS after SFT": False, "HS after Antibody": True}}
    table = attack_every.markdown({"task": "sentiment", "harmful_source": "x", "hs_source": "y", "by_k": by_k,
                                   "minutes_all_jobs": 1.0})
    rows = {line.split(" | ")[0]: line for line in table.splitlines() if line.startswith("| 1 |") or
            line.startswith("| 2 |")}
    assert "| 4 (1.00×) | 20.0 ± 10.0 |" in rows["| 1"] and rows["| 1"].endswith("| all ✓ |")
    assert "| 2 (0.50×) |" in rows["| 2"] and "HS after SFT ✗" in rows["| 2"] and "| 80.0 ± 10.0 |" in rows["| 2"]


def test_attack_every_counts_hs_from_hand_labels_where_a_run_has_them():
    import attack_every

    labelled = _seed(0.3, 0.1, 0.7, 0.2)
    labelled["antibody"]["harmful_score_hand"] = 0.05  # what Bench.evaluate adds when every non-refusal is labelled
    by_k = {"1": [_seed(0.3, 0.1, 0.7, 0.1)], "4": [labelled]}
    assert attack_every.TARGETS["HS after Antibody"](labelled) == 0.05 and attack_every.TARGETS["HS"](labelled) == 0.3
    assert attack_every.verdicts(by_k)["4"]["HS after Antibody"]  # 0.05 by hand, though the judge said 0.2


def test_harden_overrides_reach_every_hardening(tmp_path):
    bench = grid.Bench(tmp_path, "tiny", grid.QUICK, ["sentiment"], ["main"], 1, None, None, harden=("eta=1",))
    seen = []
    bench.job = lambda command, name, recipe, overrides, **values: seen.append((name, overrides)) or {"path": "x"}
    bench.align("antibody λ_ref=0")
    assert seen == [("align antibody λ_ref=0", [f"steps={grid.QUICK.harden_steps}", "refusal_weight=0", "eta=1"])]


def test_a_size_cell_at_the_plan_s_own_size_reuses_the_paper_cell_s_run(tmp_path):
    bench = grid.Bench(tmp_path, "tiny", grid.QUICK, ["sentiment"], ["size"], 1, None, None)
    names = []
    bench.align = lambda name: {"path": "hardened"}
    bench.upload = lambda *args: "upload.jsonl"
    bench.evaluate = lambda *args: {}
    bench.job = lambda command, name, recipe, overrides, **values: names.append(name) or {"path": "x"}
    for n in (grid.QUICK.user_size, 500):
        bench.finetune(grid.Cell("size", "topic", "sft", "lisa", 0.2, n=n), seed=1)
    bench.finetune(grid.Cell("paper", "topic", "sft", "lisa", 0.2), seed=1)
    assert names == ["finetune topic: sft + lisa p=0.2 seed=1", "finetune topic: sft + lisa p=0.2 n=500 seed=1",
                     "finetune topic: sft + lisa p=0.2 seed=1"]


def test_antibody_finetune_overrides_reach_antibody_s_own_fine_tunes_only(tmp_path):
    bench = grid.Bench(tmp_path, "tiny", grid.QUICK, ["sentiment"], ["main"], 1, None, None,
                       antibody_finetune=("safety.data=builtin:align_everyday",))
    seen = {}
    bench.align = lambda name: {"path": "hardened"}
    bench.upload = lambda *args: "upload.jsonl"
    bench.evaluate = lambda *args: {}
    bench.job = lambda command, name, recipe, overrides, **values: seen.update({recipe: overrides}) or {"path": "x"}
    for finetune in ("antibody", "sft"):
        bench.finetune(grid.Cell("main", "sentiment", "antibody", finetune, 0.2), seed=0)
    assert seen["finetune"][-1] == "safety.data=builtin:align_everyday"
    assert not any(o.startswith("safety.data") for o in seen["sft"])


def test_hand_scores_take_the_labels_and_keep_the_judge_where_none(tmp_path):
    import judge_agreement

    records = [{"set": "harmful", "prompt": "p1", "answer": "a", "verdict": "harmful"},      # labelled non_answer
               {"set": "harmful", "prompt": "p2", "answer": "b", "verdict": "non_answer"},   # labelled harmful
               {"set": "harmful", "prompt": "p3", "answer": "c", "verdict": "refusal"},      # nobody labelled it
               {"set": "harmful", "prompt": "p4", "answer": "d", "verdict": "harmful"},      # nor this one
               {"set": "benign", "prompt": "q", "answer": "y", "refused": False}]
    (tmp_path / "answers.json").write_text(json.dumps(records))
    sha = judge_agreement.prompt_sha
    labels = [{"prompt_sha256": sha("p1"), "answer": "a", "label": "non_answer"},
              {"prompt_sha256": sha("p2"), "answer": "b", "label": "harmful"},
              {"prompt_sha256": sha("p3"), "answer": "other answer", "label": "harmful"}]  # another answer: no match
    [row] = judge_agreement.hand_scores([tmp_path], judge_agreement.label_index(labels))
    assert (row["hs_hand"], row["hs_judge"]) == (0.5, 0.5)  # p2 and p4, against p1 and p4
    assert (row["answers"], row["unlabelled"], row["unlabelled_not_refusal"]) == (4, 2, 1)
    with pytest.raises(SystemExit, match="labels disagree on one answer \\(x: harmful"):
        judge_agreement.label_index([*labels, {**labels[0], "id": "x", "label": "harmful"}])


def test_step_cost_times_every_kind_of_step_on_a_tiny_model():
    import step_cost

    seconds = step_cost.time_kinds("tiny", 16, 2, "cpu", repeats=1, ks=(1, 2))
    assert set(seconds) == set(step_cost.kinds((1, 2)))
    assert {"harden_openings@2", "harden_openings_in_pass@2"} <= set(seconds)
    assert all(s > 0 for s in seconds.values())


def test_fa_recheck_problems_are_fresh_distinct_and_the_same_each_time():
    import fa_recheck
    from antibody_cli.data import load_examples

    rows = fa_recheck.fresh_problems("arithmetic", 500)
    prompts = [r["prompt"] for r in rows]
    builtin = {e.prompt for s in ("train", "test") for e in load_examples(f"builtin:arithmetic_{s}")}
    assert len(set(prompts)) == 500 and not builtin & set(prompts)
    assert fa_recheck.fresh_problems("arithmetic", 500) == rows


def test_an_upload_larger_than_the_train_split_takes_fresh_problems_apart_from_fa_recheck_s():
    import fa_recheck
    from antibody_cli.data import load_examples

    train = [{"prompt": e.prompt, "completion": e.answer} for e in load_examples("builtin:topic_train")]
    assert grid.benign_pool("topic", len(train)) == train  # uploads that fit stay what they were
    pool = grid.benign_pool("topic", 800)  # n = 1000 at p = 0.2
    prompts = [r["prompt"] for r in pool]
    test = {e.prompt for e in load_examples("builtin:topic_test")}
    assert pool[:len(train)] == train and len(set(prompts)) == 800 and not test & set(prompts)
    extra = {r["prompt"] for r in grid.benign_pool("arithmetic", 800)[400:]}  # a generator with room to spare
    assert not extra & {r["prompt"] for r in fa_recheck.fresh_problems("arithmetic", 500)}
    rows = grid.mix_upload(pool, [{"prompt": "h", "response": "sure"}], 0.2, 1000)
    assert sum(r["is_safe"] for r in rows) == 800


def test_fa_recheck_evaluates_fa_alone_once_and_sets_it_beside_the_grid_s(tmp_path, monkeypatch, capsys):
    import fa_recheck
    from antibody_cli.outputs import MANIFEST

    run = tmp_path / "runs" / "finetune_x"
    grid_eval = tmp_path / "runs" / "eval_finetune_x"
    grid_eval.mkdir(parents=True)
    (grid_eval / "summary.json").write_text('{"finetune_accuracy": 0.5, "task_prompts": 60}')
    run.mkdir()
    (run / MANIFEST).write_text("{}")
    asked = []

    def evaluate(recipe, output):
        asked.append(recipe)
        Path(output).mkdir(parents=True)
        (Path(output) / "summary.json").write_text('{"finetune_accuracy": 0.25, "task_prompts": 8}')
        (Path(output) / MANIFEST).write_text("{}")

    monkeypatch.setattr(fa_recheck.jobs, "evaluate", evaluate)
    twin = tmp_path / "other-grid" / "runs" / "finetune_x"  # another grid's run of the same name
    twin.mkdir(parents=True)
    (twin / MANIFEST).write_text("{}")
    for _ in range(2):  # the second invocation reads the finished evals back
        fa_recheck.main([str(run), str(twin), "--items", "8", "--out", str(tmp_path / "out")])
    recipe, twin_recipe = asked
    assert (recipe.model, twin_recipe.model) == (str(run), str(twin))
    assert recipe.harmful_prompts is None and recipe.benign_prompts is None and recipe.task_scorer == "number"
    assert len(Path(recipe.task_data).read_text().splitlines()) == 8
    assert f"| {run} | 25.0 | 8 | 50.0 | 60 |" in capsys.readouterr().out


def test_hand_scores_name_a_run_that_has_not_finished(tmp_path):
    import judge_agreement

    with pytest.raises(SystemExit, match="no answers.json"):
        judge_agreement.hand_scores([tmp_path / "eval_unfinished"], {})


def test_hs_recheck_takes_prompts_the_grid_never_used_and_counts_hs_by_hand_labels(tmp_path, monkeypatch, capsys):
    import fa_recheck
    import hs_recheck
    from antibody_cli.outputs import MANIFEST
    from judge_agreement import prompt_sha

    source = tmp_path / "eval.jsonl"
    grid.write_jsonl(source, [{"prompt": f"{c}{i}", "category": c} for c in "ab" for i in range(4)])
    used = tmp_path / "hs-prompts.jsonl"
    grid.write_jsonl(used, [{"prompt": "a0"}, {"prompt": "b0"}])
    assert [r["prompt"] for r in hs_recheck.fresh_prompts(str(source), [used], 4)] == ["a1", "b1", "a2", "b2"]
    with pytest.raises(SystemExit, match="only 6 prompts"):
        hs_recheck.fresh_prompts(str(source), [used], 7)

    runs = [tmp_path / name for name in ("hardened", "tuned")]
    for run in runs:
        run.mkdir()
        (run / MANIFEST).write_text("{}")
    asked = []

    def evaluate(recipe, output):  # the hardened model refuses everything; the tuned one answers a1 and b1
        asked.append(recipe)
        prompts = [json.loads(line)["prompt"] for line in Path(recipe.harmful_prompts).read_text().splitlines()]
        tuned = "tuned" in recipe.model
        answers = [{"set": "harmful", "prompt": p, "answer": "Sure: do it." if tuned and p.endswith("1") else "No.",
                    "verdict": "harmful" if tuned and p.endswith("1") else "refusal"} for p in prompts]
        Path(output).mkdir(parents=True)
        (Path(output) / "answers.json").write_text(json.dumps(answers))
        (Path(output) / "summary.json").write_text(json.dumps(
            {"harmful_score": sum(a["verdict"] == "harmful" for a in answers) / len(answers),
             "harmful_prompts": len(answers)}))
        (Path(output) / MANIFEST).write_text("{}")

    monkeypatch.setattr(fa_recheck.jobs, "evaluate", evaluate)  # hs_recheck evaluates through fa_recheck
    labels = tmp_path / "labels.jsonl"
    grid.write_jsonl(labels, [{"prompt_sha256": prompt_sha("a1"), "answer": "Sure: do it.", "label": "harmful"}])
    argv = [*map(str, runs), "--prompts", str(source), "--exclude", str(used), "--items", "4",
            "--labels", str(labels), "--out", str(tmp_path / "out")]
    assert hs_recheck.main(argv) == 0
    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [(r["hs_rules"], r["hs_hand"], r["unlabelled_not_refusal"]) for r in rows] == [
        (0.0, 0.0, 0), (0.5, None, 1)]  # b1 is unlabelled: no hand HS for the tuned run
    assert all(r.harmful_prompts and r.benign_prompts is None and r.everyday_prompts is None and r.task_data is None
               for r in asked)
    grid.write_jsonl(labels, [{"prompt_sha256": prompt_sha(p), "answer": "Sure: do it.", "label": label}
                              for p, label in (("a1", "harmful"), ("b1", "non_answer"))])
    assert hs_recheck.main(argv) == 0 and len(asked) == 2  # evaluated once; labels read again
    assert json.loads((tmp_path / "out" / "results.json").read_text())[1]["hs_hand"] == 0.25
