"""Scanning git history in a real repository built by the test: secrets added, removed,
re-added, copied into two files, spread over two branches, a merge, and a commit that only
a tag still reaches. Each secret must be reported once, at the commit that first added it,
with that commit's sha, author and date and its line in the file at that commit."""

from __future__ import annotations

import io
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from lightkeeper.audit.output import render
from lightkeeper.audit.secrets import (
    SecretOptions,
    SecretsAllow,
    scan_history,
    scan_paths,
    scan_secrets,
)
from lightkeeper.audit.secrets import history as history_module
from tests.audit import test_secrets_tokens as t
from tests.audit.sarif_schema import validate

ALICE = ("Alice Liddell", "alice@example.com")
BOB = ("Bob Tables", "bob@example.com")
CAROL = ("Carol Ng", "carol@example.com")
DAVE = ("Dave Null", "dave@example.com")

G = t.github("ghp", "history-github")
O = t.openai_project("history-openai")  # noqa: E741
A = t.anthropic("history-anthropic")
S = t.stripe_live("history-stripe")
N = t.npm("history-npm")
V = t.vercel("history-vercel")
ALL = {"G": G, "O": O, "A": A, "S": S, "N": N, "V": V}


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.home = path.parent / "home"
        self.home.mkdir(exist_ok=True)
        path.mkdir()
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, who: tuple[str, str] = ALICE, when: str = "") -> str:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": who[0],
            "GIT_AUTHOR_EMAIL": who[1],
            "GIT_COMMITTER_NAME": who[0],
            "GIT_COMMITTER_EMAIL": who[1],
        }
        if when:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when
        done = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def commit(self, files: dict[str, str | None], who: tuple[str, str], when: str) -> str:
        for name, text in files.items():
            target = self.path / name
            if text is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", f"change {', '.join(files)}", who=who, when=when)
        return self.git("rev-parse", "HEAD")


@dataclass(frozen=True)
class History:
    repo: Repo
    shas: dict[str, str]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    repo = Repo(tmp_path_factory.mktemp("history") / "repo")
    shas: dict[str, str] = {}
    shas["c1"] = repo.commit(
        {"app/config.py": f"import os\n\nTOKEN = '{G}'\n"}, ALICE, "2024-01-01T09:00:00+00:00"
    )
    shas["c2"] = repo.commit(
        {
            "app/config.py": "import os\n\nTOKEN = os.environ['TOKEN']\n",  # G removed
            "deploy.sh": f"#!/bin/sh\nset -e\n\n\nexport OPENAI_API_KEY={O}\n",
        },
        BOB,
        "2024-01-02T09:00:00+00:00",
    )
    repo.git("checkout", "-q", "-b", "feature")
    shas["c3"] = repo.commit(
        {
            "app/config.py": "import os\n\nTOKEN = os.environ['TOKEN']\n\n\n\n"
            f"FALLBACK = '{G}'\n",  # G re-added on another branch, line 7
            "a.txt": f"{A}\n",
            "b/c.txt": f"copy:\n{A}\n",  # the same secret in two files
        },
        CAROL,
        "2024-01-03T09:00:00+00:00",
    )
    repo.git("checkout", "-q", "main")
    shas["c4"] = repo.commit(
        {
            "later.txt": f"again {A}\n",  # already seen on the feature branch
            ".env.production": f"NODE_ENV=production\nSTRIPE_SECRET_KEY={S}\n",
            # inserted as line 3 of an existing file: the hunk header gives the number
            "deploy.sh": "#!/bin/sh\nset -e\n"
            f"npm config set //registry.npmjs.org/:_authToken={N}\n\n\n"
            f"export OPENAI_API_KEY={O}\n",
        },
        ALICE,
        "2024-01-04T09:00:00+00:00",
    )
    shas["c5"] = repo.commit({".env.production": None}, BOB, "2024-01-05T09:00:00+00:00")
    repo.git("checkout", "-q", "-b", "tmp")
    shas["c6"] = repo.commit({"vault.txt": f"{V}\n"}, DAVE, "2024-01-06T09:00:00+00:00")
    repo.git("tag", "leaked")
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-q", "-D", "tmp")  # only the tag reaches c6 now
    repo.git(
        "merge", "-q", "--no-ff", "-m", "merge feature", "feature", when="2024-01-07T09:00:00+00:00"
    )
    return History(repo, shas)


def rows(report_findings: list) -> list[tuple[str, str, int, str, str, str]]:  # type: ignore[type-arg]
    return [
        (
            f.properties["commit"],
            f.location.path,
            f.location.line,
            f.rule,
            f.properties["author"],
            f.properties["date"],
        )
        for f in report_findings
    ]


def test_each_secret_once_at_its_first_commit(history: History) -> None:
    sha = history.shas
    report = scan_history(history.repo.path)
    assert rows(report.findings) == [
        (sha["c1"], "app/config.py", 3, "github-token", ALICE[0], "2024-01-01T09:00:00+00:00"),
        (sha["c2"], "deploy.sh", 5, "openai-api-key", BOB[0], "2024-01-02T09:00:00+00:00"),
        (sha["c3"], "a.txt", 1, "anthropic-api-key", CAROL[0], "2024-01-03T09:00:00+00:00"),
        (
            sha["c4"],
            ".env.production",
            2,
            "stripe-secret-key",
            ALICE[0],
            "2024-01-04T09:00:00+00:00",
        ),
        (sha["c4"], "deploy.sh", 3, "npm-token", ALICE[0], "2024-01-04T09:00:00+00:00"),
        (sha["c6"], "vault.txt", 1, "vercel-token", DAVE[0], "2024-01-06T09:00:00+00:00"),
    ]
    first = report.findings[0]
    assert first.properties["email"] == ALICE[1]
    assert first.location.column == 10
    assert f"(commit {sha['c1'][:10]}, {ALICE[0]}, 2024-01-01)" in first.message
    assert report.stats["commits"] == 7  # six commits and the merge
    assert report.stats["files"] >= 8


def test_since_limits_to_later_commits(history: History) -> None:
    sha = history.shas
    report = scan_history(history.repo.path, since=sha["c2"])
    assert [(c, p, line, r) for c, p, line, r, _, _ in rows(report.findings)] == [
        (sha["c3"], "a.txt", 1, "anthropic-api-key"),  # git orders a.txt before app/
        (sha["c3"], "app/config.py", 7, "github-token"),  # first seen after c2: re-added
        (sha["c4"], ".env.production", 2, "stripe-secret-key"),
        (sha["c4"], "deploy.sh", 3, "npm-token"),
        (sha["c6"], "vault.txt", 1, "vercel-token"),
    ]
    # main (after the merge) reaches every commit but c6, which only the tag reaches.
    after_main = scan_history(history.repo.path, since="main")
    assert [(c, r) for c, _, _, r, _, _ in rows(after_main.findings)] == [
        (sha["c6"], "vercel-token")
    ]


def test_fingerprints_match_file_scans_and_baselines_apply(
    history: History, tmp_path: Path
) -> None:
    (tmp_path / "copy.py").write_text(f"TOKEN = '{G}'\n")
    file_scan = scan_paths(tmp_path)
    report = scan_history(history.repo.path)
    assert file_scan.findings[0].fingerprint == report.findings[0].fingerprint
    known = frozenset(f.fingerprint for f in file_scan.findings)
    again = scan_history(history.repo.path, SecretOptions(baseline=known))
    assert [f.rule for f in again.findings] == [f.rule for f in report.findings[1:]]
    assert again.stats["suppressed_baseline"] == 1
    allowed = scan_history(
        history.repo.path,
        SecretOptions(allow=SecretsAllow(rules=["vercel-token"], paths=["a.txt"])),
    )
    # a.txt is exempt, so the anthropic key is first reported where it next appears.
    assert [(f.location.path, f.rule) for f in allowed.findings][2] == (
        "b/c.txt",
        "anthropic-api-key",
    )
    assert "vercel-token" not in {f.rule for f in allowed.findings}


def test_parallel_history_equals_serial(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = scan_history(history.repo.path, SecretOptions(jobs=1))
    monkeypatch.setattr(history_module, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(history_module, "BATCH_FILES", 1)
    seen: list[tuple[int, int | None]] = []
    pooled = scan_history(
        history.repo.path, SecretOptions(jobs=2, progress=lambda d, n: seen.append((d, n)))
    )
    assert [f.as_json() for f in pooled.findings] == [f.as_json() for f in serial.findings]
    assert seen[-1] == (7, 7)


def test_history_outputs_never_hold_a_secret(history: History) -> None:
    report = scan_history(history.repo.path)
    for fmt in ("text", "json", "sarif"):
        body = render(report, fmt)  # type: ignore[arg-type]
        for name, secret in ALL.items():
            assert secret not in body, (fmt, name)
    validate(json.loads(render(report, "sarif")))


def test_command_history_exit_codes(history: History, tmp_path: Path) -> None:
    out = io.StringIO()
    assert scan_secrets(history.repo.path, history=True, fmt="json", stdout=out) == 1
    assert len(json.loads(out.getvalue())["findings"]) == 6
    err = io.StringIO()
    assert scan_secrets(tmp_path, history=True, stderr=err) == 3
    assert "is not a git repository" in err.getvalue()
    err = io.StringIO()
    assert scan_secrets(history.repo.path, since="no-such-branch", stderr=err) == 3
    assert "unknown revision 'no-such-branch'" in err.getvalue()
    # A revision that looks like an option is a revision, never an option of git's.
    err = io.StringIO()
    assert scan_secrets(history.repo.path, since=f"--output={tmp_path}/x", stderr=err) == 3
    assert not (tmp_path / "x").exists()
    out = io.StringIO()
    assert scan_secrets(history.repo.path, since="main", stdout=out) == 1
    out = io.StringIO()
    allow = SecretsAllow(rules=["vercel-token"])
    assert scan_secrets(history.repo.path, since="main", allow=allow, stdout=out) == 0
    assert out.getvalue().strip() == "0 secrets"


def test_empty_repository_has_nothing(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "empty")
    report = scan_history(repo.path)
    assert report.findings == [] and report.stats["commits"] == 0
