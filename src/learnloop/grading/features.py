"""Text features shared by the serving grader and the benchmark (`evaluate.py`).

Keeping them in one module means the figures in `bench/grader.md` measure the same machinery that
grades learners: sentence splitting, content-word overlap, negation and antonym cues, and the
filter that keeps instruction-like text out of grading.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

# Small, fixed stop list: words that carry no subject matter. Negations are deliberately absent,
# because they decide meaning ("is connected" vs "is not connected").
_STOP_TEXT = """
a an the is isn and or but if then than so as of at by for from in into on onto to with within
about above after again against all am any are be been being both can could did do does
doing down during each few further had has have having he her here hers him his how i
it its itself just me more most my myself once only other our ours out over own same she
should some such that their theirs them themselves there these they this those through
too under until up very was we were what when where which while who whom why will would
you your yours also because since thus therefore however e g eg ie etc one two
"""
STOPWORDS = frozenset(_STOP_TEXT.split())
_NEGATION_TEXT = "not no never none nothing nobody neither nor cannot cant without nt"
NEGATIONS = frozenset(_NEGATION_TEXT.split())
# Pairs of words that flip the meaning of otherwise similar sentences (matched after stemming,
# so "increased" meets "decreasing"). "never"/"none" are here and among the negations on purpose.
_ANTONYM_TEXT = """
increase:decrease more:less more:fewer larger:smaller bigger:smaller higher:lower open:closed
connected:separated connected:disconnected series:parallel same:different positive:negative
on:off true:false mutable:immutable before:after faster:slower shared:own complete:incomplete
light:dark gain:lose add:remove inside:outside always:never all:none static:dynamic
fixed:variable stateless:stateful root:nonroot allow:deny allow:block emulates:shares
virtualises:shares virtualizes:shares changed:unchanged modified:immutable patched:immutable
"""
ANTONYMS: dict[str, frozenset[str]] = {}


def _add_antonyms() -> None:
    for pair in _ANTONYM_TEXT.split():
        first, second = (stem(w) for w in pair.split(":"))
        ANTONYMS[first] = ANTONYMS.get(first, frozenset()) | {second}
        ANTONYMS[second] = ANTONYMS.get(second, frozenset()) | {first}


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Put after a sentence-end lookbehind: a "." standing alone is a path, not a sentence end
# ("COPY . /app", "docker build . -t api"). Screening cuts sentences with it too.
NOT_A_LONE_DOT = r"(?<!\s\.)(?<!^\.)"
_SENTENCE_END = re.compile(
    rf"(?<=[.!?;]){NOT_A_LONE_DOT}\s+|\n\s*\n|\n\s*(?=[-*•]|\d+[.)]\s)|\s+(?=\d+[.)]\s)"
)
_INVISIBLE = dict.fromkeys(
    [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E]
)


def normalise(text: str) -> str:
    """NFKC, no zero-width or bidi controls: what the learner sees is what gets graded."""
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE)


def split_sentences(text: str) -> list[str]:
    """Sentences and list items of an answer, trimmed; empty pieces dropped."""
    pieces = _SENTENCE_END.split(normalise(text).strip())
    out = []
    for piece in pieces:
        cleaned = " ".join(piece.split()).lstrip("-*• ").strip()
        # A bare list marker ("2.") split off its item is not a sentence.
        if any(ch.isalpha() for ch in cleaned):
            out.append(cleaned)
    return out


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude suffix stripper; it only has to map inflections of one word to one key."""
    word = word.replace("'", "")
    if word.endswith("n't") or (word.endswith("nt") and word in {"dont", "doesnt", "isnt", "cant"}):
        return "nt"
    for suffix in (
        "ations",
        "ation",
        "ions",
        "ion",
        "ings",
        "ing",
        "edly",
        "ed",
        "ies",
        "es",
        "s",
        "ly",
        "e",
    ):
        if len(word) - len(suffix) >= 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    # A consonant doubled before -ing or -ed is one word with its plain form: "rescanning"
    # and "rescans", "setting" and "sets". Undone everywhere, so "added" and "adds" still meet.
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouylsz":
        word = word[:-1]
    return word


_add_antonyms()


# Contractions written without the apostrophe, as learners type them: "doesnt" is "does nt".
_BARE_NEGATED = re.compile(
    r"^(is|are|was|were|do|does|did|has|have|had|ca|wo|would|should|could|must|need|ai)nt$"
)


def words(text: str) -> list[str]:
    tokens = _WORD.findall(normalise(text).lower().replace("\u2019", "'"))
    out = []
    for token in tokens:
        if token.endswith("n't"):
            out.extend([token[:-3], "nt"])
        elif _BARE_NEGATED.match(token):
            out.extend([token[:-2], "nt"])
        else:
            out.append(token)
    return out


@dataclass(frozen=True)
class Lexical:
    """The lexical view of one text, computed once and reused for every comparison."""

    content: frozenset[str]  # stems of non-stop, non-negation words
    negations: int
    n_words: int

    @classmethod
    def of(cls, text: str) -> Lexical:
        tokens = words(text)
        negations = sum(1 for t in tokens if t in NEGATIONS or t.endswith("n't"))
        stems = [(t, stem(t)) for t in tokens if t not in NEGATIONS]
        # Stop words carry no subject matter, except those with an opposite ("more"/"less").
        content = frozenset(
            s for t, s in stems if (t not in STOPWORDS and len(t) > 1) or s in ANTONYMS
        )
        return cls(content, negations, len(tokens))


def overlap(answer: Lexical, reference: Lexical) -> tuple[float, float, float]:
    """(precision, recall, F1) of the answer's content words against the reference's."""
    if not answer.content or not reference.content:
        return 0.0, 0.0, 0.0
    common = len(answer.content & reference.content)
    precision = common / len(answer.content)
    recall = common / len(reference.content)
    f1 = 0.0 if common == 0 else 2 * precision * recall / (precision + recall)
    return precision, recall, f1


def antonym_conflicts(answer: Lexical, reference: Lexical) -> int:
    """Words in the answer whose opposite is in the reference (and not also in the answer)."""
    count = 0
    for word in answer.content - reference.content:
        opposites = ANTONYMS.get(word)
        if opposites and (opposites & reference.content) and not (opposites & answer.content):
            count += 1
    return count


def negation_mismatch(answer: Lexical, reference: Lexical) -> float:
    """1 when exactly one side is negated (odd vs even count), the classic contradiction cue."""
    return float((answer.negations % 2) != (reference.negations % 2))


# Negations that deny the words after them ("is not connected", "never changed", "no longer
# restarts"). Determiners such as "no" or "without" mostly state an absence ("no shell", "no
# differences") that agrees with a rubric point rather than contradicting it, so they are
# left out here, except in "no longer".
VERBAL_NEGATIONS = frozenset({"not", "nt", "never", "cannot", "cant", "longer"})
# A negation denies the first content word after it ("does not reduce the attack surface"
# denies reducing, not the surface; "don't change the image" agrees with "images are never
# changed"), skipping light verbs and adverbs that carry no claim ("doesnt get killed").
_LIGHT = frozenset(
    [
        "get",
        "gets",
        "got",
        "getting",
        "really",
        "actually",
        "even",
        "always",
        "necessarily",
        "just",
        "ever",
        "quite",
        "make",
        "makes",
        "need",
        "needs",
        "go",
        "goes",
        # "shouldnt use localhost" denies localhost, not the act of using something
        "use",
        "uses",
        "used",
        "using",
    ]
)
# A negation's scope ends with its clause.
CLAUSE_BREAK = re.compile(
    r"[,;:()\u2013\u2014]|\s-\s|\b(but|because|while|whereas|although|though|so|and then|"
    r"which|that|since|unless|however|instead|when|whenever|if|where|until)\b",
    re.IGNORECASE,
)


def _clause_negations(tokens: list[str]) -> list[int]:
    """Positions of the verbal negations in one clause; "no longer" counts once, and an even
    number of negations in a clause ("not un-", "never fails to not") cancels out."""
    out = []
    for i, token in enumerate(tokens):
        if token == "longer" and (i == 0 or tokens[i - 1] != "no"):  # noqa: S105 - a word
            continue
        if token in VERBAL_NEGATIONS:
            out.append(i)
    return out


# "use db:5432 instead of localhost" rejects localhost just as "not localhost" does: the
# alternative after these phrases is denied, in a clause of its own.
REJECTED_ALTERNATIVE = re.compile(r"\b(?:instead of|rather than|in place of)\b", re.IGNORECASE)


# A clause about what would happen ("putting the database in liveness would restart every
# replica", "localhost would point at the API itself") states no fact either way.
_MODAL = re.compile(r"\b(?:would|could|might)\b", re.IGNORECASE)


@lru_cache(maxsize=4096)
def polarity(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(asserted stems, denied stems) of a text; a denial denies the first content word after
    it and leaves the rest of its clause unasserted, never reaching past the clause's end, and
    two denials in one clause cancel. A stem asserted in one
    clause and denied in another ("the Deployment controller doesnt create Pods, it creates a
    ReplicaSet") is neither, and a hypothetical clause counts for nothing."""
    asserted: set[str] = set()
    denied: set[str] = set()
    text = REJECTED_ALTERNATIVE.sub(", not", normalise(text))
    for clause in CLAUSE_BREAK.split(text):
        if not clause or not clause.strip() or CLAUSE_BREAK.fullmatch(clause.strip()):
            continue
        if _MODAL.search(clause):
            continue
        tokens = words(clause)
        negations = _clause_negations(tokens)
        content = [
            (i, stem(t))
            for i, t in enumerate(tokens)
            if t not in STOPWORDS and t not in NEGATIONS and t != "longer"
        ]
        if negations and len(negations) % 2 == 1:
            first = negations[0]
            after = [s for i, s in content if i > first and tokens[i] not in _LIGHT][:1]
            denied.update(after)
            # The rest of a denied clause is in the denial's reach, so it is not asserted
            # either: "dont get the container killed" says nothing is killed.
            asserted.update(s for i, s in content if i <= first)
        else:
            asserted.update(s for _, s in content)
    return frozenset(asserted - denied), frozenset(denied - asserted)


@lru_cache(maxsize=4096)
def absent(text: str) -> frozenset[str]:
    """Stems a text says are absent ("without a restart", "no shell"): neither asserted nor
    denied by `polarity`, so "doesnt restart" is no denial of "removes it without a restart"."""
    tokens = words(text)
    out: set[str] = set()
    for i, token in enumerate(tokens):
        if token in ("without", "no"):
            after = [t for t in tokens[i + 1 : i + 4] if t not in STOPWORDS and t not in _LIGHT]
            out.update(stem(t) for t in after[:1])
    return frozenset(out)


def contradiction_cue(answer: str, reference: str) -> bool:
    """One text denies a word the other asserts, or uses a word's opposite."""
    a_pos, a_neg = polarity(answer)
    r_pos, r_neg = polarity(reference)
    either_absent = absent(answer) | absent(reference)
    if ((a_neg & r_pos) | (r_neg & a_pos)) - either_absent:
        return True
    return antonym_conflicts(Lexical.of(answer), Lexical.of(reference)) > 0


# A learner who says what a point recommends is not needed ("you dont need a controller",
# "I wouldnt bother with digests", "the USER line doesnt matter", "backups are optional")
# denies the point as surely as "not" does, though the negation falls on "need", not on it.
_NEEDLESS_VERBS = frozenset({"need", "needs", "require", "requires", "bother", "worry"})
_NEEDLESS_ADJECTIVES = frozenset(
    {"unnecessary", "optional", "pointless", "overkill", "irrelevant", "redundant", "useless"}
)
# "trace ids are not needed in logs": the passive names what it dismisses before the verb.
_NEEDED = frozenset({"needed", "required", "necessary", "essential", "mandatory"})
# Words between "dont need" and what is dismissed that carry no claim of their own.
_DISMISSAL_FILLER = frozenset(
    {"install", "add", "use", "run", "set", "really", "separate", "extra", "bother", "worry"}
)
_DENIERS = frozenset({"nt", "not", "never", "no"})
# Words before a verb that make it advice to the reader: "you can just skip", "I'd skip".
_ADVISING = frozenset(
    {"just", "simply", "can", "could", "should", "would", "to", "id", "i'd", "we'd", "then"}
)
# A first-person subject before "skip(ped)": a design the learner chose, as in a review.
_DECIDING = frozenset({"we", "i"})


def _claim_stems(tokens: list[str]) -> list[str]:
    return [
        stem(t)
        for t in tokens
        if t not in STOPWORDS and t not in NEGATIONS and t not in _DISMISSAL_FILLER and len(t) > 1
    ]


@lru_cache(maxsize=4096)
def dismissed(text: str) -> frozenset[str]:
    """Stems of what a text says is not needed, within one clause: the first two content words
    after "dont need" / "no need for" / "no reason to", or the last two before "doesnt matter" /
    "is optional" / "are not needed"."""
    out: set[str] = set()
    for clause in CLAUSE_BREAK.split(normalise(text)):
        if not clause or not clause.strip() or CLAUSE_BREAK.fullmatch(clause.strip()):
            continue
        tokens = words(clause)
        for i, token in enumerate(tokens):
            denied = any(t in _DENIERS for t in tokens[max(0, i - 3) : i])
            if (token in _NEEDLESS_VERBS or token == "reason") and denied:  # noqa: S105
                out.update(_claim_stems(tokens[i + 1 : i + 7])[:2])
            elif (
                token in ("skip", "skipped")
                and not denied
                and (i == 0 or tokens[i - 1] in _ADVISING or tokens[i - 1] in _DECIDING)
            ):
                # "Skip the startup probe", "you can just skip it": advice dismisses, and so does
                # the learner's own decision, "we skipped NetworkPolicies". "Containers skip the
                # guest kernel" and "liveness is skipped until ..." describe.
                out.update(_claim_stems(tokens[i + 1 : i + 7])[:2])
            elif token in ("matter", "matters") and denied and tokens[i - 1 : i] != ["no"]:
                # "no matter when it pulls" is an idiom, not "X doesnt matter".
                out.update(_claim_stems(tokens[: max(0, i - 3)])[-2:])
            elif token in _NEEDLESS_ADJECTIVES or (token in _NEEDED and denied):
                out.update(_claim_stems(tokens[:i])[-2:])
    return frozenset(out)


# Words that make a point's clause about leaving something out ("leave out shells", "not as
# root", "fewer packages"): saying that thing is not needed agrees with such a point. A "non-"
# prefix rules out only its own word (`_without_prefixed`), not the clause.
_PRIVATIVE = NEGATIONS | frozenset(
    {"out", "remove", "removes", "drop", "drops", "avoid", "avoids", "exclude", "omit"}
    | {"fewer", "less", "strip", "strips", "instead", "rather", "only"}
)


# A clause that warns what would happen ("the database in liveness would restart every
# replica") asks for nothing: "the pods dont need to be restarted" agrees with it.
_HYPOTHETICAL = frozenset({"would", "could", "might"})


# "Keep files like .git and .env out of the build context" leaves out the few words before
# "out", and still asks for the .dockerignore that starts the clause. A clause with any other
# privative word ("not a fixed IP", "liveness does not kill it") asks for none of its words.
_OUT_REACHES_BACK = 3
# Verbs whose object can run on through a comma list ("never-reused tag, such as a version"
# and "non-root and restricted settings, NetworkPolicies" are not lists of what is left out).
_LEAVE_OUT = frozenset(
    {"out", "remove", "removes", "drop", "drops", "exclude", "excludes", "omit", "omits"}
    | {"strip", "strips", "avoid", "avoids"}
)


def _clauses_with_breaks(text: str) -> list[tuple[str, str]]:
    """(clause, the break before it) for each clause of a normalised text."""
    out, start, before = [], 0, ""
    for match in CLAUSE_BREAK.finditer(text):
        out.append((text[start : match.start()], before))
        start, before = match.end(), match.group(0)
    out.append((text[start:], before))
    return out


def _without_prefixed(tokens: list[str]) -> list[str]:
    """The tokens without a "non-" prefix and the word it negates: "a non-root user" asks for a
    user, and only the root it rules out is left aside, not the whole clause."""
    negated = {i + 1 for i, t in enumerate(tokens) if t == "non"}
    return [t for i, t in enumerate(tokens) if t != "non" and i not in negated]


@lru_cache(maxsize=4096)
def recommended(point: str) -> frozenset[str]:
    """Stems a point asks for: not in a clause that warns of what would happen, nor in what a
    clause speaks of leaving out. What is left out runs on through a comma list: "leave out
    shells, package managers and unused libraries" does not ask for package managers."""
    out: set[str] = set()
    leaving_out = False
    for clause, before in _clauses_with_breaks(normalise(point)):
        tokens = _without_prefixed(words(clause))
        leaving_out = leaving_out and before == ","
        if not tokens:
            continue
        privative = [i for i, t in enumerate(tokens) if t in _PRIVATIVE]
        if _LEAVE_OUT.intersection(tokens):
            leaving_out = True
        if _HYPOTHETICAL.intersection(tokens):
            continue
        if not privative and not leaving_out:
            out.update(_claim_stems(tokens))
        elif privative and all(tokens[i] == "out" for i in privative):
            out.update(_claim_stems(tokens[: max(0, privative[0] - _OUT_REACHES_BACK)]))
    return frozenset(out)


def dismissal_cue(answer: str, point: str) -> bool:
    """The answer says something the point asks for is not needed."""
    return bool(dismissed(answer) & recommended(point))


# A point that draws a difference ("isolation weaker than a VM's", "smaller and faster") is
# denied by an answer that says there is none: "containers are just as isolated as VMs", "the
# same security as a VM". "Not as isolated as a VM" agrees, so a negated clause is skipped.
_COMPARATIVES = frozenset(
    [
        "weaker",
        "stronger",
        "smaller",
        "larger",
        "bigger",
        "fewer",
        "less",
        "more",
        "faster",
        "slower",
        "safer",
        "lighter",
        "heavier",
        "thinner",
        "cheaper",
        "better",
        "worse",
        "higher",
        "lower",
    ]
)
_EQUALITY = re.compile(
    r"\b(?:as\s+(?P<quality>[a-z]+)\s+as|(?:the\s+)?same\s+(?P<noun>[a-z]+\s+)?as|"
    r"no\s+different\s+(?:from|than))\s+(?:an?\s+|the\s+)?(?P<other>[a-z]+)",
    re.IGNORECASE,
)
# Qualities a difference in a point is usually about, when the learner names another word for it.
_QUALITIES = frozenset(
    ["secure", "safe", "isolated", "strong", "good", "fast", "small", "big", "light"]
)


def _related(word: str, stems: frozenset[str]) -> bool:
    key = stem(word.lower())
    return any(key[:4] == s[:4] for s in stems if len(s) >= 4) or word.lower() in _QUALITIES


def equates_difference(answer: str, point: str) -> bool:
    """The answer says two things are alike where the point says they differ."""
    if not _COMPARATIVES.intersection(words(point)):
        return False
    point_stems = Lexical.of(point).content
    for clause in CLAUSE_BREAK.split(normalise(answer)):
        if not clause or not clause.strip():
            continue
        for match in _EQUALITY.finditer(clause):
            before = words(clause[: match.start()])[-4:]
            if _DENIERS.intersection(before):
                continue
            other = stem(match.group("other").lower())
            # "VM" meets "VM's" (stemmed "vms"): a trailing letter aside, the same word.
            named = any(
                s == other or (s.startswith(other) and len(s) == len(other) + 1)
                for s in point_stems
            )
            quality = match.group("quality") or (match.group("noun") or "").strip()
            if named and (not quality or _related(quality, point_stems)):
                return True
    return False


def flat_denial(answer: str, point: str) -> bool:
    """A denial the cross-encoder need not confirm: the answer dismisses what the point asks
    for, or says there is no difference where the point draws one."""
    return dismissal_cue(answer, point) or equates_difference(answer, point)


def denies(answer: str, point: str) -> bool:
    """Any denial the text shows by itself, without a model: a negated or opposite word, a
    dismissal, or a difference denied. The LLM engine's evidence check uses it."""
    return contradiction_cue(answer, point) or flat_denial(answer, point)


# A setting given a value: "maxUnavailable: 0", "maxSurge at 1", "a surge of at least 1". The
# value must end there: "1.6.0" is a version, not the value 1.
_SETTING_VALUE = re.compile(
    r"\b([A-Za-z][\w.-]*[A-Za-z])\s*(?::|=|\bto\b|\bof\b|\bis\b|\bat\b)?\s*"
    r"(?:at\s+(least|most)\s+)?(\d+|zero|one)(?!\w|\.\d)",
    re.IGNORECASE,
)
_NUMBER_WORDS = {"zero": "0", "one": "1"}
ValueStance = Literal["agrees", "differs", "unvalued"]


@dataclass(frozen=True)
class SettingValue:
    name: str  # as written
    value: int
    bound: str | None = None  # "least" or "most": the point allows a range

    def allows(self, value: int) -> bool:
        if self.bound == "least":
            return value >= self.value
        if self.bound == "most":
            return value <= self.value
        return value == self.value


def _setting_values(text: str) -> list[SettingValue]:
    """Each setting the text gives a value."""
    out = []
    for match in _SETTING_VALUE.finditer(text):
        name, bound, value = match.group(1), match.group(2), match.group(3).lower()
        if name.lower() not in STOPWORDS and len(name) > 2:
            number = int(_NUMBER_WORDS.get(value, value))
            out.append(SettingValue(name, number, bound.lower() if bound else None))
    return out


def _configuration_key(name: str) -> bool:
    """A name as a configuration file spells it: camelCase, snake_case or dotted."""
    return bool(re.search(r"[a-z][A-Z]", name)) or "_" in name or "." in name


def _same_setting(a: str, b: str) -> bool:
    # "surge" in a sentence names the same setting as "maxSurge" in a manifest.
    a, b = a.lower(), b.lower()
    return a == b or (min(len(a), len(b)) >= 5 and (a.endswith(b) or b.endswith(a)))


def value_stance(point: str, claims: Sequence[str]) -> tuple[ValueStance, int] | None:
    """How the learner's claims treat a point that sets a configuration key to a value.

    A teacher reads "Sets maxUnavailable to 0" as covered by "maxUnavailable: 0" however the
    sentence around it is worded, as a wrong setting by "maxUnavailable: 1", and as only half
    said by "set maxSurge and maxUnavailable" with no values: embeddings and the cross-encoder
    barely see the digit. Returns the stance and the claim it rests on, or None when the point
    sets no key, the learner does not name it, or the values say nothing clear.
    """
    wanted = _setting_values(point)
    keys = [w for w in wanted if _configuration_key(w.name)]
    if not keys:
        return None
    stated = [(i, s) for i, claim in enumerate(claims) for s in _setting_values(claim)]

    def given(want: SettingValue) -> list[tuple[int, SettingValue]]:
        return [(i, s) for i, s in stated if _same_setting(s.name, want.name)]

    for key in keys:
        values = given(key)
        # Only a key never given the point's value is a wrong setting: "not 1 but 0" is right.
        if values and not any(key.allows(s.value) for _, s in values):
            return "differs", values[0][0]
    agreeing = [i for key in keys for i, s in given(key) if key.allows(s.value)]
    if agreeing:
        consistent = all(
            any(want.allows(s.value) for _, s in given(want)) for want in wanted if given(want)
        )
        return ("agrees", agreeing[0]) if consistent else None
    # The key itself, not a plain word it ends in: "no Pod is ever unavailable" says the goal,
    # not a setting left without its value.
    for i, claim in enumerate(claims):
        named = {w.lower() for w in re.findall(r"[\w.]+", claim)}
        if any(k.name.lower() in named for k in keys):
            return "unvalued", i
    return None


# -- closed sets of alternatives ---------------------------------------------------------------

_Member = re.Pattern[str]
# Words just before a member that set it aside ("not NodePort", "rather than a bind mount"):
# such a mention is no claim about that member.
_SET_ASIDE = re.compile(
    r"\b(?:not|no|never|instead of|rather than|avoid|without|nor)\W+(?:\w+\W+){0,2}$", re.I
)


@lru_cache(maxsize=1)
def _alternative_sets() -> tuple[tuple[_Member, ...], ...]:
    """`alternatives.txt`: closed sets of alternatives (Service types, probe kinds, ...)."""
    text = resources.files("learnloop.grading").joinpath("alternatives.txt").read_text()
    sets = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        members = []
        for member in line.split(" | "):
            spellings = [re.escape(s.strip()) for s in member.split(",") if s.strip()]
            members.append(re.compile(r"\b(?:" + "|".join(spellings) + r")\b", re.I))
        sets.append(tuple(members))
    return tuple(sets)


@lru_cache(maxsize=4096)
def _point_alternatives(point: str) -> tuple[tuple[tuple[_Member, ...], tuple[_Member, ...]], ...]:
    """For each set whose members the point names: (the point's members, the others)."""
    out = []
    for members in _alternative_sets():
        named = tuple(m for m in members if m.search(point))
        if named:
            out.append((named, tuple(m for m in members if m not in named)))
    return tuple(out)


def _claims_member(member: _Member, text: str) -> bool:
    return any(not _SET_ASIDE.search(text[: m.start()]) for m in member.finditer(text))


def names_another_alternative(point: str, text: str) -> bool:
    """The text names another member of a set the point names, and none of the point's own:
    "two NodePort services, one per deployment" for "a ClusterIP Service for each
    Deployment", "a readiness probe that waits for the cache" for a startup-probe point."""
    for own, others in _point_alternatives(point):
        if any(m.search(text) for m in own):
            continue
        if any(_claims_member(m, text) for m in others):
            return True
    return False
