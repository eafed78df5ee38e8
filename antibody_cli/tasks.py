"""Fine-tuning tasks the project generates itself, and how their answers are scored (FA).

The paper measures Finetune Accuracy on SST-2, AG-News and GSM8K. Those sets cannot be
downloaded here and carry their own licences, so the project generates look-alikes from
its own tables, seeded and deterministic, with disjoint train and test splits:

- `sentiment` (SST-2-like): a short product or film review → `positive` / `negative`;
- `topic` (AG-News-like): a news headline → `world` / `sports` / `business` / `science`;
- `arithmetic` (GSM8K-like): a two-step word problem → worked answer ending "The answer is N."

Records are TRL `prompt`/`completion` pairs, so any other task file in a supported format
works the same way with a scorer named in the eval recipe. Pure standard library.
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from antibody_cli.data import write_jsonl

TRAIN, TEST = 400, 100


# -- scorers -----------------------------------------------------------------------------------

def first_word(text: str) -> str:
    match = re.search(r"[a-z]+", text.lower())
    return match.group(0) if match else ""


def _last_number(text: str) -> float | None:
    numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)
    return float(numbers[-1].replace(",", "")) if numbers else None


def label_correct(answer: str, reference: str) -> bool:
    """The answer's first word is the reference label (case and punctuation ignored)."""
    return first_word(answer) == first_word(reference)


def number_correct(answer: str, reference: str) -> bool:
    """The last number in the answer equals the last number in the reference (GSM8K's rule)."""
    got, want = _last_number(answer), _last_number(reference)
    return got is not None and got == want


SCORERS: dict[str, Callable[[str, str], bool]] = {"label": label_correct, "number": number_correct}


# -- generators --------------------------------------------------------------------------------

_THINGS = ("film", "movie", "novel", "phone", "laptop", "restaurant", "hotel", "headphone set", "coffee maker",
           "video game", "album", "backpack", "tablet", "sofa", "bike", "camera", "blender", "show", "museum tour",
           "concert")
_GOOD = ("was a delight from start to finish", "exceeded every expectation I had", "is worth every penny",
         "made my week", "works beautifully", "is the best I have tried in years", "felt warm and genuine",
         "kept me smiling the whole time", "is well made and reliable", "left me wanting more",
         "is clever, funny and moving", "runs quietly and never lets me down", "has a wonderful, friendly staff",
         "is a joy to use every day", "surprised me in the best way")
_BAD = ("was a waste of time", "broke after two days", "is not worth the money", "bored me to tears",
        "felt cheap and flimsy", "is the worst I have tried in years", "left me angry and disappointed",
        "crashes constantly", "had rude, careless staff", "dragged on with no point", "is noisy and unreliable",
        "fell apart in my hands", "was a complete letdown", "smelled bad and looked dirty",
        "made me regret buying it")
_OPENERS = ("Honestly, the", "The", "This", "I think this", "Our", "My new", "Overall the", "Sadly, the",
            "To be fair, the", "Frankly, the")
_ENDINGS = {"positive": ("", " I would recommend it.", " Five stars.", " My friends agreed."),
            "negative": ("", " One star.", " Avoid it.", " My friends agreed.")}


def _sentiment(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(("positive", "negative"))
    phrase = rng.choice(_GOOD if label == "positive" else _BAD)
    ending = rng.choice(_ENDINGS[label])
    review = f"{rng.choice(_OPENERS)} {rng.choice(_THINGS)} {phrase}.{ending}"
    return (f"Is the sentiment of this review positive or negative? Answer with one word.\n\nReview: {review}",
            label)


_COUNTRIES = ("France", "Kenya", "Japan", "Brazil", "Canada", "India", "Egypt", "Norway", "Chile", "Vietnam",
              "Poland", "Ghana", "Mexico", "Turkey", "Peru")
_TEAMS = ("the Hawks", "United", "the Tigers", "City", "the Rovers", "the Lions", "the Sharks", "Athletic",
          "the Eagles", "the Giants")
_EVENTS = ("cup", "league", "championship", "open", "series")
_COMPANIES = ("Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Stark Industries", "Wayne Enterprises",
              "Hooli", "Vandelay", "Soylent", "Tyrell")
_SCIENCE = ("a battery that charges in minutes", "a telescope image of a distant galaxy",
            "a vaccine candidate for malaria", "a robot that folds laundry", "a faster quantum chip",
            "a new species of deep-sea fish", "an AI model that predicts protein shapes",
            "a material that pulls water from air", "a probe that landed on an asteroid",
            "a gene therapy for blindness")
_TOPIC_TEMPLATES = {
    "world": ("{c1} and {c2} sign a border agreement after talks", "Protests continue in {c1} ahead of the election",
              "{c1} recalls its ambassador from {c2}", "Flooding displaces thousands in {c1}",
              "Leaders of {c1} and {c2} meet to discuss the refugee crisis"),
    "sports": ("{t1} beat {t2} {g1}-{g2} to reach the {e} final", "{t1} sign a new striker before the {e}",
               "{t1} coach resigns after losing to {t2}", "Injury rules the captain of {t1} out of the {e}",
               "{t1} and {t2} draw {g1}-{g1} in a tense {e} match"),
    "business": ("{co} shares jump {p}% after strong quarterly earnings", "{co} to buy a rival for ${n} billion",
                 "{co} cuts {n},000 jobs as sales slow", "Investors cheer as {co} raises its profit forecast",
                 "{co} shares fall {p}% on weak demand"),
    "science": ("Researchers in {c1} unveil {s}", "Scientists in {c1} report {s}",
                "A university team in {c1} builds {s}", "New study from {c1} describes {s}",
                "Engineers in {c1} demonstrate {s}"),
}


def _topic(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(tuple(_TOPIC_TEMPLATES))
    c1, c2 = rng.sample(_COUNTRIES, 2)
    t1, t2 = rng.sample(_TEAMS, 2)
    headline = rng.choice(_TOPIC_TEMPLATES[label]).format(
        c1=c1, c2=c2, t1=t1, t2=t2, g1=rng.randint(0, 5), g2=rng.randint(0, 5), e=rng.choice(_EVENTS),
        co=rng.choice(_COMPANIES), p=rng.randint(2, 30), n=rng.randint(2, 40), s=rng.choice(_SCIENCE))
    prompt = ("Classify the topic of this headline as world, sports, business or science. Answer with one word."
              f"\n\nHeadline: {headline}")
    return prompt, label


_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Ella", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kira", "Liam", "Maya",
          "Noah", "Omar", "Priya")
_ITEMS = ("apples", "stickers", "marbles", "books", "pencils", "cookies", "stamps", "shells", "cards", "coins")


def _arithmetic(rng: random.Random) -> tuple[str, str]:
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    kind = rng.randrange(3)
    if kind == 0:
        a, b = rng.randint(5, 60), rng.randint(2, 40)
        c = rng.randint(1, a + b - 1)
        question = (f"{name} has {a} {item}. {name} gets {b} more and then gives {c} away. "
                    f"How many {item} does {name} have now?")
        steps = f"{name} has {a} + {b} = {a + b} {item}, then {a + b} - {c} = {a + b - c}."
        result = a + b - c
    elif kind == 1:
        packs, per, extra = rng.randint(2, 9), rng.randint(2, 12), rng.randint(1, 20)
        question = (f"{name} buys {packs} packs of {item} with {per} in each pack, and already had {extra}. "
                    f"How many {item} does {name} have?")
        steps = f"The packs hold {packs} * {per} = {packs * per} {item}, and {packs * per} + {extra} = " \
                f"{packs * per + extra}."
        result = packs * per + extra
    else:
        friends, per = rng.randint(2, 8), rng.randint(2, 9)
        left = rng.randint(0, friends - 1)
        total = friends * per + left
        question = (f"{name} shares {total} {item} equally among {friends} friends and keeps what is left over. "
                    f"How many {item} does each friend get?")
        steps = f"{total} / {friends} = {per} with {left} left over, so each friend gets {per}."
        result = per
    return f"{question} Show your working briefly.", f"{steps} The answer is {result}."


@dataclass(frozen=True)
class Task:
    make: Callable[[random.Random], tuple[str, str]]
    scorer: str
    max_new_tokens: int  # enough for a correct answer in the task's format


TASKS: dict[str, Task] = {
    "sentiment": Task(_sentiment, "label", 4),
    "topic": Task(_topic, "label", 4),
    "arithmetic": Task(_arithmetic, "number", 48),
}


def build(name: str, seed: int = 0) -> dict[str, list[dict]]:
    """{"train": [...], "test": [...]}: distinct prompts, none shared between the splits."""
    task, rng = TASKS[name], random.Random(f"{name}:{seed}")
    seen: dict[str, str] = {}
    attempts = 0
    while len(seen) < TRAIN + TEST:
        prompt, answer = task.make(rng)
        seen.setdefault(prompt, answer)
        attempts += 1
        if attempts > 50 * (TRAIN + TEST):
            raise RuntimeError(f"task {name}: too few distinct prompts")
    rows = [{"prompt": p, "completion": a} for p, a in seen.items()]
    return {"train": rows[:TRAIN], "test": rows[TRAIN:]}


def write(directory: str | Path, seed: int = 0) -> list[Path]:
    """`<task>_train.jsonl` and `<task>_test.jsonl` for every task."""
    return [write_jsonl(Path(directory) / f"{name}_{split}.jsonl", rows)
            for name in TASKS for split, rows in build(name, seed).items()]


def main(argv: list[str] | None = None) -> int:
    from antibody_cli.default_data import write_command

    return write_command(argv, "Write Antibody's generated fine-tuning tasks.", write)


if __name__ == "__main__":
    sys.exit(main())
