"""Defects found in review, each pinned by a test that failed before its fix: history that
missed what merges wrote and bent to the user's git config, file names that are not UTF-8,
unreadable roots that read as clean, example comments that hid live keys, token formats
(Slack, GitLab, AWS) and look-alikes (Vercel and ElevenLabs ids, publishable keys, RFC 6749's
example), and scans quadratic in the length of one line or one token run."""

from __future__ import annotations

import base64
import io
import json
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lightkeeper.audit.output import render
from lightkeeper.audit.secrets import SecretOptions, scan_history, scan_paths, scan_secrets
from lightkeeper.audit.secrets.detect import detect
from tests.audit import test_secrets_tokens as t
from tests.audit.sarif_schema import validate
from tests.audit.test_secrets_history import ALICE, BOB, Repo

UPPER_ALNUM = string.ascii_uppercase + string.digits

# --- history: merges ----------------------------------------------------------------------


def test_history_reads_what_a_merge_wrote_and_only_that(tmp_path: Path) -> None:
    """git log shows merges with no diff by default, so a secret typed while resolving a
    conflict (or added in an "evil merge") was never seen. With --cc only the lines new
    against every parent are read: the side branch's own secret stays at its commit."""
    side_key, evil_key, octopus_key = (t.github("ghp", s) for s in ("side", "evil", "octopus"))
    repo = Repo(tmp_path / "repo")
    repo.commit({"app.py": "a = 1\n", "notes.txt": "n\n"}, ALICE, "2024-02-01T09:00:00+00:00")
    repo.git("checkout", "-q", "-b", "side")
    side = repo.commit(
        {"app.py": "a = 2\n", "side.py": f"KEY = '{side_key}'\n"}, BOB, "2024-02-02T09:00:00+00:00"
    )
    repo.git("checkout", "-q", "main")
    repo.commit({"app.py": "a = 3\n"}, ALICE, "2024-02-03T09:00:00+00:00")
    with pytest.raises(subprocess.CalledProcessError):  # app.py conflicts, so the
        repo.git("merge", "-q", "side")  # resolution below is the merge commit's own
    evil = repo.commit(
        {"app.py": f"a = 4\n\nTOKEN = '{evil_key}'\n"}, ALICE, "2024-02-04T09:00:00+00:00"
    )
    # An octopus merge (three parents: "+++" columns) that also writes a line of its own.
    for branch in ("x", "y"):
        repo.git("checkout", "-q", "-b", branch, "main")
        repo.commit({f"{branch}.txt": f"{branch}\n"}, BOB, "2024-02-05T09:00:00+00:00")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "--no-commit", "x", "y")
    octopus = repo.commit(
        {"notes.txt": f"n\nk = '{octopus_key}'\n"}, BOB, "2024-02-06T09:00:00+00:00"
    )
    assert len(repo.git("show", "-s", "--format=%P", octopus).split()) == 3

    report = scan_history(repo.path)
    found = [
        (f.properties["commit"], f.location.path, f.location.line, f.location.column)
        for f in report.findings
    ]
    assert found == [
        (side, "side.py", 1, 8),
        (evil, "app.py", 3, 10),
        (octopus, "notes.txt", 2, 6),
    ]


def test_history_ignores_user_git_config_that_reshapes_log_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """log.showRoot=false hid the first commit's diff (and every secret in it);
    diff.interHunkContext joins -U0 hunks with context lines, which the parser did not
    count, so later lines got wrong numbers."""
    first, second = t.github("ghp", "root-commit"), t.npm("inter-hunk")
    repo = Repo(tmp_path / "repo")
    root = repo.commit(
        {"a.py": f"K = '{first}'\n", "b.py": "one\ntwo\nthree\n"},
        ALICE,
        "2024-03-01T09:00:00+00:00",
    )
    later = repo.commit({"b.py": f"ONE\ntwo\nT = '{second}'\n"}, ALICE, "2024-03-02T09:00:00+00:00")
    home = tmp_path / "home-with-config"
    home.mkdir()
    (home / ".gitconfig").write_text("[log]\n\tshowRoot = false\n[diff]\n\tinterHunkContext = 3\n")
    monkeypatch.setenv("HOME", str(home))
    report = scan_history(repo.path)
    assert [
        (f.properties["commit"], f.location.path, f.location.line) for f in report.findings
    ] == [
        (root, "a.py", 1),
        (later, "b.py", 3),
    ]


def test_history_does_not_hold_a_huge_added_file_in_memory(tmp_path: Path) -> None:
    """Every added line of a file was kept as a str until the file ended, and only then
    skipped as too large: a 1 GB dump committed once cost gigabytes. Now the lines are
    dropped once the file passes max_file_size (12 MB here: ~27 MB of Python before)."""
    repo = Repo(tmp_path / "repo")
    line = t.rand(79, "dump-line")
    dump = "".join(line[i % 40 :] + line[: i % 40] + "\n" for i in range(150_000))
    repo.commit({"dump.sql": dump}, ALICE, "2024-03-01T09:00:00+00:00")
    tracemalloc.start()
    try:
        report = scan_history(repo.path, SecretOptions(max_file_size=1024 * 1024, jobs=1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.stats["skipped_large"] == 1 and report.stats["files"] == 0
    assert peak < 8 * 1024 * 1024, f"{peak / 1e6:.1f} MB"


def test_history_of_a_repository_another_user_owns_says_so(tmp_path: Path) -> None:
    """git refuses such a repository ("dubious ownership", CVE-2022-24765); the scan said
    "is not a git repository", which sends the reader the wrong way."""
    if os.geteuid() != 0:
        pytest.skip("giving the repository to another user needs root")
    repo = Repo(tmp_path / "repo")
    repo.commit({"a.txt": "a\n"}, ALICE, "2024-03-01T09:00:00+00:00")
    for p in [repo.path, *repo.path.rglob("*")]:
        os.chown(p, 65534, 65534, follow_symlinks=False)
    err = io.StringIO()
    assert scan_secrets(repo.path, history=True, stderr=err) == 3
    assert "git refuses to read it (dubious ownership)" in err.getvalue()
    assert f"safe.directory {repo.path.resolve()}" in err.getvalue()


# --- file names and unreadable paths -------------------------------------------------------


def test_file_names_that_are_not_utf8_reach_every_output(tmp_path: Path) -> None:
    """os.scandir keeps undecodable bytes as lone surrogates, which json.dumps to a UTF-8
    file and SARIF's URI quoting cannot encode: the command died with a traceback."""
    key = t.github("ghp", "latin1-name")
    name = os.fsdecode(b"caf\xe9.py")
    (tmp_path / name).write_text(f"K = '{key}'\n")
    report = scan_paths(tmp_path)
    assert [f.location.path for f in report.findings] == ["caf\ufffd.py"]
    for fmt in ("text", "json", "sarif"):
        body = render(report, fmt)  # type: ignore[arg-type]
        body.encode("utf-8")  # what --output and a UTF-8 stdout do
        assert key not in body
    out = tmp_path.parent / f"{tmp_path.name}.sarif"
    err = io.StringIO()
    assert scan_secrets(tmp_path, fmt="sarif", output=out, stderr=err) == 1, err.getvalue()
    validate(json.loads(out.read_text(encoding="utf-8")))
    # The single-file form names it the same way.
    assert [f.location.path for f in scan_paths(tmp_path / name).findings] == ["caf\ufffd.py"]


_UNPRIVILEGED_SCAN = """
import json, sys
from pathlib import Path
from lightkeeper.audit.secrets import ScanError, scan_paths
try:
    print(json.dumps(scan_paths(Path(sys.argv[1])).stats))
except ScanError as exc:
    print("ScanError: " + str(exc))
"""


@pytest.fixture
def readable_tmp() -> Iterator[Path]:
    """A directory any user can traverse (pytest's own tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="lk-perm-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def _scan_without_privileges(root: Path) -> str:
    """Scan as a user file permissions apply to: this one, or nobody when we are root
    (root reads every file whatever its mode)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop privileges")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        probe = [*prefix, sys.executable, "-c", "import lightkeeper.audit.secrets"]
        if subprocess.run(probe, capture_output=True, timeout=60, check=False).returncode:
            pytest.skip("user nobody cannot import lightkeeper from this checkout")
    command = [*prefix, sys.executable, "-c", _UNPRIVILEGED_SCAN, str(root)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_unreadable_paths_are_counted_and_an_unreadable_root_is_an_error(
    readable_tmp: Path,
) -> None:
    """A root that cannot be listed gave an empty report (exit 0, and a scheduled job's
    audit.last_result 1: "clean"); an unreadable subdirectory vanished from the stats."""
    (readable_tmp / "open").mkdir()
    (readable_tmp / "open" / "a.py").write_text("print('clean')\n")
    locked = readable_tmp / "locked"
    locked.mkdir()
    (locked / "b.py").write_text(f"K = '{t.github('ghp', 'locked')}'\n")
    secret_file = readable_tmp / "open" / "secret.py"
    secret_file.write_text("x = 1\n")
    locked.chmod(0o000)
    secret_file.chmod(0o000)
    try:
        stats = json.loads(_scan_without_privileges(readable_tmp))
        locked_root = _scan_without_privileges(locked)
        locked_file = _scan_without_privileges(secret_file)
    finally:
        locked.chmod(0o755)
        secret_file.chmod(0o644)
    assert stats["files"] == 1
    assert stats["skipped_unreadable"] == 2  # the locked directory and the locked file
    assert locked_root.startswith(f"ScanError: {locked} cannot be read (Permission denied)")
    assert "run the scan as a user who can list it" in locked_root
    assert locked_file.startswith(f"ScanError: {secret_file} cannot be read (Permission denied)")


def test_roots_that_are_neither_file_nor_directory_say_what_they_are(tmp_path: Path) -> None:
    link = tmp_path / "gone"
    link.symlink_to(tmp_path / "missing-target")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    err = io.StringIO()
    assert scan_secrets(link, stderr=err) == 3
    assert f"{link} is a broken symbolic link (to {tmp_path / 'missing-target'})" in err.getvalue()
    err = io.StringIO()
    assert scan_secrets(fifo, stderr=err) == 3
    assert "is neither a directory nor a regular file" in err.getvalue()
    assert "does not exist" not in err.getvalue()
    # --history on a file said the file "does not exist".
    (tmp_path / "app.py").write_text("x = 1\n")
    err = io.StringIO()
    assert scan_secrets(tmp_path / "app.py", history=True, stderr=err) == 3
    assert "app.py is a file: --history scans a git repository" in err.getvalue()


# --- detectors ----------------------------------------------------------------------------


def test_an_example_comment_does_not_hide_a_provider_token() -> None:
    """A comment saying "replace with …" or "your … here" made any line an example, so a
    live key with `# TODO replace with env var` (or a notebook's `# put your key here`
    beside a pasted real key) was dropped. Only values with no provider format are waived."""
    github, stripe = t.github("ghp", "comment"), t.stripe_live("comment")
    text = (
        f"GH = '{github}'  # TODO replace with os.environ\n"
        f"stripe.api_key = '{stripe}'  # your live key goes here\n"
        f"password = '{t.password('comment')}'  # replace with your own\n"
    )
    assert [(h.rule, h.line) for h in detect(text, "notebook.py")] == [
        ("github-token", 1),
        ("stripe-secret-key", 2),
    ]


def _slack_config_access() -> str:
    return "xoxe." + "xoxp-1-" + t.rand(164, "slack-config", t.B62)


def _slack_config_refresh() -> str:
    return "xoxe" + "-1-" + t.rand(146, "slack-refresh", UPPER_ALNUM)


def _slack_legacy_bot() -> str:
    return "xo" + "xb-" + t.rand(12, "legacy-bot", string.digits) + "-" + t.rand(24, "lb")


@pytest.mark.parametrize(
    "build",
    [_slack_config_access, _slack_config_refresh, _slack_legacy_bot],
    ids=["config-access", "config-refresh", "legacy-bot"],
)
def test_slack_token_formats_gitleaks_knows(build: Callable[[], str]) -> None:
    """Configuration tokens (xoxe.xoxp-1-…, xoxe-1-…) and legacy bot tokens (one numeric
    id) were rejected for lacking two numeric ids (gitleaks: slack-config-access-token,
    slack-config-refresh-token, slack-legacy-bot-token)."""
    token = build()
    hits = detect(f'SLACK_TOKEN = "{token}"\n', "bot.py")
    assert [(h.rule, h.secret) for h in hits] == [("slack-token", token)]
    assert token not in hits[0].preview


@pytest.mark.parametrize(
    "text",
    [
        # gitleaks' own false positives for these rules
        "xoxe." + "xoxp-1-SlackAppConfigurationAccessTokenHere",
        "xoxe." + "xoxp-1-RANDOMSTRINGHERE",
        "xoxe." + "xoxp-1-initial",
        "xoxe" + "-1-xxx",
        "xo" + "xb-12345-abcd234",
        "xo" + "xb-xoxb-my-bot-token",
        "xo" + "xb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx",
    ],
)
def test_slack_look_alikes_stay_quiet(text: str) -> None:
    assert detect(f"slack = '{text}'\n", "slack.py") == []


def test_gitlab_feature_flag_and_runner_registration_tokens() -> None:
    """GitLab's token-prefix table lists glffct- and GR1348941; neither was matched."""
    body = t.rand(20, "gitlab-more", t.URLSAFE)
    for token in ("glffct-" + body, "GR1348" + "941" + body):
        hits = detect(f"GITLAB = '{token}'\n", "ci.py")
        assert [(h.rule, h.secret) for h in hits] == [("gitlab-token", token)]
    assert detect("GITLAB = 'GR1348941XXXXXXXXXXXXXXXXXXXX'\n", "ci.py") == []


def test_aws_key_ids_are_base32() -> None:
    """An access key id's 16 characters after AKIA/ASIA are base32 (A-Z, 2-7); an id
    with 0, 1, 8 or 9 in them is some other upper-case identifier."""
    real = t.aws_id("base32")
    assert [h.rule for h in detect(f"id = '{real}'\n", "a.py")] == ["aws-access-key"]
    other = "AS" + "IA" + t.rand(12, "not-base32", string.ascii_uppercase) + "0189"
    assert detect(f"REGION_CODE = '{other}'\n", "a.py") == []


def test_vercel_and_elevenlabs_ids_beside_their_keyword_are_not_keys() -> None:
    """Vercel's deploy guide sets VERCEL_ORG_ID (team_<24>, or a 24-character user id) and
    VERCEL_PROJECT_ID beside VERCEL_TOKEN; both were reported as high "Vercel token"."""
    token = t.vercel_legacy("review-token")
    workflow = (
        "env:\n"
        f"  VERCEL_ORG_ID: team_{t.rand(24, 'team')}\n"
        f"  VERCEL_ORG_ID: {t.rand(24, 'user-id')}\n"
        f"  VERCEL_TOKEN: {token}\n"
    )
    assert [(h.rule, h.line, h.secret) for h in detect(workflow, "deploy.yml")] == [
        ("vercel-token", 4, token)
    ]
    settings = f'elevenlabs_model_id = "{t.rand(32, "model", t.HEX)}"\n'
    assert detect(settings, "tts.py") == []
    key = t.rand(32, "el-key", t.HEX)
    assert [h.secret for h in detect(f'ELEVENLABS_API_KEY = "{key}"\n', "tts.py")] == [key]


def test_publishable_keys_are_public_in_any_header_or_name() -> None:
    """A Stripe or Clerk publishable key sent as a Bearer token (or under a secret-sounding
    name) was reported as a hard-coded secret; those keys are meant for browser code."""
    for mode in ("live", "test"):
        publishable = "pk" + f"_{mode}_" + t.rand(24, f"pk-{mode}")
        text = (
            f'curl -H "Authorization: Bearer {publishable}" https://api.example.com/v1/me\n'
            f'const secretKey = "{publishable}";\n'
        )
        assert detect(text, "README.md") == []
    bearer = t.rand(24, "real-bearer")
    assert [h.secret for h in detect(f"Authorization: Bearer {bearer}\n", "README.md")] == [bearer]


def test_rfc6749_example_client_credentials_are_not_a_secret() -> None:
    """RFC 6749 §2.3.1/§4.3.2 send s6BhdRkqt3:gX1fBat3bV as HTTP Basic; oauthlib's
    docstrings (installed with requests-oauthlib) quote it."""
    example = base64.b64encode(b"s6BhdRkqt3:" + b"gX1fBat3bV").decode()
    assert detect(f"Authorization: Basic {example}\n", "clients/base.py") == []
    real = base64.b64encode(f"s6BhdRkqt3:{t.password('rfc-real')}".encode()).decode()
    assert [h.rule for h in detect(f"Authorization: Basic {real}\n", "c.py")] == ["generic-secret"]


# --- speed --------------------------------------------------------------------------------


def test_long_lines_and_token_runs_cost_linear_time() -> None:
    """Two quadratic paths: the generic rule's key pattern ran to the end of a token run
    at every keyword inside it (a 2 MB base64url blob: ~5 s), and keyword-window detectors
    searched the whole line for its ends at every hit (a 3 MB line: ~10 s). Both are now
    bounded by a window; the budget is ~20x what they take here on a loaded machine."""
    rng = random.Random("long-lines")
    blob = base64.urlsafe_b64encode(rng.randbytes(1_500_000)).decode()
    to_letters = bytes(string.ascii_letters.encode() * 5)[:256]
    letters = "/eyJ" + rng.randbytes(3_000_000).translate(to_letters).decode()
    started = time.perf_counter()
    assert detect('{"payload": "' + blob + '"}\n', "data.json") == []
    assert detect(letters, "dump.txt") == []
    assert time.perf_counter() - started < 3.0
