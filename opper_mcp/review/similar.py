"""How alike two findings' words are: cheap, dependency-free text similarity for telling one problem from two.

Models describe one problem in different words ("SQL injection via f-string" / "user input interpolated into SQL
query"), so exact titles cannot be compared. The words are reduced to what carries meaning: identifiers split
(`userId` -> user id, `rows.Close()` -> rows close), a light suffix-stripping stem (`backtracking` and
`backtracks` -> backtrack), English stop words and review boilerplate ("use", "should", "issue") dropped, and a few
well-known abbreviations spelled out (`XSS` -> cross site scripting). Titles are also compared by character
trigrams, which forgive spelling variants (`unsanitised`/`unsanitized`). Everything is sets and small dicts: a
thousand comparisons take milliseconds and importing the module costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def _split(text: str) -> list[str]:
    return text.split()


# English stop words and review boilerplate: they say nothing about which problem a finding is about.
STOP = frozenset(_split("""
a about above after again against all also an and any are as at be because been before being below between both
but by can cannot could did do does doing done down during each either else even every few for from further get
gets had has have having here how however i if in into is it its itself just least less let like may might more
most much must no nor not now of off on once one only or other our out over own per rather same should since so
some still such than that the their them then there these they this those though through thus to too under until
up upon us very via was we were what when where whether which while who whom whose why will with within without
would yet you your instead use using used make makes made need needs new issue problem code line lines file
function method call calls called value values variable here consider ensure potential possible possibly likely
currently current actually properly correctly always never missing lacks lack lacking avoid add adding
"""))

# Words most code reviews use whatever the problem (the code's usual nouns and verbs): shared, they count half.
COMMON_WORDS = _split("""
user request response check error data input output return result value default type string list object class key
id name time file path read write update get set run fail failure exception handle handler test case state field
parameter argument number size count index item server client log message url query loop thread call caller
""")

EXPANSIONS: dict[str, tuple[str, ...]] = {
    "xss": ("cross", "site", "script"),
    "csrf": ("cross", "site", "request", "forgery"),
    "xsrf": ("cross", "site", "request", "forgery"),
    "ssrf": ("server", "side", "request", "forgery"),
    "sqli": ("sql", "injection"),
    "redos": ("regex", "denial", "service", "backtrack"),
    "dos": ("denial", "service"),
    "npe": ("null", "pointer", "exception"),
    "nre": ("null", "reference", "exception"),
    "toctou": ("time", "check", "race"),
    "regular": ("regex",),
    "expression": (),
    "tz": ("timezone",),
    "utc": ("timezone",),
    "db": ("database",),
    "auth": ("authentication",),
    "authn": ("authentication",),
    "authz": ("authorization",),
    "config": ("configuration",),
    "env": ("environment",),
    "args": ("argument",),
    "params": ("parameter",),
    "param": ("parameter",),
    "perf": ("performance",),
}

# Words that name one idea in code reviews, mapped to one token (after stemming), so "hardcoded secret" meets
# "credential literal" and "crashes" meets "panics". Only unambiguous groups: "leak" (memory or data?) is not here.
SYNONYMS = {
    "secret": "secret secrets credential credentials password passwords passwd passphrase apikey",
    "hardcoded": "hardcoded hardcode literal literals embedded",
    "expose": "expose exposed exposes exposure reveal reveals revealing disclose disclosed disclosure",
    "crash": "crash crashes crashed panic panics abort aborts trap traps",
    "swallow": "swallow swallows swallowed hide hides hidden mask masks masking silence silent silently "
               "suppress suppresses ignore ignores ignored",
    "broad": "broad overly bare blanket catchall",
    "unbounded": "unbounded infinite endless forever unlimited",
    "race": "race races racy concurrent concurrently concurrency atomic nonatomic atomically synchronised "
            "synchronized unsynchronised unsynchronized threadsafe interleave interleaving",
    "traceback": "traceback tracebacks stacktrace",
    "integer": "int integer integers",
    "string": "str string strings",
    "boolean": "bool boolean",
    "null": "null nil none undefined nullptr nullable",
    "inject": "injection inject injected interpolate interpolated interpolation concatenate concatenated "
              "concatenation",
    "authorization": "authorization authorisation authz permission permissions privilege privileges",
    "unused": "unused unread",
    "docs": "docstring docstrings documentation documented undocumented docs doc",
    "regex": "regex regexp regexes",
    "slow": "slow slower quadratic inefficient",
}

_SUFFIXES = ("ations", "ation", "ements", "ement", "ings", "ing", "ised", "ized", "ises", "izes", "ise", "ize",
             "ies", "ied", "ed", "es", "ly", "s")
_SPLIT_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_GRAM_CLEAN = re.compile(r"[^a-z0-9]+")


def stem(word: str) -> str:
    """A light, predictable suffix strip (not Porter): plurals, tenses, -ise/-ize/-ation, final e, y -> i."""
    for suf in _SUFFIXES:
        if len(word) - len(suf) >= 3 and word.endswith(suf):
            if suf == "s" and word.endswith(("ss", "us", "is")):
                break
            word = word[: -len(suf)] + ("i" if suf in ("ies", "ied") else "")
            break
    if len(word) > 3 and word[-1] in "ey":
        word = word[:-1] + ("i" if word[-1] == "y" else "")
    return word


_CONCEPT_WORD = {w: "~" + idea for idea, ws in SYNONYMS.items() for w in ws.split()}
_CONCEPT_STEM = {stem(w): c for w, c in _CONCEPT_WORD.items() if len(stem(w)) >= 5}  # short stems collide
_NOT_NEGATION = ("under", "uniq", "unit", "univers", "union", "unix", "unicod", "unif", "unless", "until")


def _word(w: str) -> str:
    """One lower-case word -> its token: a synonym group, or its stem with a negating `un` dropped."""
    if w in _CONCEPT_WORD:
        return _CONCEPT_WORD[w]
    if w.startswith("un") and len(w) >= 6 and not w.startswith(_NOT_NEGATION):  # "unvalidated" ~ "not validated"
        w = w[2:]
        if w in _CONCEPT_WORD:
            return _CONCEPT_WORD[w]
    st = stem(w)
    return _CONCEPT_STEM.get(st, st)


def words(text: str) -> list[str]:
    """Meaningful stems of a text, in order: identifiers split (and kept whole), abbreviations spelled out,
    synonyms unified, negation dropped (`not` is a stop word, `un-` a prefix).

    Words in `backticks` are code and kept even when they look like stop words (`any`, `all`)."""
    out: list[str] = []
    for i, chunk in enumerate(text.split("`")):
        code = i % 2 == 1
        for raw in _WORD.findall(chunk):
            parts = [p.lower() for p in _SPLIT_CAMEL.split(raw.replace("_", " ")) for p in p.split()]
            if len(parts) > 1:  # forEach, select_related: the whole identifier is a word too
                out.append("".join(parts))
            for w in parts:
                if len(w) < 2 or w.isdigit() or (w in STOP and not code):
                    continue
                out.extend(_word(e) for e in EXPANSIONS.get(w, (w,)))
    return out


def grams(text: str, n: int = 3) -> frozenset[str]:
    """Character n-grams of the text's lower-cased words (spaces kept as word boundaries)."""
    s = " " + _GRAM_CLEAN.sub(" ", text.lower()).strip() + " "
    return frozenset(s[i : i + n] for i in range(len(s) - n + 1))


COMMON = frozenset(_word(w) for w in COMMON_WORDS)
COMMON_WEIGHT = 0.5


def weight(word: str) -> float:
    return COMMON_WEIGHT if word in COMMON else 1.0


@dataclass(frozen=True)
class Profile:
    """A finding's words, prepared once: title stems, all stems (title, explanation, suggestion), title grams."""

    title: frozenset[str]
    text: frozenset[str]
    title_grams: frozenset[str]


def profile(title: str, explanation: str = "", suggestion: str | None = None) -> Profile:
    t = frozenset(words(title))
    rest = words(f"{explanation} {suggestion or ''}")
    return Profile(t, t | frozenset(rest), grams(title))


def weighted_dice(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice's coefficient with common words counting COMMON_WEIGHT: 2·w(a∩b) / (w(a) + w(b))."""
    if not a or not b:
        return 0.0
    shared = sum(weight(w) for w in a & b)
    return 2 * shared / (sum(weight(w) for w in a) + sum(weight(w) for w in b))


def dice(a: frozenset[str], b: frozenset[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
