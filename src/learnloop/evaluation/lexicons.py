"""Word lists the grader ships, derived from WordNet 3.0 (Debian's `wordnet-base` package).

`learnloop train-grader --lexicons` writes them into `learnloop/grading/`:
- `verbs.txt`: every one-word verb lemma and its irregular forms, so the screening can tell a
  statement ("CI runs the tests") from a list of terms ("CI, tests, scans");
- `antonyms.txt`: one-word antonym pairs of adjectives and adverbs, plus a few verbs and
  quantifiers that flip a claim (increase/decrease, allow/deny, more/fewer).

WordNet 3.0 licence: "Permission to use, copy, modify and distribute this software and
database and its documentation for any purpose and without fee or royalty is hereby granted"
(Princeton University); the notice is repeated at the top of each file.
"""

from __future__ import annotations

import re
from pathlib import Path

WORDNET_DIR = Path("/usr/share/wordnet")
NOTICE = (
    "# Derived from WordNet 3.0, Copyright 2006 by Princeton University. Permission to use,\n"
    "# copy, modify and distribute this database for any purpose and without fee or royalty\n"
    "# is granted (https://wordnet.princeton.edu/license-and-commercial-use).\n"
    "# Written by `learnloop train-grader --lexicons`; do not edit by hand.\n"
)
# Pairs WordNet files under verbs or determiners, or leaves out, that flip a claim.
EXTRA_ANTONYMS = """
increase:decrease gain:lose add:remove allow:deny allow:block accept:reject include:exclude
enable:disable start:stop open:close connect:disconnect before:after more:less more:fewer
always:never everything:nothing all:none encrypt:decrypt grow:shrink expose:hide
"""
_WORD = re.compile(r"^[a-z]+$")


def verb_forms(wordnet: Path = WORDNET_DIR) -> list[str]:
    forms: set[str] = set()
    for line in (wordnet / "index.verb").read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        lemma = line.split(" ", 1)[0]
        if _WORD.match(lemma):
            forms.add(lemma)
    for line in (wordnet / "verb.exc").read_text(encoding="latin-1").splitlines():
        parts = line.split()
        if len(parts) >= 2 and _WORD.match(parts[0]) and parts[1] in forms:
            forms.add(parts[0])
    return sorted(forms)


def antonym_pairs(wordnet: Path = WORDNET_DIR) -> list[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for pos in ("adj", "adv"):
        synsets: dict[str, tuple[list[str], list[tuple[str, str, str]]]] = {}
        for line in (wordnet / f"data.{pos}").read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            fields = line.split(" | ")[0].split()
            count = int(fields[3], 16)
            words = [re.sub(r"\(.*\)", "", fields[4 + 2 * i]).lower() for i in range(count)]
            at = 4 + 2 * count
            pointers = [
                (fields[at + 1 + 4 * k], fields[at + 2 + 4 * k], fields[at + 4 + 4 * k])
                for k in range(int(fields[at]))
            ]
            synsets[fields[0]] = (words, pointers)
        for words, pointers in synsets.values():
            for symbol, target, source_target in pointers:
                if symbol != "!" or target not in synsets:
                    continue
                first = words[int(source_target[:2], 16) - 1]
                second = synsets[target][0][int(source_target[2:], 16) - 1]
                if _WORD.match(first) and _WORD.match(second):
                    pairs.add((min(first, second), max(first, second)))
    for pair in EXTRA_ANTONYMS.split():
        first, second = pair.split(":")
        pairs.add((min(first, second), max(first, second)))
    return sorted(pairs)


def write_lexicons(target: Path, wordnet: Path = WORDNET_DIR) -> list[Path]:
    if not (wordnet / "index.verb").is_file():
        raise FileNotFoundError(f"WordNet not found in {wordnet}: apt-get install wordnet-base")
    verbs = target / "verbs.txt"
    verbs.write_text(NOTICE + "\n".join(verb_forms(wordnet)) + "\n")
    antonyms = target / "antonyms.txt"
    antonyms.write_text(NOTICE + "\n".join(f"{a}:{b}" for a, b in antonym_pairs(wordnet)) + "\n")
    return [verbs, antonyms]
