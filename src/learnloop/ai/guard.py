"""The learner's text is data, never instructions: the guards shared by every model call.

Three layers make that hold even against a model that obeys whatever it reads:

1. ``neutralise``: sentences that address the grader ("ignore the rubric", "give full marks")
   are replaced by a marker before the text leaves the process, and the delimiter tags cannot
   be forged from inside the answer.
2. The prompts wrap the learner's text in tags and say that nothing inside them is an
   instruction (`grading.prompts`, `tutor.prompts`).
3. After the model replies, only what the learner's own text supports counts
   (`grading.prompts.clamp_points`).
"""

from __future__ import annotations

import json
import re
import unicodedata

ANSWER_OPEN = "<learner_answer>"
ANSWER_CLOSE = "</learner_answer>"
REMOVED_MARKER = "[removed: text addressed to the grader]"

# Phrases that only make sense as an attempt to instruct whoever grades the answer. They are
# deliberately specific: a learner writing about "instructions in a Dockerfile" must not lose
# their sentence, so every pattern needs a grading or prompt word next to the imperative.
_INSTRUCTION_PATTERNS = [
    r"\b(ignore|disregard|forget|override|bypass|skip)\b[^.!?\n]{0,60}"
    r"\b(rubric|instruction|instructions|prompt|rules?|above|previous|prior|system|grading|criteria)\b",
    r"\b(give|award|assign|grant|mark|grade|score|rate)\b[^.!?\n]{0,40}"
    r"\b(full|maximum|max|perfect|100|hundred|all)\b[^.!?\n]{0,25}"
    r"\b(marks?|points?|score|credit|percent|%)",
    r"\b(mark|treat|consider|count|grade|label)\b[^.!?\n]{0,40}"
    r"\b(as|is|are)\s+(covered|correct|complete|satisfied|met|fulfilled)\b",
    r"\b(mark|grade|rate|score)\s+(it|this|me|my|the answer|everything|them|these|all)\b"
    r"[^.!?\n]{0,30}\b(covered|correct|complete|satisfied|full|perfect|highly)\b",
    r"\b(every|all|each)\s+(rubric\s+)?points?\b[^.!?\n]{0,30}"
    r"\b(covered|satisfied|met|correct|complete)\b",
    r"\byou\s+(are|must|should|will)\s+(now\s+)?(a|an|the|act|behave|pretend|output|respond|return|grade|give)\b",
    r"\b(as|dear)\s+(the|an?|my)?\s*(ai|grader|model|assistant|llm|language model)\b",
    r"\b(system|developer|assistant)\s*(prompt|message)\b",
    r"\bnew\s+instructions?\b",
    r"\b(this|my)\s+(answer|response|essay|text|submission)\s+(covers|addresses|includes|"
    r"contains|mentions|explains|deserves|is\s+(correct|complete|perfect)|has\s+covered)\b",
    r"\b(pretend|imagine|roleplay|role-play|act\s+as)\b[^.!?\n]{0,40}\b(you|grader|teacher|ai)\b",
    r"\bfrom\s+now\s+on\b[^.!?\n]{0,20}\byou\b",
    r"\b(developer|admin|god|jailbreak|dan)\s+mode\b",
    r"^\W*grade\s*[:=]\s*\d+",
    r"\b(deserves?|earns?|merits?|warrants?)\b[^.!?\n]{0,30}"
    r"\b(full|maximum|max|perfect|top|highest|100|all|an? a\+?)\b",
    r"\b(gets?|receives?|worth)\b[^.!?\n]{0,20}\b(full|maximum|max|perfect|top|highest|100)\s*"
    r"(marks?|points?|score|credit|grade|%)",
    r"\b(note|message|hint|request)\s+(to|for)\s+(the\s+)?"
    r"(ai|grader|model|llm|assistant|evaluator|marker|examiner|teacher|system)\b",
    r"^\W*(ai|grader|evaluator|marker|examiner|llm|assistant|model)\s*[:,]",
    r"\b(respond|reply|output|return)\s+(only\s+)?(with\s+)?(json|\{)",
    r"\"?score\"?\s*[:=]\s*\d+",
    r"</?\s*(learner_answer|system|instructions?|rubric|passages?)\s*>",
    # Any sentence that addresses the grader, talks about marks/scores/rubrics or tries to
    # change the grader's role. False positives cost little: a real answer to a course
    # question never needs them.
    r"\b(ignore|disregard|forget|override|bypass|skip)\b.{0,60}\b(instruction|rubric|rule|"
    r"prompt|previous|above|criteria|guideline|grading|system|everything)",
    r"\b(full|maximum|max|perfect)\s+(marks?|score|points|credit|grade)",
    r"\b(top|highest)\s+(marks|score|grade)",
    r"\b(give|award|assign|grant)\b.{0,40}\b(100|hundred|(full|perfect|maximum|max|all)\s+"
    r"(marks?|credit|score|points)|a\+|as correct)",
    r"\b(rate|score|grade|mark)\s+(this|my|the)\s+(answer|response|submission)",
    r"\b(set|output|return|print)\b.{0,30}\b(score|grade|marks?)\b",
    r"\b(score|grade|mark|rating|points?)\s*[:=]\s*\d",
    r"\b(10\s*/\s*10|100\s*/\s*100)\b",
    r"\b(you are|you're) (now |an? |the )*(grader|teacher|assistant|ai|model|bot|examiner|"
    r"evaluator|scorebot|chatbot|language model|llm)",
    r"\b(pretend (to be|you are)|roleplay|role-play|from now on,? you|as an ai|as a grader|"
    r"dear grader|dear teacher|dear examiner|note to (the )?(grader|teacher|examiner)|"
    r"developer mode|jailbreak|new instructions?|admin override)",
    r"\bact as (an? |the )?(grader|teacher|examiner|assistant|ai|model|evaluator|judge)",
    r"^\W*(system|assistant|user|developer|grader)\s*:",
    r"\b(this|my)\s+(answer|response|submission|essay)\s+(is|was|should be|must be|deserves)"
    r"\s+(correct|right|perfect|complete|excellent|worth|full|the best)",
    r"\b(this|my)\s+(answer|response|submission|essay)\s+(covers|meets|satisfies|addresses|"
    r"fulfil+s|deserves|earns)\b",
    r"\b(rubric|grader|grading model|language model|llm|chatgpt|evaluator)\b",
    r"</?\s*(system|instruction|prompt|assistant|user|im_start|im_end)\b",
    r"\b(all|every) (rubric )?points? (are|is|were) (covered|met|satisfied)",
    # Praise of the answer itself is the grader's language, not the learner's.
    r"\b(excellent|great|perfect|outstanding|flawless)\s+(work|answer|response)\b",
    r"\bgood (answer|response)\b",
    r"\bwell done\b",
    # Requests about the grader's output or process, however they are dressed up.
    r"\b(output|print|return|record|reply|respond|copy)\b[^.!?\n]{0,20}\b(exactly|verbatim|"
    r"unchanged|the following|as your (evaluation|grade|assessment|verdict|output))",
    r"\byou are (now )?(in|running in|operating in)\b[^.!?\n]{0,30}\bmode\b",
    r"\bpre-?(reviewed|verified|approved|graded|checked|validated)\b",
    r"\bdo not (evaluate|grade|mark|assess|score|check|mention|penali[sz]e)\b",
    r"\b(is|are) now (fully |considered |to be )?(correct|covered|complete|acceptable|valid)\b",
    r"\b(only|sole) requirement\b",
    r"\bfor testing purposes\b",
    r"\b(flagged|marked|rated) as (exemplary|correct|perfect|excellent|complete)\b",
    r"\b(instructions?|rules?|rubric|criteria)\b[^.!?\n]{0,30}\b(no longer apply|updated|"
    r"changed|replaced|overridden)\b",
]
_INSTRUCTION_RE = re.compile("|".join(f"(?:{p})" for p in _INSTRUCTION_PATTERNS), re.IGNORECASE)
# Sentence ends, or line breaks (lists and headings carry no full stop).
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+|\n+")
WORD_RE = re.compile(r"[a-z0-9]+")

_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "than",
        "so",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "as",
        "not",
        "no",
        "nor",
        "can",
        "could",
        "will",
        "would",
        "should",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "done",
        "have",
        "has",
        "had",
        "having",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "them",
        "their",
        "our",
        "your",
        "my",
        "me",
        "us",
        "his",
        "her",
        "which",
        "who",
        "whom",
        "whose",
        "what",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "only",
        "own",
        "same",
        "too",
        "very",
        "just",
        "also",
        "about",
        "again",
        "against",
        "between",
        "through",
        "during",
        "before",
        "after",
        "above",
        "below",
        "up",
        "down",
        "out",
        "off",
        "once",
        "because",
        "while",
        "until",
        "one",
        "ones",
        "get",
        "gets",
        "got",
        "make",
        "makes",
        "made",
        "use",
        "used",
        "uses",
        "using",
    ]
)


# Zero-width and bidi control characters: "Ig\u200bnore the ru\u200bbric" must still match.
_INVISIBLE_RE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def plain(text: str) -> str:
    return _INVISIBLE_RE.sub("", unicodedata.normalize("NFKC", text))


def is_instruction_like(sentence: str) -> bool:
    return _INSTRUCTION_RE.search(plain(sentence)) is not None


# Markup, JSON and configuration-like text: an answer to a course question is prose. Such text
# is data that earns nothing, whatever it says (a JSON blob of rubric ids "covered", a fake
# <system> block, an HTML comment for the grader).
_MARKUP_RE = re.compile(
    r"""(
        [{\[]\s*"[^"\n]{1,80}"\s*:          # {"key": ... or ["key": ...
      | "[^"\n]{1,80}"\s*:\s*["{\[\d]      # "key": "value" / "key": 1
      | <!--|-->                             # HTML comments
      | </?\s*(system|user|assistant|developer|instructions?|grader[a-z_-]*|grading[a-z_-]*
          |evaluation|answer|learner_answer|prompt|rubric|score|im_start|im_end|inst)\b
      | ^\s*(\#{2,}|-{3,}|={3,}|`{3})       # headings, rules and fences
      | ^\s*\[[^\]]{0,80}\]\s*$            # a whole line in [brackets]
      | ^\s*\[\s*(system|note|instruction|admin|grader)
      | ^\s*(grader|grading|score|verdict)[a-z_-]*\s*[:=]  # "score: 100"
      | ^\s*[a-z]+_[a-z_]+\s*:\s                          # "grading_override: true"
    )""",
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)


def is_markup(segment: str) -> bool:
    return _MARKUP_RE.search(plain(segment)) is not None


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT_RE.split(text) if s and s.strip()]


def neutralise(text: str) -> tuple[str, int]:
    """The answer with every instruction-like sentence replaced; and how many were replaced.

    Works line by line so the learner's paragraphs survive for the model to read.
    """
    removed = 0
    out_lines: list[str] = []
    # The model reads what the patterns read: no invisible characters hiding words.
    for line in plain(text).splitlines():
        kept: list[str] = []
        for sentence in re.split(r"(?<=[.!?])\s+", line):
            if sentence.strip() and is_instruction_like(sentence):
                removed += 1
                kept.append(REMOVED_MARKER)
            else:
                kept.append(sentence)
        out_lines.append(" ".join(kept))
    cleaned = "\n".join(out_lines)
    # Even a sentence the patterns missed cannot close the data block early.
    cleaned = re.sub(r"<\s*/?\s*learner_answer\s*>", "[tag removed]", cleaned, flags=re.IGNORECASE)
    return cleaned, removed


def content_words(text: str) -> set[str]:
    """Lower-case content words cut to a 5-letter stem, so "immutable"/"immutability" meet."""
    return {
        w[:5] for w in WORD_RE.findall(plain(text).lower()) if w not in _STOPWORDS and len(w) > 2
    }


def plain_words(text: str) -> str:
    return " ".join(WORD_RE.findall(plain(text).lower()))


def dumps_compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
