"""The secret-scanner benchmark's corpus: real source trees of pinned PyPI and npm packages,
a seeded selection of their text files, secrets and decoys planted at recorded places, and
the ground truth (``labels.json``).

Layout under ``~/.cache/lightkeeper-bench/secrets/``::

    downloads/              sdists (pip download) and tarballs (npm pack), fetched once
    trees/<name>-<version>/ each archive extracted once, its top directory stripped
    corpus-<key>/tree/      the scanned directory: <name>-<version>/… per package
    corpus-<key>/labels.json, manifest.json

``<key>`` hashes the package list, the seed, the size and the plant counts, so a change of
any of them builds a new corpus and the same arguments reuse the old one.

What a file must be to enter the corpus (so that neither scanner skips it by default and
both count lines alike): UTF-8 text without NUL bytes or lone carriage returns, at most
``MAX_FILE_BYTES``, not under a directory either tool skips (``.git``, ``node_modules``,
``.venv`` …: Lightkeeper's ``DEFAULT_SKIP_DIRS``), not of an extension detect-secrets
never reads (its ``IGNORED_FILE_EXTENSIONS``: ``.css``, ``.svg``, ``.map``, ``.lock`` …)
and not a lock file.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _secrets_plant as syntax
from _secrets_kinds import DECOYS, POSITIVES, Plant, scaled
from _secrets_packages import CACHE, PACKAGES, CorpusError, pristine_trees, tree_name
from lightkeeper.audit.secrets import DEFAULT_SKIP_DIRS

CORPUS_VERSION = 2  # bump when planting changes, so old corpora are not reused
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_PLANTS_PER_FILE = 2

SKIP_DIRS = DEFAULT_SKIP_DIRS  # what Lightkeeper never walks: nothing planted there
# detect-secrets 1.5.0, detect_secrets/filters/heuristic.py IGNORED_FILE_EXTENSIONS and
# is_lock_file: files it never scans, left out so both tools read the same bytes.
_DS_IGNORED = """.7z .bin .bmp .bz2 .class .css .dmg .doc .eot .exe .gif .gz .ico .iml .ipr .iws
.jar .jpg .jpeg .lock .map .mo .pdf .png .prefs .psd .rar .realm .s7z .sum .svg .tar .tif .tiff
.ttf .webp .woff .xls .xlsx .zip"""
DS_IGNORED_EXTENSIONS = frozenset(_DS_IGNORED.split())
LOCK_FILES = frozenset(
    {
        "Brewfile.lock.json",
        "Cartfile.resolved",
        "composer.lock",
        "Gemfile.lock",
        "Package.resolved",
        "package-lock.json",
        "Podfile.lock",
        "yarn.lock",
        "Pipfile.lock",
        "poetry.lock",
        "Cargo.lock",
        "packages.lock.json",
        "pnpm-lock.yaml",
        "npm-shrinkwrap.json",
    }
)


@dataclass
class Label:
    id: int
    path: str
    line: int  # first line of the block (1-based)
    end_line: int  # last line of the block; a finding anywhere in it matches
    kind: str
    positive: bool
    host: str  # py, js, yaml, json, toml, ini, sh, doc, env, env-template, npmrc, keyfile, sa-json
    style: str
    preview: str  # at most 8 characters


@dataclass
class Corpus:
    root: Path  # the scanned directory
    labels: list[Label]
    inserted: dict[str, list[tuple[int, int]]]  # path -> planted line ranges, 1-based inclusive
    new_files: list[str]
    manifest: dict[str, Any] = field(default_factory=dict)

    def pristine_line(self, path: str, line: int) -> int | None:
        """The line in the package's own file that corpus line ``line`` is, or None when it
        is a planted line or in a planted file."""
        if path in self.new_files:
            return None
        shift = 0
        for start, end in self.inserted.get(path, []):
            if start <= line <= end:
                return None
            if end < line:
                shift += end - start + 1
        return line - shift


# -- selection ---------------------------------------------------------------------------------


def is_corpus_text(data: bytes) -> bool:
    if b"\x00" in data or b"\r" in data.replace(b"\r\n", b""):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def eligible_files(tree: Path) -> list[tuple[str, int]]:
    """(path relative to the tree, size) of every file that may enter the corpus."""
    out = []
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree)
        if any(part in SKIP_DIRS for part in rel.parts[:-1]):
            continue
        if not path.is_file() or path.is_symlink():
            continue
        if path.suffix.lower() in DS_IGNORED_EXTENSIONS or path.name in LOCK_FILES:
            continue
        size = path.stat().st_size
        if size == 0 or size > MAX_FILE_BYTES or not is_corpus_text(path.read_bytes()):
            continue
        out.append((rel.as_posix(), size))
    return out


def select(
    files: dict[str, list[tuple[str, int]]], target: int, rng: random.Random
) -> dict[str, list[str]]:
    """Split ``target`` bytes fairly among the packages (water-filling: a package smaller
    than its share gives the rest to the others), then take each package's files in a
    seeded order while they fit its share."""
    sizes = {pkg: sum(s for _, s in fl) for pkg, fl in files.items()}
    share: dict[str, int] = {}
    left, open_pkgs = target, sorted(files)
    while open_pkgs:
        each = left // len(open_pkgs)
        small = [p for p in open_pkgs if sizes[p] <= each]
        if not small:
            share.update({p: each for p in open_pkgs})
            break
        for p in small:
            share[p] = sizes[p]
            left -= sizes[p]
            open_pkgs.remove(p)
    chosen: dict[str, list[str]] = {}
    for pkg in sorted(files):
        order = sorted(files[pkg])
        rng.shuffle(order)
        budget, picked = share[pkg], []
        for rel, size in order:
            if size <= budget:
                picked.append(rel)
                budget -= size
        chosen[pkg] = sorted(picked)
    return chosen


# -- planting ----------------------------------------------------------------------------------


class Planter:
    """Plants into the copied tree and records every block; new files are written at the end."""

    def __init__(self, root: Path, chosen: dict[str, list[str]], rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.by_host: dict[str, list[str]] = defaultdict(list)
        for pkg, rels in chosen.items():
            for rel in rels:
                host = syntax.host_of(rel)
                if host:
                    self.by_host[host].append(f"{pkg}/{rel}")
        self.dirs = sorted({str(Path(p).parent) for rels in self.by_host.values() for p in rels})
        self.pending: dict[str, list[tuple[int, list[str], Plant, str, str]]] = defaultdict(list)
        self.points: dict[str, list[tuple[int, str]]] = {}
        self.labels: list[Label] = []
        self.new_files: dict[str, list[tuple[list[str], Plant | None, str, str]]] = {}
        self.failed: Counter[str] = Counter()

    def _points(self, path: str, host: str) -> list[tuple[int, str]]:
        if path not in self.points:
            text = (self.root / path).read_text(encoding="utf-8")
            self.points[path] = syntax.points_with_indent(host, text, text.split("\n"))
        return self.points[path]

    def plant_in_file(self, plant: Plant) -> bool:
        hosts = [h for h in syntax.HOSTS if self.by_host.get(h)]
        if plant.multiline:
            hosts = [h for h in hosts if h in syntax.MULTILINE_HOSTS]
        if plant.prefer:
            preferred = [h for h in hosts if h in plant.prefer]
            hosts = preferred or hosts
        if plant.kind == "npm-integrity":
            hosts = [h for h in hosts if h in ("json", "yaml")] or hosts
        weights = [len(self.by_host[h]) ** 0.5 for h in hosts]
        for _ in range(40):
            host = self.rng.choices(hosts, weights)[0]
            path = self.rng.choice(self.by_host[host])
            if len(self.pending[path]) >= MAX_PLANTS_PER_FILE:
                continue
            taken = {i for i, *_ in self.pending[path]}
            free = [(i, ind) for i, ind in self._points(path, host) if i not in taken]
            if not free:
                continue
            index, indent = self.rng.choice(free)
            block, style = syntax.render(host, plant, self.rng, indent)
            self.pending[path].append((index, block, plant, host, style))
            return True
        self.failed[plant.kind] += 1
        return False

    def new_file(
        self, directory: str, name: str, blocks: list[tuple[list[str], Plant | None, str, str]]
    ) -> str:
        path = f"{directory}/{name}"
        while path in self.new_files or (self.root / path).exists():
            path = f"{directory}/{name}.{self.rng.randint(2, 99)}"
        self.new_files[path] = blocks
        return path

    def random_dir(self) -> str:
        return self.rng.choice(self.dirs)

    def finish(self) -> tuple[list[Label], dict[str, list[tuple[int, int]]], list[str]]:
        inserted: dict[str, list[tuple[int, int]]] = {}
        for path, items in sorted(self.pending.items()):
            file = self.root / path
            text = file.read_text(encoding="utf-8")
            lines: list[str] = text.split("\n")
            newline = "\n"
            ranges = []
            shift = 0
            out: list[str] = []
            cursor = 0
            for index, block, plant, host, style in sorted(items, key=lambda t: t[0]):
                out += lines[cursor:index]
                cursor = index
                start = index + shift + 1
                end = start + len(block) - 1
                ranges.append((start, end))
                self._label(path, start, end, plant, host, style)
                out += block
                shift += len(block)
            out += lines[cursor:]
            file.write_text(newline.join(out), encoding="utf-8")
            inserted[path] = ranges
        for path, blocks in sorted(self.new_files.items()):
            lines = []
            for block, maybe, host, style in blocks:
                start = len(lines) + 1
                lines += block
                if maybe is not None:
                    self._label(path, start, len(lines), maybe, host, style)
            (self.root / path).write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.labels.sort(key=lambda lb: (lb.path, lb.line))
        for i, label in enumerate(self.labels):
            label.id = i
        return self.labels, inserted, sorted(self.new_files)

    def _label(self, path: str, start: int, end: int, plant: Plant, host: str, style: str) -> None:
        self.labels.append(
            Label(0, path, start, end, plant.kind, plant.positive, host, style, plant.preview)
        )


def make_plants(rng: random.Random, positives: int, decoys: int) -> list[Plant]:
    plants = []
    for table, total in ((POSITIVES, positives), (DECOYS, decoys)):
        for kind, count in scaled(table, total).items():
            generate = table[kind][0]
            plants += [generate(rng) for _ in range(count)]
    rng.shuffle(plants)
    return plants


def plant_all(planter: Planter, plants: list[Plant], rng: random.Random) -> None:
    """New files first (.env files with several entries, .env templates with placeholders,
    .npmrc, key files, service-account JSON), then the rest into existing files."""
    used: set[int] = set()

    def take(candidates: list[Plant], n: int | None = None, step: int = 1) -> list[Plant]:
        free = [p for p in candidates if id(p) not in used][::step]
        chosen = free if n is None else free[:n]
        used.update(id(p) for p in chosen)
        return chosen

    singles = [p for p in plants if not p.multiline]
    n_env = max(1, sum(p.positive for p in plants) // 40)
    env_pos = take([p for p in singles if p.positive], n_env * 3)
    env_dec = take([p for p in singles if p.kind in ("placeholder", "reference")], n_env)
    placeholders = take([p for p in singles if p.kind == "placeholder"], 2 * max(1, n_env // 3))
    npm_files = take([p for p in plants if p.kind == "npm"], step=3)
    key_files = take([p for p in plants if p.kind == "private-key"], step=4)
    sa_files = take([p for p in plants if p.kind == "private-key"], step=4)

    for i in range(n_env):
        blocks: list[tuple[list[str], Plant | None, str, str]] = []
        entries: list[Plant] = env_pos[i * 3 : i * 3 + 3] + env_dec[i : i + 1]
        settings = rng.sample(syntax.ENV_SETTINGS, 2)
        for setting in settings:
            decoy = Plant("env-setting", False, setting.split("=")[0], setting.split("=", 1)[1])
            entries.append(decoy)
        rng.shuffle(entries)
        for plant in entries:
            blocks.append((syntax.env_lines(plant, rng), plant, "env", "dotenv"))
        name = rng.choice([".env", ".env", ".env.production", ".env.local"])
        planter.new_file(planter.random_dir(), name, blocks)
    for i in range(0, len(placeholders), 3):
        group = placeholders[i : i + 3]
        blocks = [(syntax.env_lines(p, rng), p, "env-template", "dotenv") for p in group]
        planter.new_file(planter.random_dir(), ".env.example", blocks)
    for plant in npm_files:
        block = ["registry=https://registry.npmjs.org/", syntax.npmrc_line(plant.value)]
        planter.new_file(planter.random_dir(), ".npmrc", [(block, plant, "npmrc", "npmrc")])
    for plant in key_files:
        name = rng.choice(["id_rsa", "deploy_key.pem", "server.key", "jwt-signing.pem"])
        block = plant.value.split("\n")
        planter.new_file(planter.random_dir(), name, [(block, plant, "keyfile", "pem")])
    for plant in sa_files:
        block = syntax.service_account(plant, rng)
        planter.new_file(
            planter.random_dir(), "service-account.json", [(block, plant, "sa-json", "json")]
        )
    for plant in plants:
        if id(plant) not in used:
            planter.plant_in_file(plant)


# -- building ----------------------------------------------------------------------------------


def corpus_key(seed: int, target_mb: float, positives: int, decoys: int) -> str:
    spec = json.dumps(
        {
            "packages": PACKAGES,
            "seed": seed,
            "mb": target_mb,
            "positives": positives,
            "decoys": decoys,
            "version": CORPUS_VERSION,
            "max_file": MAX_FILE_BYTES,
        },
        sort_keys=True,
    )
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def build(seed: int, target_mb: float, positives: int, decoys: int, pip: Path) -> Corpus:
    """The corpus for these arguments: from the cache when it was built before."""
    key = corpus_key(seed, target_mb, positives, decoys)
    home = CACHE / f"corpus-{key}"
    if (home / "labels.json").exists():
        return load(home)
    trees = pristine_trees(pip)
    rng = random.Random(seed)
    files = {pkg: eligible_files(path) for pkg, path in trees.items()}
    chosen = select(files, int(target_mb * 1_000_000), rng)
    tmp = home.with_name(home.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    root = tmp / "tree"
    for pkg, rels in chosen.items():
        for rel in rels:
            dest = root / pkg / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(trees[pkg] / rel, dest)
    planter = Planter(root, chosen, rng)
    plant_all(planter, make_plants(rng, positives, decoys), rng)
    labels, inserted, new_files = planter.finish()
    sizes = {
        pkg: sum((root / pkg / rel).stat().st_size for rel in rels) for pkg, rels in chosen.items()
    }
    manifest = {
        "key": key,
        "seed": seed,
        "target_mb": target_mb,
        "packages": [
            {
                "ecosystem": eco,
                "name": name,
                "version": version,
                "files": len(chosen[tree_name(name, version)]),
                "bytes": sizes[tree_name(name, version)],
            }
            for eco, name, version in PACKAGES
        ],
        "files": sum(len(r) for r in chosen.values()) + len(new_files),
        "bytes": sum(p.stat().st_size for p in root.rglob("*") if p.is_file()),
        "planted_files": len(inserted),
        "new_files": len(new_files),
        "not_placed": dict(planter.failed),
        "positives": dict(Counter(lb.kind for lb in labels if lb.positive)),
        "decoys": dict(Counter(lb.kind for lb in labels if not lb.positive)),
        "hosts": dict(Counter(lb.host for lb in labels)),
    }
    (tmp / "labels.json").write_text(
        json.dumps(
            {
                "labels": [asdict(lb) for lb in labels],
                "inserted": {p: [list(r) for r in rs] for p, rs in inserted.items()},
                "new_files": new_files,
            },
            indent=1,
        )
    )
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    corpus = load(tmp)
    verify(corpus, trees)
    shutil.rmtree(home, ignore_errors=True)
    tmp.rename(home)
    return load(home)


def verify(corpus: Corpus, trees: dict[str, Path]) -> None:
    """The ground truth's line accounting, checked against the files once when built: every
    line of a planted-in file that is not planted is the pristine file's line
    ``pristine_line`` says, and every label's first line holds the planted value."""
    for path, ranges in corpus.inserted.items():
        package, _, rel = path.partition("/")
        pristine = (trees[package] / rel).read_text(encoding="utf-8").split("\n")
        planted = (corpus.root / path).read_text(encoding="utf-8").split("\n")
        if len(planted) != len(pristine) + sum(b - a + 1 for a, b in ranges):
            raise CorpusError(f"{path}: line count does not add up after planting")
        for number, text in enumerate(planted, 1):
            original = corpus.pristine_line(path, number)
            if original is not None and pristine[original - 1] != text:
                raise CorpusError(f"{path}:{number} is not pristine line {original}")
    for label in corpus.labels:
        lines = (corpus.root / label.path).read_text(encoding="utf-8").split("\n")
        block = "\n".join(lines[label.line - 1 : label.end_line])
        if label.kind != "reference" and label.preview not in block:
            raise CorpusError(f"{label.path}:{label.line}: the planted {label.kind} is not there")


def load(home: Path) -> Corpus:
    data = json.loads((home / "labels.json").read_text())
    return Corpus(
        root=home / "tree",
        labels=[Label(**lb) for lb in data["labels"]],
        inserted={p: [(a, b) for a, b in rs] for p, rs in data["inserted"].items()},
        new_files=data["new_files"],
        manifest=json.loads((home / "manifest.json").read_text()),
    )
