"""Lock file parsing: the real lock files in ``lockfiles/`` (see its README for how each was
made), small generated ones for older or rarer shapes, corrupt files, and discovery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightkeeper.audit.deps.lockfiles import LockfileError, Package, Parsed, discover, parse

FIXTURES = Path(__file__).parent / "lockfiles"


def line_of(path: Path, needle: str, whole: bool = False) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if (line == needle) if whole else (needle in line):
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def pick(parsed: Parsed, name: str, version: str | None = None) -> Package:
    found = [
        p for p in parsed.packages if p.name == name and (version is None or p.version == version)
    ]
    assert len(found) == 1, (name, version, found)
    return found[0]


def facts(p: Package) -> tuple[str, str, str, bool, bool]:
    return (p.ecosystem, p.name, p.version, p.direct, p.dev)


# ---- npm ----


def test_package_lock_v3() -> None:
    path = FIXTURES / "npm-v3" / "package-lock.json"
    parsed = parse(path)
    assert len(parsed.packages) == 83 and not parsed.unchecked
    lodash = pick(parsed, "lodash")
    assert facts(lodash) == ("npm", "lodash", "4.17.15", True, False)
    assert lodash.line == line_of(path, '"node_modules/lodash": {')
    assert lodash.location == "node_modules/lodash"
    # the alias "next-auth-stub": "npm:minimist@1.2.5" is the real package minimist
    alias = pick(parsed, "minimist", "1.2.5")
    assert (alias.direct, alias.dev, alias.location) == (True, False, "node_modules/next-auth-stub")
    assert facts(pick(parsed, "minimist", "1.2.8")) == ("npm", "minimist", "1.2.8", True, True)
    assert facts(pick(parsed, "@babel/traverse")) == (
        "npm",
        "@babel/traverse",
        "8.0.0-alpha.2",
        True,
        True,
    )
    assert facts(pick(parsed, "express")) == ("npm", "express", "5.0.0-beta.1", True, False)
    # a transitive production dependency of express, and a transitive dev one of babel
    assert facts(pick(parsed, "path-to-regexp")) == ("npm", "path-to-regexp", "3.2.0", False, False)
    assert facts(pick(parsed, "@babel/types")) == ("npm", "@babel/types", "8.0.0-rc.4", False, True)


def test_package_lock_v2_with_workspace_and_nesting() -> None:
    path = FIXTURES / "npm-v2-workspaces" / "package-lock.json"
    parsed = parse(path)
    assert json.loads(path.read_text())["lockfileVersion"] == 2
    nested = pick(parsed, "minimist", "0.0.8")
    assert nested.location == "node_modules/mkdirp/node_modules/minimist"
    assert (nested.direct, nested.dev) == (False, False)
    assert nested.line == line_of(path, '"node_modules/mkdirp/node_modules/minimist": {')
    assert pick(parsed, "minimist", "1.2.8").direct
    # declared by the workspace packages/api, hoisted to the root node_modules
    assert facts(pick(parsed, "jsonwebtoken")) == ("npm", "jsonwebtoken", "8.5.1", True, False)
    assert facts(pick(parsed, "ws")) == ("npm", "ws", "7.4.0", True, False)
    assert facts(pick(parsed, "follow-redirects"))[3] is True  # optionalDependencies
    assert facts(pick(parsed, "braces")) == ("npm", "braces", "3.0.2", True, True)
    assert facts(pick(parsed, "fill-range")) == ("npm", "fill-range", "7.1.1", False, True)
    # the workspace link and the workspace folder are the project, not registry packages
    assert not [p for p in parsed.packages if p.name in ("@ops/api", "api")]


def test_package_lock_v1(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(
        json.dumps({"dependencies": {"mkdirp": "0.5.1"}, "devDependencies": {"tape": "4.0.0"}})
    )
    lock = {
        "name": "old-app",
        "lockfileVersion": 1,
        "requires": True,
        "dependencies": {
            "mkdirp": {
                "version": "0.5.1",
                "requires": {"minimist": "0.0.8"},
                "dependencies": {"minimist": {"version": "0.0.8"}},
            },
            "minimist": {"version": "1.2.0", "dev": True},
            "tape": {"version": "4.0.0", "dev": True},
            "my-fork": {"version": "github:me/my-fork#0f1e2d3c"},
            "cjs": {"version": "npm:string-width@4.2.3"},
        },
    }
    path = tmp_path / "package-lock.json"
    path.write_text(json.dumps(lock, indent=2))
    parsed = parse(path)
    nested = pick(parsed, "minimist", "0.0.8")
    assert (nested.direct, nested.location) == (False, "node_modules/mkdirp/node_modules/minimist")
    assert nested.line == 12  # the nested "minimist": { line, not the "requires" one
    assert facts(pick(parsed, "mkdirp")) == ("npm", "mkdirp", "0.5.1", True, False)
    assert facts(pick(parsed, "tape")) == ("npm", "tape", "4.0.0", True, True)
    assert facts(pick(parsed, "string-width")) == ("npm", "string-width", "4.2.3", False, False)
    assert [(u.name, u.reason) for u in parsed.unchecked] == [("my-fork", "not a registry version")]


def test_package_lock_git_and_file_sources_are_not_checked(tmp_path: Path) -> None:
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "": {"dependencies": {"a": "github:o/a", "b": "file:../b.tgz", "c": "^1"}},
            "node_modules/a": {
                "version": "1.0.0",
                "resolved": "git+ssh://git@github.com/o/a.git#abc",
            },
            "node_modules/b": {"version": "2.0.0", "resolved": "file:../b.tgz"},
            "node_modules/c": {
                "version": "1.1.0",
                "resolved": "https://registry.npmjs.org/c/-/c-1.1.0.tgz",
            },
            "node_modules/d": {"resolved": "https://example.com/d.tgz"},
        },
    }
    path = tmp_path / "package-lock.json"
    path.write_text(json.dumps(lock, indent=2))
    parsed = parse(path)
    assert [p.name for p in parsed.packages] == ["c"]
    assert sorted((u.name, u.reason) for u in parsed.unchecked) == [
        ("a", "git source, not a registry release"),
        ("b", "local file source, not a registry release"),
        ("d", "no version recorded"),
    ]


# ---- pnpm ----


def test_pnpm_lock_v9() -> None:
    path = FIXTURES / "pnpm-v9" / "pnpm-lock.yaml"
    parsed = parse(path)
    next_ = pick(parsed, "next")
    assert facts(next_) == ("npm", "next", "14.1.0", True, False)
    assert next_.line == line_of(path, "  next@14.1.0:")
    # importers give versions with peer suffixes: react-dom 18.2.0(react@18.2.0)
    assert facts(pick(parsed, "react-dom")) == ("npm", "react-dom", "18.2.0", True, False)
    # v9 has no dev flag: dev is computed from the importers' devDependencies
    assert facts(pick(parsed, "cross-spawn")) == ("npm", "cross-spawn", "7.0.3", True, True)
    assert facts(pick(parsed, "which")) == ("npm", "which", "2.0.2", False, True)
    assert facts(pick(parsed, "busboy")) == ("npm", "busboy", "1.6.0", False, False)
    assert facts(pick(parsed, "@next/env")) == ("npm", "@next/env", "14.1.0", False, False)


def test_pnpm_lock_v6() -> None:
    path = FIXTURES / "pnpm-v6" / "pnpm-lock.yaml"
    parsed = parse(path)
    assert facts(pick(parsed, "express")) == ("npm", "express", "4.18.2", True, False)
    assert facts(pick(parsed, "tar")) == ("npm", "tar", "6.1.0", True, True)
    assert facts(pick(parsed, "chownr")) == ("npm", "chownr", "2.0.0", False, True)
    p2r = pick(parsed, "path-to-regexp")
    assert facts(p2r) == ("npm", "path-to-regexp", "0.1.7", False, False)
    assert p2r.line == line_of(path, "  /path-to-regexp@0.1.7:")
    # "/react-dom@18.2.0(react@18.2.0)" — the peer suffix is not part of the version
    assert facts(pick(parsed, "react-dom")) == ("npm", "react-dom", "18.2.0", True, False)


def test_pnpm_lock_v5_workspace_alias_and_links(tmp_path: Path) -> None:
    text = """lockfileVersion: 5.4

importers:
  .:
    specifiers:
      lodash: ^4.17.15
      shared: workspace:*
    dependencies:
      lodash: 4.17.15
      react-dom: 18.2.0_react@18.2.0
      shared: link:packages/shared
  packages/shared:
    specifiers:
      '@types/node': ^18
      cjs: npm:string-width@4
    devDependencies:
      '@types/node': 18.0.0
      cjs: /string-width/4.2.3

packages:

  /lodash/4.17.15:
    resolution: {integrity: sha512-x}
    dev: false

  /react-dom/18.2.0_react@18.2.0:
    resolution: {integrity: sha512-w}
    dev: false

  /@types/node/18.0.0:
    resolution: {integrity: sha512-y}
    dev: true

  /string-width/4.2.3:
    resolution: {integrity: sha512-z}
    dev: true

  /local-thing/1.0.0:
    resolution: {directory: ../local-thing, type: directory}
    name: local-thing
    version: 1.0.0
    dev: false
"""
    path = tmp_path / "pnpm-lock.yaml"
    path.write_text(text)
    parsed = parse(path)
    assert facts(pick(parsed, "lodash")) == ("npm", "lodash", "4.17.15", True, False)
    assert facts(pick(parsed, "react-dom")) == ("npm", "react-dom", "18.2.0", True, False)
    assert facts(pick(parsed, "@types/node")) == ("npm", "@types/node", "18.0.0", True, True)
    assert facts(pick(parsed, "string-width")) == ("npm", "string-width", "4.2.3", True, True)
    assert pick(parsed, "lodash").line == line_of(path, "/lodash/4.17.15:")
    assert [(u.name, u.reason) for u in parsed.unchecked] == [
        ("local-thing", "directory source, not a registry release")
    ]


# ---- yarn ----


def test_yarn_classic() -> None:
    path = FIXTURES / "yarn-classic" / "yarn.lock"
    parsed = parse(path)
    assert facts(pick(parsed, "minimist")) == ("npm", "minimist", "1.2.5", True, False)
    assert pick(parsed, "minimist").line == line_of(path, "minimist@1.2.5:")
    assert facts(pick(parsed, "@babel/traverse")) == (
        "npm",
        "@babel/traverse",
        "7.23.0",
        True,
        True,
    )
    assert facts(pick(parsed, "@babel/types")) == ("npm", "@babel/types", "7.29.15", False, True)
    # "string-width-cjs@npm:string-width@^4.2.0" is string-width, a direct dependency
    assert facts(pick(parsed, "string-width")) == ("npm", "string-width", "4.2.3", True, False)
    assert facts(pick(parsed, "follow-redirects"))[3:] == (False, False)  # via axios


def test_yarn_classic_without_package_json(tmp_path: Path) -> None:
    text = """# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.
# yarn lockfile v1


"@scope/app-util@^1.0.0", "@scope/app-util@^1.1.0":
  version "1.1.2"
  resolved "https://registry.yarnpkg.com/@scope/app-util/-/app-util-1.1.2.tgz#abc"
  integrity sha512-abc==
  dependencies:
    minimist "^1.2.0"

minimist@^1.2.0:
  version "1.2.5"
  resolved "https://registry.yarnpkg.com/minimist/-/minimist-1.2.5.tgz"

"my-lib@git+https://github.com/o/my-lib.git#v1":
  version "1.0.0"
  resolved "git+https://github.com/o/my-lib.git#0a1b2c"
"""
    path = tmp_path / "yarn.lock"
    path.write_text(text)
    parsed = parse(path)
    # without package.json, the entries nothing depends on are the direct ones
    util = pick(parsed, "@scope/app-util")
    assert (util.version, util.direct, util.line) == ("1.1.2", True, 5)
    assert pick(parsed, "minimist").direct is False
    assert pick(parsed, "my-lib").direct is True


def test_yarn_berry() -> None:
    path = FIXTURES / "yarn-berry" / "yarn.lock"
    parsed = parse(path)
    lodash = pick(parsed, "lodash")
    assert facts(lodash) == ("npm", "lodash", "4.17.19", True, False)
    assert lodash.line == line_of(path, '"lodash@npm:4.17.19":')
    # the alias resolves to ws@npm:8.17.0
    assert facts(pick(parsed, "ws")) == ("npm", "ws", "8.17.0", True, False)
    assert facts(pick(parsed, "semver")) == ("npm", "semver", "6.3.0", True, True)
    assert not [p for p in parsed.packages if p.name == "docs-site"]  # the workspace itself


def test_yarn_berry_protocols(tmp_path: Path) -> None:
    text = """__metadata:
  version: 8
  cacheKey: 10

"app@workspace:.":
  version: 0.0.0-use.local
  resolution: "app@workspace:."
  dependencies:
    resolve: "patch:resolve@npm%3A^1.22.1#~builtin<compat/resolve>"
    tool: "github:o/tool#main"
  languageName: unknown
  linkType: soft

"resolve@patch:resolve@npm%3A^1.22.1#~builtin<compat/resolve>":
  version: 1.22.1
  resolution: "resolve@patch:resolve@npm%3A1.22.1#~builtin<compat/resolve>::version=1.22.1&hash=c3c19d"
  languageName: node
  linkType: hard

"tool@github:o/tool#main":
  version: 2.0.0
  resolution: "tool@https://github.com/o/tool.git#commit=abc"
  languageName: node
  linkType: hard
"""
    path = tmp_path / "yarn.lock"
    path.write_text(text)
    parsed = parse(path)
    assert facts(pick(parsed, "resolve")) == ("npm", "resolve", "1.22.1", True, False)
    assert [(u.name, u.reason) for u in parsed.unchecked] == [
        ("tool", "https source, not a registry release")
    ]


# ---- Python ----


def test_requirements_compiled() -> None:
    path = FIXTURES / "pip" / "requirements.txt"
    parsed = parse(path)
    assert len(parsed.packages) == 10 and not parsed.unchecked
    django = pick(parsed, "django")
    assert facts(django) == ("PyPI", "django", "3.2.12", True, False)  # via -r requirements.in
    assert django.line == line_of(path, "django==3.2.12")
    assert facts(pick(parsed, "urllib3")) == (
        "PyPI",
        "urllib3",
        "1.26.20",
        False,
        False,
    )  # via requests
    assert pick(parsed, "requests").direct is True


def test_requirements_by_hand() -> None:
    path = FIXTURES / "pip" / "requirements-dev.txt"
    parsed = parse(path)
    # -r requirements.txt is read, and its packages keep their own file and lines
    assert any(p.file.name == "requirements.txt" and p.name == "django" for p in parsed.packages)
    assert [f.name for f in parsed.files] == ["requirements-dev.txt", "requirements.txt"]
    own = {p.name: p for p in parsed.packages if p.file.name == "requirements-dev.txt"}
    assert {n: (p.version, p.dev, p.line) for n, p in own.items()} == {
        "PyYAML": ("5.3.1", True, line_of(path, "PyYAML===5.3.1")),
        "ecdsa": ("0.18.0", True, line_of(path, "ecdsa == 0.18.0")),
        "Werkzeug": ("2.3.0", True, line_of(path, "Werkzeug[watchdog]")),  # a continuation
    }
    assert pick(parsed, "django").dev is False  # requirements.txt is not a dev file
    assert sorted((u.name, u.spec, u.reason) for u in parsed.unchecked) == [
        ("./libs/shared-utils", "", "editable install, not pinned"),
        ("flask", "<3,>=2.2", "not pinned, not checked"),
        (
            "jinja2",
            "@ https://github.com/pallets/jinja/archive/refs/tags/3.1.2.zip",
            "direct URL, not pinned",
        ),
        ("pillow", "==10.2.*", "not pinned, not checked"),
        ("setuptools", "(any version)", "not pinned, not checked"),
    ]


def test_requirements_comments_and_continuations(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# comment\n"
        "requests==2.28.0  # trailing comment\n"
        "urllib3==1.26.5 ; python_version >= '3.6'  # a marker\n"
        "idna==3.3 \\\n"
        "    # continuation joins before comments are stripped (pip #7780)\n"
        "certifi==2022.12.7\n"
        "--requirement=other.txt\n"
    )
    (tmp_path / "other.txt").write_text("Django==3.2.12\n")
    parsed = parse(path)
    got = sorted((p.name, p.version, p.line, p.file.name) for p in parsed.packages)
    assert got == [
        ("Django", "3.2.12", 1, "other.txt"),
        ("certifi", "2022.12.7", 6, "requirements.txt"),
        ("idna", "3.3", 4, "requirements.txt"),
        ("requests", "2.28.0", 2, "requirements.txt"),
        ("urllib3", "1.26.5", 3, "requirements.txt"),
    ]


def test_poetry_lock() -> None:
    path = FIXTURES / "poetry" / "poetry.lock"
    parsed = parse(path)
    assert facts(pick(parsed, "django")) == ("PyPI", "django", "4.2.2", True, False)
    assert facts(pick(parsed, "setuptools")) == ("PyPI", "setuptools", "65.5.0", True, True)
    assert facts(pick(parsed, "markupsafe")) == ("PyPI", "markupsafe", "2.1.3", False, False)
    assert pick(parsed, "werkzeug").line == line_of(path, 'name = "werkzeug"', whole=True) - 1


def test_poetry_lock_old_format_without_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "poetry.lock"
    path.write_text(
        '[[package]]\nname = "flask"\nversion = "2.2.4"\ncategory = "main"\noptional = false\n\n'
        '[package.dependencies]\nJinja2 = ">=3.0"\n\n'
        '[[package]]\nname = "Jinja2"\nversion = "3.1.2"\ncategory = "main"\noptional = false\n\n'
        '[[package]]\nname = "pytest"\nversion = "7.0.0"\ncategory = "dev"\noptional = false\n\n'
        '[[package]]\nname = "mylib"\nversion = "0.1.0"\ncategory = "main"\noptional = false\n\n'
        '[package.source]\ntype = "git"\nurl = "https://github.com/o/mylib.git"\nreference = "main"\n\n'
        '[metadata]\nlock-version = "1.1"\n'
    )
    parsed = parse(path)
    assert facts(pick(parsed, "flask")) == ("PyPI", "flask", "2.2.4", True, False)
    assert facts(pick(parsed, "Jinja2")) == ("PyPI", "Jinja2", "3.1.2", False, False)
    assert facts(pick(parsed, "pytest")) == ("PyPI", "pytest", "7.0.0", True, True)
    assert [(u.name, u.reason) for u in parsed.unchecked] == [
        ("mylib", "git source, not a registry release")
    ]


def test_uv_lock() -> None:
    path = FIXTURES / "uv" / "uv.lock"
    parsed = parse(path)
    assert facts(pick(parsed, "django")) == ("PyPI", "django", "3.2.12", True, False)
    assert facts(pick(parsed, "ecdsa")) == ("PyPI", "ecdsa", "0.18.0", True, True)
    assert facts(pick(parsed, "six")) == ("PyPI", "six", "1.17.0", False, True)
    assert facts(pick(parsed, "urllib3")) == ("PyPI", "urllib3", "1.26.20", False, False)
    assert not [p for p in parsed.packages if p.name == "ops-api"]  # the project itself
    assert pick(parsed, "pyyaml").line == line_of(path, 'name = "pyyaml"', whole=True) - 1


def test_uv_lock_sources(tmp_path: Path) -> None:
    path = tmp_path / "uv.lock"
    path.write_text(
        'version = 1\n\n[[package]]\nname = "app"\nversion = "0.1.0"\nsource = { editable = "." }\n'
        'dependencies = [{ name = "lib" }, { name = "requests" }]\n\n'
        '[[package]]\nname = "lib"\nversion = "1.0.0"\nsource = { git = "https://github.com/o/lib?rev=v1#abc" }\n\n'
        '[[package]]\nname = "requests"\nversion = "2.28.0"\nsource = { registry = "https://pypi.org/simple" }\n'
    )
    parsed = parse(path)
    assert [facts(p) for p in parsed.packages] == [("PyPI", "requests", "2.28.0", True, False)]
    assert [(u.name, u.reason) for u in parsed.unchecked] == [
        ("lib", "git source, not a registry release")
    ]


# ---- corrupt files: a clear error naming the file and the line ----


@pytest.mark.parametrize(
    ("name", "text", "line", "words"),
    [
        (
            "package-lock.json",
            '{\n  "lockfileVersion": 3,\n  "packages": {\n    "": {}\n    "x": 1\n',
            5,
            "not valid JSON",
        ),
        ("package-lock.json", '{"lockfileVersion": 3}', 1, "neither 'packages'"),
        (
            "pnpm-lock.yaml",
            "lockfileVersion: '9.0'\npackages:\n  a@1.0.0: {\n  b: [\n",
            5,
            "not valid YAML",
        ),
        ("pnpm-lock.yaml", "lockfileVersion: 'nine'\n", 1, "unknown lockfileVersion"),
        (
            "yarn.lock",
            '# yarn lockfile v1\n\nlodash@^4.0.0:\n   version "4.17.21"\n',
            4,
            "odd indentation",
        ),
        (
            "yarn.lock",
            '# yarn lockfile v1\n\nlodash@^4.0.0\n  version "4.17.21"\n',
            3,
            "entry header",
        ),
        ("poetry.lock", '[[package]]\nname = "x"\nversion = \n', 3, "not valid TOML"),
        ("uv.lock", 'version = 1\n[[package]\nname = "x"\n', 2, "not valid TOML"),
        ("requirements.txt", "flask==2.0\nthis is not a requirement!\n", 2, "not a requirement"),
        ("requirements.txt", "-r missing.txt\n", 1, "no such file"),
    ],
)
def test_corrupt_lock_files(tmp_path: Path, name: str, text: str, line: int, words: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(LockfileError) as caught:
        parse(path)
    assert caught.value.line == line
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "yarn.lock"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(LockfileError, match="not UTF-8"):
        parse(path)


# ---- discovery ----


def test_discovery_walks_and_skips(tmp_path: Path) -> None:
    for rel in [
        "package-lock.json",
        "web/pnpm-lock.yaml",
        "web/node_modules/dep/package-lock.json",
        "web/node_modules/.package-lock.json",
        ".git/yarn.lock",
        ".venv/lib/requirements.txt",
        "api/requirements-prod.txt",
        "api/requirements/base.txt",  # not a requirements*.txt name: not read
        "api/poetry.lock",
        "api/uv.lock",
        "api/README.txt",
        "cli/npm-shrinkwrap.json",
        "cli/package-lock.json",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    found = [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)]
    assert found == [
        "package-lock.json",
        "api/poetry.lock",
        "api/requirements-prod.txt",
        "api/uv.lock",
        "cli/npm-shrinkwrap.json",
        "web/pnpm-lock.yaml",
    ]


def test_every_fixture_is_found() -> None:
    names = sorted(p.relative_to(FIXTURES).as_posix() for p in discover(FIXTURES))
    assert names == [
        "npm-v2-workspaces/package-lock.json",
        "npm-v3/package-lock.json",
        "pip/requirements-dev.txt",
        "pip/requirements.txt",
        "pnpm-v6/pnpm-lock.yaml",
        "pnpm-v9/pnpm-lock.yaml",
        "poetry/poetry.lock",
        "uv/uv.lock",
        "yarn-berry-workspaces/yarn.lock",
        "yarn-berry/yarn.lock",
        "yarn-classic-workspaces/yarn.lock",
        "yarn-classic/yarn.lock",
    ]
