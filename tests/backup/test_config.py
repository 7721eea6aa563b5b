"""The backups section: mistakes are one FILE:LINE:COL line each, with the fix."""

from __future__ import annotations

import pytest

from lightkeeper.config import parse_config
from lightkeeper.errors import ConfigError

TARGETS = "  targets: {local: {type: local, path: /tmp/b}}\n"


def problems(jobs: str, targets: str = TARGETS) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"backups:\n{targets}  jobs:\n{jobs}", "lk.yaml", {})
    return caught.value.problems


@pytest.mark.parametrize(
    ("job", "where", "says"),
    [
        (
            "    - {name: db, type: postgres, dsn: x, target: local, retention: {tz: UTC}}\n",
            "lk.yaml:4:",
            "an empty retention policy would delete every backup",
        ),
        (
            "    - {name: db, type: postgres, dsn: x, target: offsite}\n",
            "lk.yaml:4:",
            "no target 'offsite' under backups.targets (targets: local)",
        ),
        (
            "    - {name: db, type: postgres, dsn: x, target: local, encrypt_to: [ssh-rsa AAA]}\n",
            "lk.yaml:4:",
            "is not an age public key",
        ),
        (
            "    - {name: db, type: postgres, dsn: x, target: local, encrypt_to: [age1abc]}\n",
            "lk.yaml:4:",
            "encrypted backups cannot be verified without the key",
        ),
        (
            "    - {name: db, type: mysql, dsn: x, target: local}\n",
            "lk.yaml:4:",
            "mysql",
        ),
        (
            "    - {name: db, type: postgres, dsn: x, target: local, schedule: 'every day'}\n",
            "lk.yaml:4:",
            "is not a cron schedule",
        ),
        (
            "    - {name: db, type: postgres, dsn: x, target: local}\n"
            "    - {name: db, type: files, path: /srv, target: local}\n",
            "lk.yaml:5:",
            "duplicate job name 'db'",
        ),
    ],
)
def test_mistakes_name_the_place_and_the_fix(job: str, where: str, says: str) -> None:
    found = problems(job)
    assert len(found) == 1, found
    assert found[0].startswith(where) and says in found[0], found[0]


def test_the_seed_policy_is_the_default() -> None:
    config = parse_config(
        f"backups:\n{TARGETS}  jobs:\n    - {{name: db, type: postgres, dsn: x, target: local}}\n",
        "lk.yaml",
        {},
    )
    policy = config.backups.jobs[0].retention
    assert (policy.keep_daily, policy.keep_weekly, policy.keep_monthly) == (7, 4, 12)
