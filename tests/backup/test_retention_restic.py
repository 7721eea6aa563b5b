"""decide() against the real ``restic forget --dry-run`` on the same timestamps.

A restic repository in tmp gets the same ~55 instants of 2025 (every 5 days and a bit, a
month-long gap, one on the edge of ``keep_within``) three times over, as hosts in Europe/London,
Australia/Sydney and America/Los_Angeles: ``restic backup --time`` takes a wall-clock time
in the zone of ``TZ`` and stores it with that offset, and ``forget`` buckets by that stored
wall clock (restic#2233) — the policy zone of the comparison. For each policy and zone the
kept set and each backup's rules must be the same.

Restic before 0.16 (Debian 12 ships 0.14) has no oldest-snapshot rule and no ``unlimited``;
there, backups we keep only by the oldest rule are expected to go, and ``-1`` is not asked.

Two things keep it fast: restic calibrates scrypt to ~0.5 s of CPU per command, so the key
file is re-wrapped with small scrypt parameters (same password, same master key); and
restic waits 200 ms after taking a lock, so backups run in 8 copies of the repository at
once, whose content-addressed files are then merged into one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lightkeeper.backup.retention import Backup, RetentionPolicy, decide

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("restic") is None, reason="restic not installed"),
]

PASSWORD = "lightkeeper-retention"
HOSTS = {"london": "Europe/London", "sydney": "Australia/Sydney", "la": "America/Los_Angeles"}
WORKERS = 8

POLICIES = [
    pytest.param({"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12}, id="seed-7d-4w-12m"),
    pytest.param({"keep_last": 3, "keep_hourly": 5, "keep_yearly": 3}, id="last-hourly-yearly"),
    pytest.param({"keep_weekly": 10, "keep_monthly": 3}, id="10w-3m"),
    pytest.param({"keep_daily": 40}, id="40-daily"),
    pytest.param({"keep_within": "240d"}, id="within-240d-across-dst"),
    pytest.param({"keep_within": "10d2h", "keep_daily": 3}, id="within-10d2h-3d"),
    pytest.param({"keep_monthly": "unlimited"}, id="monthly-unlimited"),
]


def _instants() -> list[float]:
    """The same UTC instants for every zone, minus any that is ambiguous or skipped on
    some zone's wall clock (``--time`` is a wall-clock time, so it could not say which)."""
    first = datetime(2025, 1, 2, 23, 20, tzinfo=UTC)
    step = timedelta(days=5, hours=1, minutes=7)
    newest = datetime(2025, 10, 20, 11, 0, tzinfo=UTC)
    times = [first + k * step for k in range(60) if not 20 <= k < 26]  # a month-long gap
    times = [t for t in times if t < newest]
    # 240 calendar days before the newest is 22 Feb 12:00 UTC in London and Los Angeles
    # (summer time in October, winter time in February), 11:00 UTC in Sydney (summer time
    # at both ends): 11:30 is inside only for Sydney; 240 × 24 h would put it inside for all.
    times += [newest, datetime(2025, 2, 22, 11, 30, tzinfo=UTC)]
    return sorted(t.timestamp() for t in times if all(_unambiguous(t, z) for z in HOSTS.values()))


def _unambiguous(t: datetime, zone: str) -> bool:
    wall = t.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    readings = {wall.replace(tzinfo=ZoneInfo(zone), fold=f).timestamp() for f in (0, 1)}
    return readings == {t.timestamp()}


def _restic(repo: Path, *args: str, tz: str = "UTC") -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(repo.parent),
        "TZ": tz,
        "RESTIC_PASSWORD": PASSWORD,
        "RESTIC_REPOSITORY": str(repo),
    }
    done = subprocess.run(
        ["restic", "--no-cache", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _weaken_key(repo: Path) -> None:
    """Re-wrap the master key with scrypt N=1024, r=1, p=1 (restic's key-file format:
    base64 of IV ‖ AES-256-CTR ciphertext ‖ Poly1305-AES tag, keys from scrypt)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.poly1305 import Poly1305

    def keys(doc: dict[str, object]) -> tuple[bytes, bytes, bytes]:
        derived = hashlib.scrypt(
            PASSWORD.encode(),
            salt=base64.b64decode(str(doc["salt"])),
            n=int(str(doc["N"])),
            r=int(str(doc["r"])),
            p=int(str(doc["p"])),
            maxmem=2**31 - 1,
            dklen=64,
        )
        return derived[:32], derived[32:48], derived[48:]

    def tag(k: bytes, r: bytes, iv: bytes, data: bytes) -> bytes:
        aes = Cipher(algorithms.AES(k), modes.ECB()).encryptor()  # noqa: S305 — one block
        return Poly1305.generate_tag(r + aes.update(iv) + aes.finalize(), data)

    (path,) = (repo / "keys").iterdir()
    doc = json.loads(path.read_text())
    enc, k, r = keys(doc)
    blob = base64.b64decode(doc["data"])
    iv, sealed, mac = blob[:16], blob[16:-16], blob[-16:]
    assert tag(k, r, iv, sealed) == mac, "not restic's key format"
    plain = Cipher(algorithms.AES(enc), modes.CTR(iv)).decryptor().update(sealed)

    doc.update(N=1024, r=1, p=1)
    enc, k, r = keys(doc)
    iv = os.urandom(16)
    sealed = Cipher(algorithms.AES(enc), modes.CTR(iv)).encryptor().update(plain)
    doc["data"] = base64.b64encode(iv + sealed + tag(k, r, iv, sealed)).decode()
    path.chmod(0o600)
    path.write_text(json.dumps(doc))


@dataclass
class Repo:
    path: Path
    version: tuple[int, int]
    backups: dict[str, list[Backup]]  # by host; ids are restic's snapshot ids


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    base = tmp_path_factory.mktemp("restic")
    main = base / "repo"
    _restic(main, "init")
    _weaken_key(main)
    payload = base / "payload.txt"
    payload.write_text("a small file\n")

    instants = _instants()
    jobs = [(host, zone, t) for host, zone in HOSTS.items() for t in instants]
    clones = [base / f"clone{w}" for w in range(WORKERS)]
    for clone in clones:
        shutil.copytree(main, clone)

    def work(w: int) -> None:
        for host, zone, t in jobs[w::WORKERS]:
            wall = datetime.fromtimestamp(t, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")
            _restic(
                clones[w], "backup", "-q", "--host", host, "--time", wall, str(payload), tz=zone
            )

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(work, range(WORKERS)))
    for clone in clones:  # every file is named by its content's hash: a union is a merge
        for part in ("data", "index", "snapshots"):
            shutil.copytree(clone / part, main / part, dirs_exist_ok=True)

    found: dict[str, list[Backup]] = {host: [] for host in HOSTS}
    for sn in json.loads(_restic(main, "--no-lock", "snapshots", "--json")):
        found[sn["hostname"]].append(Backup(sn["id"], _epoch(sn["time"])))
    for host, listed in found.items():
        assert sorted(b.time for b in listed) == instants, f"{host}: restic stored other times"

    match = re.search(r"restic (\d+)\.(\d+)", _restic(main, "version"))
    assert match is not None
    return Repo(main, (int(match[1]), int(match[2])), found)


def _epoch(text: str) -> float:
    """restic's RFC 3339 time (nanoseconds, offset) as epoch seconds."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


def _rule(reason: str) -> str:
    """'daily #3 (2025-11-02)', 'oldest daily #7 (…)', 'daily snapshot', 'oldest daily
    snapshot' → 'daily'; 'within 60d' → 'within'."""
    return reason.removeprefix("oldest ").split()[0]


def _flags(rules: dict[str, object]) -> list[str]:
    return [f for k, v in rules.items() for f in (f"--{k.replace('_', '-')}", str(v))]


@pytest.mark.parametrize("rules", POLICIES)
def test_restic_keeps_what_decide_keeps(repo: Repo, rules: dict[str, object]) -> None:
    has_oldest_rule = repo.version >= (0, 16)
    if "unlimited" in rules.values() and not has_oldest_rule:
        pytest.skip(f"restic {repo.version} reads -1/unlimited as 'no rule' (restic#2565)")
    answers = set()
    for host, zone in HOSTS.items():
        # forget in the same zone, so that --keep-within's days are that zone's calendar days
        out = _restic(repo.path, "--no-lock", "forget", "--dry-run", "--json", "--host", host,
                      *_flags(rules), tz=zone)  # fmt: skip
        (group,) = json.loads(out)
        ids = {_epoch(s["time"]): s["id"] for s in group["keep"]}
        theirs = {ids[_epoch(r["snapshot"]["time"])]: {_rule(m) for m in r["matches"]}
                  for r in group["reasons"]}  # fmt: skip

        policy = RetentionPolicy.model_validate({**rules, "tz": zone})
        ours: dict[str, set[str]] = {}
        for d in decide(policy, repo.backups[host]):
            kept_by = {_rule(r) for r in d.reasons if has_oldest_rule or not r.startswith("oldest")}
            if kept_by:
                ours[d.backup.id] = kept_by
        assert ours == theirs, f"{host} ({zone})"
        answers.add(frozenset(ours))
    if rules == {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12}:
        assert len(answers) > 1, "the zones should not all agree, or the test proves little"
