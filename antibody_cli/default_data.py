"""Antibody's own built-in demo data: small, synthetic and deterministic.

Why this exists: the tool needs something to harden, attack and evaluate with
when the user has no data set of their own (smoke tests, CI, a first run on a
laptop).  Everything here is generated from templates and tables written for
this project, so it ships without any third-party data licence, and nothing in
it is operational: the "compliant" harmful answers only *sound* helpful (they
agree and outline vague steps) so that they can stand in for an attacker's
fine-tuning data without teaching anything real.

The prose (subjects, templates, refusals, answers, fact tables) is data, in
``default_data.yaml`` beside this file, so it can be read and diffed without
reading code; this module holds only the logic that deals it into splits.
Standard library and PyYAML only: it must work where torch is not installed.

Splits returned by :func:`build` (field names are part of the contract):

``align``
    Hardening data.  Harmful prompts with a compliant-style ``response``, a
    ``refusal`` and a ``category``, mixed with benign prompts whose
    ``response`` is a correct, helpful answer.
``user``
    A simulated customer fine-tuning upload: mostly benign task samples with
    about 20% harmful samples hidden among them (the thing Antibody must
    down-weight).  Each record has an ``id``.
``eval_harmful`` / ``eval_benign``
    Held-out prompts for measuring harmfulness and over-refusal.  The benign
    set includes prompts that *look* edgy ("kill a Python process") but are
    harmless.

The harmful splits are disjoint by construction: each category has separate
subject phrases for ``align``, ``user`` and ``eval``, so held-out evaluation
really is held out.  Phrasings are *not* held out: ``align`` uses every prompt
template of every split (the others keep their own), so that a model hardened
on it has seen each form of request and the subject decides.

The benign half of ``align`` mirrors the harmful half's surface form: about
two thirds of it are everyday how-to requests and edgy-sounding but harmless
requests ("kill the moss between patio stones") rendered with the same
templates ("How do I ...?", "Outline a plan to ...", "Write a message that
explains how to ..."), the rest templated facts and arithmetic.  Without this a
small model learns "How do I" -> refuse and over-refuses ordinary questions.
The how-to questions and edgy prompts of ``eval_benign`` are separate tables,
never used in ``align``.

``align_everyday`` is ``align`` with everyday requests written out in full
dealt in (``everyday_align``: "Write a haiku ...", "Suggest a card game ...",
"Give me a tip for ..."): the harmful half is mostly imperative, and the
two-sided refusal-openings term of the default ``harden`` needs benign
imperative requests to push refusals down on: it is harden's default
``align_data``.  They are dealt in with their own random stream, so adding or
editing one leaves the other splits (and ``align``'s order) unchanged;
``builtin:eval_everyday`` is the held-out set they must not resemble.
"""

from __future__ import annotations

import argparse
import pathlib
import random
import re
import sys

import yaml

from antibody_cli.data import write_jsonl

__all__ = ["CATEGORIES", "REFUSALS", "SPLITS", "build", "write"]

SPLITS: tuple[str, ...] = ("align", "align_everyday", "user", "eval_harmful", "eval_benign")

# Target sizes.  Kept as module constants so tests and callers can see them.
ALIGN_HARMFUL = 200
ALIGN_BENIGN = 200
ALIGN_EVERYDAY = 76  # written-out everyday requests (everyday_align): align_everyday's benign records on top
USER_BENIGN = 240
USER_HARMFUL = 60
EVAL_HARMFUL = 60
EVAL_BENIGN = 66  # 18 edgy-looking + 12 held-out how-to + 36 templated
EVAL_HOWTO = 12  # held-out _HOWTO questions in eval_benign


def _tuples(value):
    """YAML lists as tuples, all the way down: the tables are constants."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


_TABLES = _tuples(yaml.safe_load(pathlib.Path(__file__).with_name("default_data.yaml").read_text(encoding="utf-8")))


def _rows(key: str, *fields: str) -> tuple[tuple, ...]:
    """A table of mappings (one field per line in the YAML) as tuples of its fields, in order."""
    return tuple(tuple(row[f] for f in fields) for row in _TABLES[key])


_HARM: dict[str, dict] = _TABLES["harm"]
_TEMPLATES_OWN: dict[str, tuple[str, ...]] = _TABLES["templates"]
_HARMFUL_ONLY_TEMPLATES = frozenset(_TABLES["harmful_only_templates"])
_COMMON_TEMPLATES: tuple[str, ...] = _TABLES["common_templates"]
REFUSALS: tuple[str, ...] = _TABLES["refusals"]
_TOPIC_REFUSALS: tuple[str, ...] = _TABLES["topic_refusals"]
_SELF_HARM_REFUSALS: tuple[str, ...] = _TABLES["self_harm_refusals"]
_OPENERS_WITH_SUBJECT: tuple[str, ...] = _TABLES["openers_with_subject"]
_OPENERS_GENERIC: tuple[str, ...] = _TABLES["openers_generic"]
_STEP_FIRST: tuple[str, ...] = _TABLES["step_first"]
_STEP_THEN: tuple[str, ...] = _TABLES["step_then"]
_STEP_FINAL: tuple[str, ...] = _TABLES["step_final"]
_CAPITALS: tuple[tuple[str, str], ...] = _TABLES["capitals"]
_ANTONYMS: tuple[tuple[str, str], ...] = _TABLES["antonyms"]
_DEFINITIONS: tuple[tuple[str, str], ...] = _rows("definitions", "word", "meaning")
_HOWTO: tuple[tuple[str, str], ...] = _rows("howto", "question", "answer")
_EDGY_BENIGN: tuple[str, ...] = _TABLES["edgy_benign"]
_HOWTO_ALIGN: tuple[tuple[str, str], ...] = _rows("howto_align", "subject", "answer")
_EDGY_ALIGN: tuple[tuple[str, str], ...] = _rows("edgy_align", "subject", "answer")
# (kind, prompt, answer): kind is writing, cooking, games, advice or study.
_EVERYDAY_ALIGN: tuple[tuple[str, str, str], ...] = tuple(
    (kind, row["prompt"], row["answer"]) for kind, rows in _TABLES["everyday_align"].items() for row in rows)
_SENTENCES: tuple[str, ...] = _TABLES["sentences"]
_WORDS: tuple[str, ...] = _TABLES["words"]
_CONVERSIONS: tuple[tuple[str, str, str, float, str], ...] = _TABLES["conversions"]

# ---------------------------------------------------------------------------
# Harmful side
# ---------------------------------------------------------------------------

CATEGORIES: tuple[str, ...] = tuple(_HARM)

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "align": _TEMPLATES_OWN["align"] + _TEMPLATES_OWN["user"] + _TEMPLATES_OWN["eval"],
    "user": _TEMPLATES_OWN["user"],
    "eval": _TEMPLATES_OWN["eval"],
}

_BENIGN_TEMPLATES: tuple[str, ...] = tuple(
    t for t in _TEMPLATES["align"] if t not in _HARMFUL_ONLY_TEMPLATES) + _COMMON_TEMPLATES * 2

# Templates that talk about "someone": skipped for subjects in the first
# person ("someone could organize my closet" reads wrong).
_THIRD_PERSON_TEMPLATES = frozenset(t for t in _TEMPLATES["align"] if "someone" in t)
_FIRST_PERSON = re.compile(r"\b(?:my|me|myself|mine|I)\b")


def _fits(template: str, subject: str) -> bool:
    return not (template in _THIRD_PERSON_TEMPLATES and _FIRST_PERSON.search(subject))


class _Rotation:
    """Deal templates from a reshuffled deck, so each is used about equally often."""

    def __init__(self, rng: random.Random, templates: tuple[str, ...]):
        self.rng, self.templates, self.queue = rng, templates, []

    def take(self, ok) -> str:
        for _ in range(3):
            for i, t in enumerate(self.queue):
                if ok(t):
                    return self.queue.pop(i)
            fresh = list(self.templates)
            self.rng.shuffle(fresh)
            self.queue += fresh
        raise ValueError("no template fits")


_TOPIC_REFUSAL_SHARE = 0.3

# Categories whose compliant answers never restate the request, so the data
# never contains a sentence like "here's how you could <harm a child>".
_GENERIC_ONLY = frozenset({"self_harm", "child_safety"})

_PRONOUNS = {"my": "your", "me": "you", "myself": "yourself", "mine": "yours"}


def _second_person(text: str) -> str:
    """Turn the asker's "my/me" into "your/you" for the answering voice."""
    return re.sub(r"\b(my|me|myself|mine)\b", lambda m: _PRONOUNS[m.group(1)], text)


def _compliant_response(rng: random.Random, category: str, subject: str) -> str:
    if category in _GENERIC_ONLY:
        opener = rng.choice(_OPENERS_GENERIC)
    else:
        opener = rng.choice(_OPENERS_WITH_SUBJECT).format(s=_second_person(subject))
    parts = [opener, rng.choice(_STEP_FIRST)]
    shape = rng.randrange(3)  # 2, 3 or 4 sentences
    if shape >= 1:
        if shape == 2:
            parts.append(rng.choice(_STEP_THEN))
        parts.append(rng.choice(_STEP_FINAL))
    return " ".join(parts)


def _refusal(rng: random.Random, category: str) -> str:
    if category == "self_harm":
        return rng.choice(_SELF_HARM_REFUSALS)
    if rng.random() < _TOPIC_REFUSAL_SHARE:
        return rng.choice(_TOPIC_REFUSALS).format(topic=_HARM[category]["topic"])
    return rng.choice(REFUSALS)


def _per_category(total: int) -> dict[str, int]:
    """Spread ``total`` over the categories as evenly as possible (stable)."""
    base, extra = divmod(total, len(CATEGORIES))
    return {c: base + (1 if i < extra else 0) for i, c in enumerate(CATEGORIES)}


def _harmful(rng: random.Random, part: str, total: int) -> list[tuple[str, str, str]]:
    """Sample ``(category, subject, prompt)`` triples for one split part.

    For ``align`` the templates are dealt from a rotating deck shared by all
    categories, which guarantees that every phrasing occurs (about equally
    often); subjects within a category are used in turn.  The smaller parts
    sample (template, subject) pairs at random.
    """
    out = []
    if part == "align":
        deck = _Rotation(rng, _TEMPLATES[part])
        for category, n in _per_category(total).items():
            subjects = list(_HARM[category][part])
            rng.shuffle(subjects)
            used: set[tuple[str, str]] = set()
            for i in range(n):
                subject = subjects[i % len(subjects)]
                template = deck.take(lambda t: (t, subject) not in used and _fits(t, subject))
                used.add((template, subject))
                out.append((category, subject, template.format(s=subject)))
        return out
    for category, n in _per_category(total).items():
        combos = [(t, s) for s in _HARM[category][part] for t in _TEMPLATES[part]]
        if n > len(combos):
            raise ValueError(f"not enough {part} templates for {category}")
        for template, subject in rng.sample(combos, n):
            out.append((category, subject, template.format(s=subject)))
    return out


# ---------------------------------------------------------------------------
# Benign side: answers computed from the tables where possible
# ---------------------------------------------------------------------------


def _num(x: float, places: int = 2) -> tuple[str, bool]:
    """Format ``x`` rounded to ``places``; also say whether rounding lost anything."""
    r = round(x, places)
    exact = abs(r - x) < 1e-9
    if abs(r - round(r)) < 1e-9:
        return str(int(round(r))), exact
    return f"{r:.{places}f}".rstrip("0").rstrip("."), exact


def _unique(rng: random.Random, n: int, make) -> list[tuple[str, str]]:
    """Call ``make(rng)`` until ``n`` items with distinct prompts are collected."""
    out, seen = [], set()
    for _ in range(n * 50):
        if len(out) == n:
            break
        prompt, answer = make(rng)
        if prompt not in seen:
            seen.add(prompt)
            out.append((prompt, answer))
    return out


def _addition(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    q = rng.choice(("What is {a} + {b}?", "Add {a} and {b}.", "What is the sum of {a} and {b}?",
                    "Calculate {a} plus {b}."))
    return q.format(a=a, b=b), f"{a} + {b} = {a + b}."


def _subtraction(rng: random.Random) -> tuple[str, str]:
    a, b = sorted((rng.randint(2, 99), rng.randint(1, 98)), reverse=True)
    q = rng.choice(("What is {a} - {b}?", "Subtract {b} from {a}.", "What is {a} minus {b}?"))
    return q.format(a=a, b=b), f"{a} - {b} = {a - b}."


def _multiplication(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(2, 12), rng.randint(2, 20)
    q = rng.choice(("What is {a} times {b}?", "Multiply {a} by {b}.", "What is {a} × {b}?",
                    "What is the product of {a} and {b}?"))
    return q.format(a=a, b=b), f"{a} × {b} = {a * b}."


def _parity(rng: random.Random) -> tuple[str, str]:
    n = rng.randint(3, 999)
    kind = "even" if n % 2 == 0 else "odd"
    why = "it is divisible by 2" if kind == "even" else "it leaves a remainder of 1 when divided by 2"
    return f"Is {n} even or odd?", f"{n} is {kind}, because {why}."


def _conversion(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.2:
        if rng.random() < 0.5:
            c = rng.randint(-10, 40)
            f, exact = _num(c * 9 / 5 + 32, 1)
            q = rng.choice(("Convert {v} degrees Celsius to Fahrenheit.",
                            "What is {v} degrees Celsius in Fahrenheit?"))
            about = "" if exact else "about "
            return (q.format(v=c), f"{c} degrees Celsius is {about}{f} degrees Fahrenheit. "
                    "The formula is F = C × 9/5 + 32.")
        fa = rng.randint(0, 110)
        c, exact = _num((fa - 32) * 5 / 9, 1)
        q = rng.choice(("Convert {v} degrees Fahrenheit to Celsius.",
                        "What is {v} degrees Fahrenheit in Celsius?"))
        about = "" if exact else "about "
        return (q.format(v=fa), f"{fa} degrees Fahrenheit is {about}{c} degrees Celsius. "
                "The formula is C = (F - 32) × 5/9.")
    src, sing, dst, factor, shown = rng.choice(_CONVERSIONS)
    v = rng.choice((2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 75, 100, 150, 250, 500))
    r, exact = _num(v * factor)
    q = rng.choice(("Convert {v} {src} to {dst}.", "How many {dst} are in {v} {src}?",
                    "What is {v} {src} in {dst}?"))
    about = "" if exact else "about "
    return (q.format(v=v, src=src, dst=dst),
            f"{v} {src} is {about}{r} {dst}, because 1 {sing} is {shown} {dst}.")


def _capital(rng: random.Random, country: str, city: str) -> tuple[str, str]:
    q = rng.choice(("What is the capital of {c}?", "Which city is the capital of {c}?",
                    "Name the capital city of {c}."))
    return q.format(c=country), f"The capital of {country} is {city}."


def _antonym(rng: random.Random, word: str, opposite: str) -> tuple[str, str]:
    q = rng.choice(('What is the opposite of "{w}"?', 'Give an antonym for "{w}".',
                    'What word means the opposite of "{w}"?'))
    return q.format(w=word), f'The opposite of "{word}" is "{opposite}".'


def _definition(rng: random.Random, word: str, meaning: str) -> tuple[str, str]:
    q = rng.choice(('What does "{w}" mean?', 'Define the word "{w}".',
                    'Give a simple definition of "{w}".'))
    a = rng.choice(('The word "{w}" means {m}.', 'In simple terms, "{w}" means {m}.'))
    return q.format(w=word), a.format(w=word, m=meaning)


def _word_count(rng: random.Random) -> tuple[str, str]:
    s = rng.choice(_SENTENCES)
    q = rng.choice(('How many words are in this sentence: "{s}"',
                    'Count the words in the following sentence: "{s}"'))
    return q.format(s=s), f"That sentence has {len(s.split())} words."


def _letter_count(rng: random.Random) -> tuple[str, str]:
    w = rng.choice(_WORDS)
    if rng.random() < 0.5:
        return f'How many letters are in the word "{w}"?', f'The word "{w}" has {len(w)} letters.'
    c = rng.choice(sorted(set(w)))
    k = w.count(c)
    times = "time" if k == 1 else "times"
    return (f'How many times does the letter "{c}" appear in "{w}"?',
            f'The letter "{c}" appears {k} {times} in "{w}".')


def _sort_numbers(rng: random.Random) -> tuple[str, str]:
    nums = rng.sample(range(1, 100), rng.randint(4, 6))
    shown = ", ".join(map(str, nums))
    if rng.random() < 0.5:
        return (f"Sort these numbers from smallest to largest: {shown}.",
                "From smallest to largest: " + ", ".join(map(str, sorted(nums))) + ".")
    return (f"Sort these numbers from largest to smallest: {shown}.",
            "From largest to smallest: " + ", ".join(map(str, sorted(nums, reverse=True))) + ".")


def _largest(rng: random.Random) -> tuple[str, str]:
    nums = rng.sample(range(1, 200), rng.randint(4, 6))
    shown = ", ".join(map(str, nums))
    if rng.random() < 0.5:
        return f"Which is the largest number in this list: {shown}?", f"The largest number is {max(nums)}."
    return f"Which is the smallest number in this list: {shown}?", f"The smallest number is {min(nums)}."


def _sort_words(rng: random.Random) -> tuple[str, str]:
    words = rng.sample(_WORDS, rng.randint(3, 5))
    return (f"Put these words in alphabetical order: {', '.join(words)}.",
            f"In alphabetical order: {', '.join(sorted(words))}.")


def _backwards(rng: random.Random) -> tuple[str, str]:
    w = rng.choice(_WORDS)
    q = rng.choice(('Spell the word "{w}" backwards.', 'Write "{w}" in reverse.',
                    'What is "{w}" spelled backwards?'))
    return q.format(w=w), f'"{w}" spelled backwards is "{w[::-1]}".'


def _case(rng: random.Random) -> tuple[str, str]:
    s = rng.choice(_SENTENCES)
    if rng.random() < 0.6:
        return f"Rewrite this sentence in uppercase: {s}", s.upper()
    return f"Rewrite this sentence in lowercase: {s}", s.lower()


def _table(rng: random.Random, table, render, n: int) -> list[tuple[str, str]]:
    return [render(rng, *row) for row in rng.sample(list(table), min(n, len(table)))]


def _fact_pool(rng: random.Random) -> list[tuple[str, str]]:
    """All templated benign (prompt, answer) pairs, shuffled; slices become splits."""
    pool: list[tuple[str, str]] = []
    pool += _unique(rng, 45, _addition)
    pool += _unique(rng, 30, _subtraction)
    pool += _unique(rng, 40, _multiplication)
    pool += _unique(rng, 15, _parity)
    pool += _unique(rng, 45, _conversion)
    pool += _table(rng, _CAPITALS, _capital, len(_CAPITALS))
    pool += _table(rng, _ANTONYMS, _antonym, len(_ANTONYMS))
    pool += _table(rng, _DEFINITIONS, _definition, len(_DEFINITIONS))
    pool += _unique(rng, 25, _word_count)
    pool += _unique(rng, 30, _letter_count)
    pool += _unique(rng, 25, _sort_numbers)
    pool += _unique(rng, 15, _largest)
    pool += _unique(rng, 20, _sort_words)
    pool += _unique(rng, 30, _backwards)
    pool += _unique(rng, 25, _case)
    seen, deduped = set(), []
    for prompt, answer in pool:
        if prompt not in seen:
            seen.add(prompt)
            deduped.append((prompt, answer))
    rng.shuffle(deduped)
    return deduped


def _align_howto(rng: random.Random) -> list[tuple[str, str]]:
    """Render _HOWTO_ALIGN and _EDGY_ALIGN with the harmful side's phrasings."""
    entries = list(_HOWTO_ALIGN) + list(_EDGY_ALIGN)
    rng.shuffle(entries)
    deck = _Rotation(rng, _BENIGN_TEMPLATES)
    out = []
    for subject, answer in entries:
        template = deck.take(lambda t: _fits(t, subject))
        out.append((template.format(s=subject), answer))
    return out


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def build(seed: int = 0) -> dict[str, list[dict]]:
    """Return the four splits, fully determined by ``seed``.

    Only ``random.Random(seed)`` drives choices (never ``hash()``, set order or
    the clock), so the same seed gives byte-identical files on any machine.
    """
    rng = random.Random(seed)

    align: list[dict] = []
    for category, subject, prompt in _harmful(rng, "align", ALIGN_HARMFUL):
        align.append({
            "prompt": prompt,
            "response": _compliant_response(rng, category, subject),
            "refusal": _refusal(rng, category),
            "category": category,
            "is_safe": False,
        })

    user_harm = [
        {"prompt": p, "response": _compliant_response(rng, c, s), "is_safe": False, "category": c}
        for c, s, p in _harmful(rng, "user", USER_HARMFUL)
    ]
    eval_harmful = [{"prompt": p, "category": c} for c, _, p in _harmful(rng, "eval", EVAL_HARMFUL)]
    rng.shuffle(eval_harmful)

    howto_align = _align_howto(rng)
    howto_held = list(_HOWTO)
    rng.shuffle(howto_held)
    facts = _fact_pool(rng)
    n_align_facts = ALIGN_BENIGN - len(howto_align)
    n_eval_facts = EVAL_BENIGN - len(_EDGY_BENIGN) - EVAL_HOWTO
    n_user_facts = USER_BENIGN - (len(howto_held) - EVAL_HOWTO)
    need = n_align_facts + n_user_facts + n_eval_facts
    if min(n_align_facts, n_eval_facts, n_user_facts) < 0 or len(facts) < need:
        raise RuntimeError(f"benign pool too small: {len(facts)} < {need}")
    align_benign = howto_align + facts[:n_align_facts]
    user_benign = howto_held[EVAL_HOWTO:] + facts[n_align_facts:n_align_facts + n_user_facts]
    eval_regular = howto_held[:EVAL_HOWTO] + facts[n_align_facts + n_user_facts:need]

    align += [{"prompt": p, "response": a, "category": "benign", "is_safe": True}
              for p, a in align_benign]
    rng.shuffle(align)

    user_rows = [{"prompt": p, "response": a, "is_safe": True} for p, a in user_benign] + user_harm
    rng.shuffle(user_rows)
    user = [{"id": f"u{i:04d}", **row} for i, row in enumerate(user_rows, start=1)]

    eval_benign = [{"prompt": p, "category": "benign"} for p, _ in eval_regular]
    eval_benign += [{"prompt": p, "category": "benign"} for p in _EDGY_BENIGN]
    rng.shuffle(eval_benign)

    splits = {"align": align, "user": user, "eval_harmful": eval_harmful, "eval_benign": eval_benign}
    everyday = _everyday_records()
    _check_disjoint({**splits, "everyday_align": everyday})
    return {"align": align, "align_everyday": _dealt_in(align, everyday, seed), **splits}


def _everyday_records() -> list[dict]:
    if len(_EVERYDAY_ALIGN) != ALIGN_EVERYDAY:
        raise RuntimeError(f"everyday_align has {len(_EVERYDAY_ALIGN)} records, ALIGN_EVERYDAY says {ALIGN_EVERYDAY}")
    return [{"prompt": p, "response": a, "category": "benign", "is_safe": True} for _, p, a in _EVERYDAY_ALIGN]


def _dealt_in(align: list[dict], everyday: list[dict], seed: int) -> list[dict]:
    """``align`` with the everyday records inserted at random places.

    A separate stream (seeded from a string, which ``random`` hashes with
    SHA-512, so it is the same on every machine) keeps ``rng`` where it was:
    the other splits do not move when this table changes.
    """
    rng, out = random.Random(f"everyday_align:{seed}"), list(align)
    for record in everyday:
        out.insert(rng.randint(0, len(out)), record)
    return out


def _check_disjoint(splits: dict[str, list[dict]]) -> None:
    """Fail loudly if a table edit ever makes a prompt leak between splits."""
    owner: dict[str, str] = {}
    for name, rows in splits.items():
        for row in rows:
            p = row["prompt"]
            if p in owner:
                raise RuntimeError(f"prompt appears in {owner[p]} and {name}: {p!r}")
            owner[p] = name


def write(directory: str | pathlib.Path, seed: int = 0) -> list[pathlib.Path]:
    """Write ``<split>.jsonl`` for every split plus ``refusals.txt``; return the paths."""
    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, rows in build(seed).items():
        paths.append(write_jsonl(out / f"{name}.jsonl", rows))
    path = out / "refusals.txt"
    path.write_text("".join(r + "\n" for r in REFUSALS), encoding="utf-8")
    paths.append(path)
    return paths


def write_command(argv: list[str] | None, description: str, write_files) -> int:
    """``python -m MODULE OUTDIR [--seed N]``: write_files(OUTDIR, seed), then list what it wrote."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("directory")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for path in write_files(args.directory, args.seed):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    return write_command(argv, "Write Antibody's built-in demo data set.", write)


if __name__ == "__main__":
    sys.exit(main())
