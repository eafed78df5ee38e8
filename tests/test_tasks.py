"""The generated fine-tuning tasks and their scorers (Finetune Accuracy)."""

import re

import pytest

from antibody_cli import tasks


@pytest.mark.parametrize("name", list(tasks.TASKS))
def test_splits_are_deterministic_distinct_and_disjoint(name):
    built = tasks.build(name)
    assert built == tasks.build(name) and built != tasks.build(name, seed=1)
    train = {r["prompt"] for r in built["train"]}
    test = {r["prompt"] for r in built["test"]}
    assert len(train) == tasks.TRAIN and len(test) == tasks.TEST and not train & test


@pytest.mark.parametrize("name", ["sentiment", "topic"])
def test_label_tasks_are_balanced_enough(name):
    labels = [r["completion"] for r in tasks.build(name)["test"]]
    counts = {label: labels.count(label) for label in set(labels)}
    assert len(counts) == {"sentiment": 2, "topic": 4}[name]
    assert min(counts.values()) >= len(labels) / len(counts) / 2


def test_arithmetic_worked_answers_are_correct():
    for row in tasks.build("arithmetic")["train"] + tasks.build("arithmetic")["test"]:
        for a, op, b, c in re.findall(r"(\d+) ([-+*]) (\d+) = (\d+)", row["completion"]):
            assert eval(f"{a} {op} {b}") == int(c), row  # noqa: S307 (digits and one operator)
        division = re.search(r"(\d+) / (\d+) = (\d+) with (\d+)", row["completion"])
        if division:
            total, friends, per, left = map(int, division.groups())
            assert total == friends * per + left and left < friends
        assert tasks.number_correct(row["completion"], row["completion"])


def test_shipped_task_files_are_what_the_generator_writes(tmp_path):
    for path in tasks.write(tmp_path):
        shipped = tasks.Path(tasks.__file__).parent / "builtin_data" / path.name
        assert shipped.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), path.name


@pytest.mark.parametrize(("answer", "reference", "expected"), [
    ("Positive.", "positive", True), ("  negative - clearly", "negative", True), ("It is positive", "positive", False),
    ("", "positive", False), ("Sports", "sports", True),
])
def test_label_scorer(answer, reference, expected):
    assert tasks.label_correct(answer, reference) is expected


@pytest.mark.parametrize(("answer", "reference", "expected"), [
    ("3 + 4 = 7. The answer is 7.", "The answer is 7.", True), ("The answer is 1,200", "so 1200", True),
    ("The answer is 8", "The answer is 7.", False), ("no idea", "The answer is 7.", False),
    ("7 apples, not 6", "The answer is 7.", False),
])
def test_number_scorer(answer, reference, expected):
    assert tasks.number_correct(answer, reference) is expected
