"""Reading what Prometheus would read: the text exposition format (strictly enough to catch a malformed
line) and the metric names a PromQL expression refers to."""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL},?)*)\}})? (\S+)$")
SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse(text: str) -> tuple[dict[str, str], list[Sample]]:
    """(family → type, samples). Raises AssertionError naming the first line Prometheus would refuse: a
    sample of a family without ``# TYPE`` before it, a malformed line, a value that is not a number."""
    types: dict[str, str] = {}
    helped: set[str] = set()
    samples: list[Sample] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), (number, line)
            assert name not in types, f"line {number}: TYPE of {name} given twice"
            types[name] = kind
            continue
        assert not line.startswith("#"), (number, line)
        match = SAMPLE.match(line)
        assert match, f"line {number} is not a sample: {line!r}"
        name, label_text, value = match.group(1), match.group(2) or "", match.group(5)
        family = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s) and name[: -len(s)] in types), name)
        assert family in types, f"line {number}: {name} has no # TYPE before it"
        assert family in helped, f"line {number}: {name} has no # HELP"
        labels = {k: v for k, v in re.findall(LABEL, label_text)}
        samples.append(Sample(name, labels, float(value)))
    return types, samples


def names(text: str) -> set[str]:
    """Every name a scrape of ``text`` gives Prometheus: families and their samples' names."""
    types, samples = parse(text)
    return set(types) | {s.name for s in samples}


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    for s in samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


# PromQL words that are not metric names: functions are followed by "(" and caught that way
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
KEYWORDS |= {"inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, keywords, label
    names inside ``{…}`` or grouping clauses, nor durations or numbers."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery durations
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)
    found = set()
    for match in re.finditer(NAME, text):
        word = match.group(0)
        rest = text[match.end() :].lstrip()
        before = text[: match.start()]
        if rest.startswith("(") or word.lower() in KEYWORDS or re.match(r"(by|without)\b", rest):  # max by (…) (…)
            continue
        if before and (before[-1].isdigit() or before[-1] == "."):  # 1e3, 5m
            continue
        found.add(word)
    return found
