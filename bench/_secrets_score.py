"""How a scanner's findings are scored against the corpus's ground truth.

The unit is a line: a tool's findings are reduced to distinct (file, line) pairs, each with
the rules that fired on it (detect-secrets often reports two plugins on one line).

- A line inside a planted block matches that block's label. A positive label that any of
  its lines matches is one true positive, however many findings it drew: a PEM key found
  on its BEGIN line or on any line of the block, an AWS key pair found on either line,
  counts once. A decoy label matched is one false positive (once, however many lines).
- A line of the package's own text (not planted) is a false positive ("package line"),
  unless it is on the short reviewed list of real credential material the packages ship
  (``REVIEWED_FIXTURES``), which is counted apart and neither helps nor hurts.
- A line of a planted file that no label covers would be "other planted"; every line of
  a planted file is labelled, so this stays 0 unless the corpus code changes.
- Precision = TP / (TP + FP), recall = TP / positives planted, F1 their harmonic mean.

Per kind (ours): recall is found / planted of that kind; a rule is assigned to the kind
its true positives hit most often, and its false positives count against that kind.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from _secrets_corpus import Corpus, Label
from _secrets_packages import reviewed_fixture


@dataclass
class ToolRun:
    """One scan: what it reported (path, line, rule) and what it cost."""

    findings: list[tuple[str, int, str]]
    wall_s: float
    cpu_s: float  # user + system of the command and every process it waited for
    files: int
    bytes: int
    notes: list[str]
    error: str | None = None
    previews: dict[tuple[str, int], str] | None = None  # (path, line) -> ≤ 8 characters
    own_seconds: float | None = None  # the scan's own timing, when the tool reports one


@dataclass
class Hit:
    """One distinct line a tool reported, with its rules and a preview (≤ 8 characters)."""

    path: str
    line: int
    rules: list[str]
    preview: str = ""


@dataclass
class Score:
    positives: int
    tp: int
    fp: int
    found: set[int] = field(default_factory=set)
    decoys_hit: set[int] = field(default_factory=set)
    package_fp: list[Hit] = field(default_factory=list)
    other_fp: list[Hit] = field(default_factory=list)
    fixtures: list[Hit] = field(default_factory=list)
    rule_tp: Counter[str] = field(default_factory=Counter)
    rule_fp: Counter[str] = field(default_factory=Counter)
    rule_kinds: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    lines: int = 0
    duplicates: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float:
        return self.tp / self.positives if self.positives else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision or 0.0, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def distinct_lines(findings: list[tuple[str, int, str, str]]) -> list[Hit]:
    """(path, line, rule, preview) findings → one Hit per (path, line)."""
    by_line: dict[tuple[str, int], Hit] = {}
    for path, line, rule, preview in findings:
        hit = by_line.setdefault((path, line), Hit(path, line, [], preview))
        if rule not in hit.rules:
            hit.rules.append(rule)
    return sorted(by_line.values(), key=lambda h: (h.path, h.line))


class Truth:
    """The labels indexed by file, for finding the block a line is in."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.by_path: dict[str, list[Label]] = defaultdict(list)
        for label in corpus.labels:
            self.by_path[label.path].append(label)
        self.starts = {p: [lb.line for lb in lbs] for p, lbs in self.by_path.items()}
        self.positives = sum(lb.positive for lb in corpus.labels)

    def label_at(self, path: str, line: int) -> Label | None:
        labels = self.by_path.get(path)
        if not labels:
            return None
        i = bisect.bisect_right(self.starts[path], line) - 1
        if i >= 0 and labels[i].line <= line <= labels[i].end_line:
            return labels[i]
        return None


def score(truth: Truth, hits: list[Hit]) -> Score:
    result = Score(truth.positives, 0, 0, lines=len(hits))
    for hit in hits:
        label = truth.label_at(hit.path, hit.line)
        if label is not None:
            target = result.found if label.positive else result.decoys_hit
            if label.id in target:
                result.duplicates += 1
            target.add(label.id)
            for rule in hit.rules:
                if label.positive:
                    result.rule_tp[rule] += 1
                    result.rule_kinds[rule][label.kind] += 1
                else:
                    result.rule_fp[rule] += 1
            continue
        pristine = truth.corpus.pristine_line(hit.path, hit.line)
        if pristine is None:
            result.other_fp.append(hit)
        else:
            package, _, rel = hit.path.partition("/")
            if reviewed_fixture(package, rel, pristine):
                result.fixtures.append(hit)
                continue
            result.package_fp.append(hit)
        for rule in hit.rules:
            result.rule_fp[rule] += 1
    result.tp = len(result.found)
    result.fp = len(result.decoys_hit) + len(result.package_fp) + len(result.other_fp)
    return result


def per_kind(truth: Truth, result: Score) -> dict[str, dict[str, Any]]:
    """Planted, found, FP (of the rules assigned to the kind), precision, recall, F1."""
    kind_of_rule = {
        rule: kinds.most_common(1)[0][0] for rule, kinds in result.rule_kinds.items() if kinds
    }
    fp_by_kind: Counter[str] = Counter()
    for rule, n in result.rule_fp.items():
        fp_by_kind[kind_of_rule.get(rule, "(rules with no true positive)")] += n
    planted: Counter[str] = Counter(lb.kind for lb in truth.corpus.labels if lb.positive)
    found: Counter[str] = Counter(
        lb.kind for lb in truth.corpus.labels if lb.positive and lb.id in result.found
    )
    out: dict[str, dict[str, Any]] = {}
    for kind in sorted(planted, key=lambda k: (-planted[k], k)):
        tp, fp = found[kind], fp_by_kind[kind]
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / planted[kind]
        p = precision or 0.0
        out[kind] = {
            "planted": planted[kind],
            "found": tp,
            "fp": fp,
            "precision": precision,
            "recall": recall,
            "f1": 2 * p * recall / (p + recall) if p + recall else 0.0,
            "rules": sorted(r for r, k in kind_of_rule.items() if k == kind),
        }
    orphans = fp_by_kind.get("(rules with no true positive)")
    if orphans:
        out["(rules with no true positive)"] = {
            "planted": 0,
            "found": 0,
            "fp": orphans,
            "precision": 0.0,
            "recall": None,
            "f1": None,
            "rules": sorted(r for r in result.rule_fp if r not in kind_of_rule),
        }
    return out


def as_json(truth: Truth, result: Score) -> dict[str, Any]:
    labels = {lb.id: lb for lb in truth.corpus.labels}

    def hit(h: Hit) -> dict[str, Any]:
        return {"path": h.path, "line": h.line, "rules": h.rules, "preview": h.preview[:8]}

    return {
        "positives": result.positives,
        "tp": result.tp,
        "fp": result.fp,
        "fn": result.positives - result.tp,
        "precision": result.precision,
        "recall": result.recall,
        "f1": result.f1,
        "lines_reported": result.lines,
        "duplicate_lines": result.duplicates,
        "fp_decoys": len(result.decoys_hit),
        "fp_package_lines": len(result.package_fp),
        "fp_other_planted": len(result.other_fp),
        "reviewed_fixtures_hit": [hit(h) for h in result.fixtures],
        "missed": [
            {
                "path": lb.path,
                "line": lb.line,
                "kind": lb.kind,
                "host": lb.host,
                "style": lb.style,
                "preview": lb.preview,
            }
            for lb in truth.corpus.labels
            if lb.positive and lb.id not in result.found
        ],
        "decoys_hit": [
            {
                "path": labels[i].path,
                "line": labels[i].line,
                "kind": labels[i].kind,
                "host": labels[i].host,
                "preview": labels[i].preview,
            }
            for i in sorted(result.decoys_hit)
        ],
        "package_fp": [hit(h) for h in result.package_fp],
        "other_fp": [hit(h) for h in result.other_fp],
        "rule_tp": dict(result.rule_tp),
        "rule_fp": dict(result.rule_fp),
        "per_kind": per_kind(truth, result),
        "decoy_kinds_hit": dict(Counter(labels[i].kind for i in result.decoys_hit)),
        "found_by_host": dict(
            Counter(lb.host for lb in truth.corpus.labels if lb.positive and lb.id in result.found)
        ),
    }


def check_scoring(truth: Truth) -> None:
    """The scorer against two oracles, on every run (milliseconds): reporting exactly the
    planted secrets (on their last line, as a PEM block's END line) scores P = R = 1;
    reporting exactly the decoys scores TP = 0 and one false positive per decoy."""
    labels = truth.corpus.labels
    perfect = score(truth, [Hit(lb.path, lb.end_line, ["oracle"]) for lb in labels if lb.positive])
    if perfect.tp != truth.positives or perfect.fp or perfect.f1 != 1.0:
        raise RuntimeError(f"scoring is broken: the perfect oracle scored {perfect}")
    decoys = [lb for lb in labels if not lb.positive]
    fooled = score(truth, [Hit(lb.path, lb.line, ["oracle"]) for lb in decoys])
    if fooled.tp or fooled.fp != len(decoys):
        raise RuntimeError(f"scoring is broken: the decoy oracle scored {fooled}")
