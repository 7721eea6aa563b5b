"""Where and how a planted value is written: the places in a real file where a line fits the
file's own syntax, and the lines themselves (a Python assignment, a JS ``const``, a YAML or
JSON member, a TOML/INI key, a shell ``export``, a line in prose), plus the new files a
project commits by mistake (``.env``, ``.npmrc``, a key file, a service-account JSON).

Every insertion is a whole block of lines placed before an existing line, so the lines
around it keep their text; the corpus records each block's lines, which is how a finding's
line is told apart from the package's own lines.
"""

from __future__ import annotations

import ast
import json
import random
import re
import warnings
from collections.abc import Callable

from _secrets_kinds import Plant

HOSTS: dict[str, tuple[str, ...]] = {
    "py": (".py",),
    "js": (".js", ".mjs", ".cjs", ".ts", ".jsx", ".tsx"),
    "yaml": (".yml", ".yaml"),
    "json": (".json",),
    "toml": (".toml",),
    "ini": (".cfg", ".ini"),
    "sh": (".sh", ".bash"),
    "doc": (".md", ".rst", ".txt"),
}
# Multi-line values (PEM blocks) go only where the syntax has a multi-line string.
MULTILINE_HOSTS = ("py", "js", "yaml", "json", "toml", "doc")
COMMENT = {"py": "#", "js": "//", "yaml": "#", "toml": "#", "ini": "#", "sh": "#"}


def host_of(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(".d.ts") or name.endswith(".min.js"):
        return None  # ambient declarations take no values; minified bundles have no lines
    if name.startswith(("license", "requirements", "authors", "copying", "notice")):
        return None
    for host, suffixes in HOSTS.items():
        if name.endswith(suffixes):
            return host
    return None


# -- where a block fits ------------------------------------------------------------------------

_JS_STATEMENT = re.compile(
    r"^(?:const|let|var|function|async function|export|class|module\.exports)\b"
)
_YAML_KEY = re.compile(r"^( *)(- )?[A-Za-z_][\w.-]*:(?:[ \t]+(\S.*))?$")
_JSON_MEMBER = re.compile(r'^(\s+)"[^"\\]*"\s*:')
_TOML_KEY = re.compile(r"""^[A-Za-z_][\w.-]*\s*=\s*(?:"[^"]*"|'[^']*'|[\w.:+-]+)\s*(?:#.*)?$""")
_TOML_TABLE = re.compile(r"^\[[^\]]+\]\]?\s*$")
_INI_KEY = re.compile(r"^[A-Za-z_][\w.-]*\s*[=:]")
_SH_START = re.compile(r"^(?!(?:fi|done|esac|else|elif|then|do|in)\b)[A-Za-z_#]")


def insertion_points(host: str, text: str, lines: list[str]) -> list[int]:
    """Indices of lines before which a block of ``host`` syntax can go (with the indent)."""
    return [i for i, _ in points_with_indent(host, text, lines)]


def points_with_indent(host: str, text: str, lines: list[str]) -> list[tuple[int, str]]:
    finder = _FINDERS[host]
    return finder(text, lines)


def _py_points(text: str, lines: list[str]) -> list[tuple[int, str]]:
    """Before a top-level statement (found by ``ast``, so never inside a string), after the
    docstring and any ``from __future__`` import, which must come first."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    body = tree.body
    start = 0
    while start < len(body) and (
        (isinstance(node := body[start], ast.ImportFrom) and node.module == "__future__")
        or (start == 0 and isinstance(body[0], ast.Expr))
    ):
        start += 1
    out = []
    for node in body[max(start, 1) :]:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        index = first - 1
        if 0 < index < len(lines) and not lines[index][:1].isspace():
            out.append((index, ""))
    return out


def _js_points(text: str, lines: list[str]) -> list[tuple[int, str]]:
    return [
        (i, "")
        for i in range(1, len(lines))
        if _JS_STATEMENT.match(lines[i]) and not lines[i - 1].strip()
    ]


def _yaml_points(text: str, lines: list[str]) -> list[tuple[int, str]]:
    """Before a ``key:`` line whose previous line is a sibling key with a plain scalar value
    (so not a block scalar or a nested mapping), at the siblings' indent."""
    out = []
    for i in range(1, len(lines)):
        m = _YAML_KEY.match(lines[i])
        if not m or m.group(2):
            continue
        prev = _YAML_KEY.match(lines[i - 1])
        if not prev or not prev.group(3):
            continue
        value = prev.group(3).strip()
        if value[:1] in "|>&*!" or value.endswith(("|", ">", "|-", ">-", "{", "[")):
            continue
        prev_indent = len(prev.group(1)) + (2 if prev.group(2) else 0)
        if prev_indent == len(m.group(1)):
            out.append((i, m.group(1)))
    return out


def _json_points(text: str, lines: list[str]) -> list[tuple[int, str]]:
    out = []
    for i in range(1, len(lines)):
        m = _JSON_MEMBER.match(lines[i])
        if m and lines[i - 1].rstrip().endswith(("{", ",")):
            out.append((i, m.group(1)))
    return out


def _toml_points(text: str, lines: list[str]) -> list[tuple[int, str]]:
    return [
        (i, "")
        for i in range(1, len(lines))
        if _TOML_KEY.match(lines[i])
        and (_TOML_KEY.match(lines[i - 1]) or _TOML_TABLE.match(lines[i - 1]))
    ]


def _ini_points(text: str, lines: list[str]) -> list[tuple[int, str]]:
    out = []
    in_section = False
    for i, line in enumerate(lines):
        if line.startswith("[") and line.rstrip().endswith("]"):
            in_section = True
            continue
        if in_section and i and _INI_KEY.match(line):
            prev = lines[i - 1]
            if (prev.startswith("[") and prev.rstrip().endswith("]")) or _INI_KEY.match(prev):
                out.append((i, ""))
    return out


def _sh_points(text: str, lines: list[str]) -> list[tuple[int, str]]:
    return [
        (i, "")
        for i in range(1, len(lines))
        if _SH_START.match(lines[i]) and not lines[i - 1].strip()
    ]


def _doc_points(text: str, lines: list[str]) -> list[tuple[int, str]]:
    """At the start of a paragraph (after a blank line, not indented, outside ``` fences)."""
    out = []
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced or not i:
            continue
        if line.strip() and not line[:1].isspace() and not lines[i - 1].strip():
            out.append((i, ""))
    return out


_FINDERS: dict[str, Callable[[str, list[str]], list[tuple[int, str]]]] = {
    "py": _py_points,
    "js": _js_points,
    "yaml": _yaml_points,
    "json": _json_points,
    "toml": _toml_points,
    "ini": _ini_points,
    "sh": _sh_points,
    "doc": _doc_points,
}


# -- the lines ---------------------------------------------------------------------------------


def camel(name: str) -> str:
    parts = name.lower().split("_")
    return parts[0] + "".join(p.title() for p in parts[1:])


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def upper(name: str) -> str:
    return snake(name).upper()


def quoted(value: str) -> str:
    """A double-quoted literal valid in Python, JS, JSON, TOML and YAML for these values."""
    return json.dumps(value)


def reference_expr(host: str, name: str, rng: random.Random) -> str:
    env = upper(name)
    choices = {
        "py": [
            f'os.environ["{env}"]',
            f'os.getenv("{env}")',
            f"get_{snake(name)}()",
            f"settings.{env}",
            f'vault.read("secret/{snake(name)}")["value"]',
        ],
        "js": [f"process.env.{env}", f'config.get("{camel(name)}")', f"await getSecret('{env}')"],
        "yaml": [
            "${" + env + "}",
            '"{{ vault_' + snake(name) + ' }}"',
            "${{ secrets." + env + " }}",
        ],
        "json": [quoted("${" + env + "}"), quoted("{{ " + snake(name) + " }}")],
        "toml": [quoted("${" + env + "}")],
        "ini": ["%(" + snake(name) + ")s", "${" + env + "}"],
        "sh": ['"${' + env + '}"', f'"$(cat /run/secrets/{snake(name)})"'],
        "doc": ["$(pass show " + snake(name) + ")", "${" + env + "}"],
        "env": ["${" + env + "_FROM_VAULT}", ""],
    }
    return rng.choice(choices[host])


# Client calls that take the value directly, for the kinds that have one (how leaks look).
PY_CALLS = {
    "sentry": "sentry_sdk.init(dsn={v}, traces_sample_rate=0.1)",
    "stripe": "stripe.api_key = {v}",
    "openai": "client = OpenAI(api_key={v})",
    "anthropic": "client = anthropic.Anthropic(api_key={v})",
    "slack": "slack = WebClient(token={v})",
    "database-url": "engine = create_engine({v}, pool_pre_ping=True)",
}
JS_CALLS = {
    "sentry": "Sentry.init({{ dsn: {v}, tracesSampleRate: 0.1 }});",
    "stripe": "const stripe = new Stripe({v});",
    "openai": "const openai = new OpenAI({{ apiKey: {v} }});",
    "anthropic": "const anthropic = new Anthropic({{ apiKey: {v} }});",
    "clerk": "const clerk = createClerkClient({{ secretKey: {v} }});",
    "database-url": "const pool = new Pool({{ connectionString: {v} }});",
}


def render(host: str, plant: Plant, rng: random.Random, indent: str = "") -> tuple[list[str], str]:
    """The block of lines for ``plant`` in ``host`` syntax, and the style used."""
    lines, style = _render(host, plant, rng)
    if plant.pair is not None:
        second = Plant(plant.kind, plant.positive, plant.pair[0], plant.pair[1])
        more, _ = _render(host, second, rng, style=style if style != "call" else "assign")
        lines += more
    return [indent + line if line else line for line in lines], style


def _render(host: str, plant: Plant, rng: random.Random, style: str = "") -> tuple[list[str], str]:
    name, value = plant.name, plant.value
    if not style:
        style = "assign"
        if plant.comment_ok and host in COMMENT and rng.random() < 0.25:
            style = "comment"
        elif (
            plant.pair is None
            and not plant.multiline
            and rng.random() < 0.35
            and (
                (host == "py" and plant.kind in PY_CALLS)
                or (host == "js" and plant.kind in JS_CALLS)
            )
        ):
            style = "call"
    if style == "comment":
        word = rng.choice(["token", "key", "TODO remove before release:", "old key, rotated?"])
        return [f"{COMMENT[host]} {word} {value}"], style
    if plant.reference:
        expr = reference_expr(host, name, rng)
        return _assign(host, name, expr, raw=True, rng=rng), style
    if style == "call":
        template = (PY_CALLS if host == "py" else JS_CALLS)[plant.kind]
        return [template.format(v=quoted(value))], style
    return _assign(host, name, value, raw=False, rng=rng), style


def _assign(host: str, name: str, value: str, raw: bool, rng: random.Random) -> list[str]:
    multiline = "\n" in value
    lit = value if raw else quoted(value)
    if host == "py":
        key = name if rng.random() < 0.6 else snake(name)
        if multiline:
            return [f'{key} = """', *value.split("\n"), '"""']
        return [f"{key} = {lit}"]
    if host == "js":
        key = name if rng.random() < 0.5 else camel(name)
        lead = rng.choice(["const", "const", "export const", "let"])
        if multiline:
            body = value.split("\n")
            return [f"{lead} {key} = `{body[0]}", *body[1:-1], f"{body[-1]}`;"]
        if not raw and rng.random() < 0.3:
            return [f"const {camel(name)}Config = {{ {camel(name)}: {lit} }};"]
        return [f"{lead} {key} = {lit};"]
    if host == "yaml":
        key = snake(name) if rng.random() < 0.7 else camel(name)
        if multiline:
            return [f"{key}: |", *("  " + line for line in value.split("\n"))]
        plain = not raw and re.fullmatch(r"[A-Za-z0-9][\w./+=:@-]*", value) is not None
        return [f"{key}: {value if raw or plain else lit}"]
    if host == "json":
        key = camel(name) if rng.random() < 0.5 else snake(name)
        return [f"{quoted(key)}: {lit},"]
    if host == "toml":
        key = snake(name)
        if multiline:
            return [f'{key} = """', *value.split("\n"), '"""']
        return [f"{key} = {lit}"]
    if host == "ini":
        return [f"{snake(name)} = {value}"]
    if host == "sh":
        return [f"export {upper(name)}={lit if not raw else value}"]
    if host == "doc":
        if multiline:
            return [*value.split("\n"), ""]
        line = rng.choice(
            [
                f"export {upper(name)}={value}",
                f"{upper(name)}={value}",
                f'curl -H "Authorization: Bearer {value}" https://api.example.com/v1/me',
            ]
        )
        if raw or "://" in value:
            line = f"export {upper(name)}={value}"
        return [line, ""]
    if host == "env":
        if raw:
            return [f"{upper(name)}={value}"]
        needs_quotes = any(c in value for c in " #'\"$")
        return [f"{upper(name)}={quoted(value) if needs_quotes else value}"]
    raise ValueError(f"unknown host {host!r}")


# -- new files ---------------------------------------------------------------------------------

ENV_SETTINGS = [
    "NODE_ENV=production",
    "PORT=3000",
    "DEBUG=false",
    "LOG_LEVEL=info",
    "API_URL=https://api.example.com",
    "AWS_REGION=eu-west-1",
    "TZ=UTC",
    "WORKERS=4",
]


def env_lines(plant: Plant, rng: random.Random) -> list[str]:
    if plant.multiline:
        raise ValueError("a PEM block does not go into a .env file here")
    value = reference_expr("env", plant.name, rng) if plant.reference else plant.value
    lines = _assign("env", plant.name, value, plant.reference, rng)
    if plant.pair is not None:
        lines += _assign("env", plant.pair[0], plant.pair[1], False, rng)
    return lines


def npmrc_line(value: str) -> str:
    return "//registry.npmjs.org/:_authToken=" + value


def service_account(plant: Plant, rng: random.Random) -> list[str]:
    """A Google service-account key file (the JSON the console downloads), its private key
    JSON-escaped on one line; returns the lines and, first, the index of that line."""
    project = rng.choice(["orders-prod", "analytics-371204", "acme-backend"])
    body = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "".join(rng.choice("0123456789abcdef") for _ in range(40)),
        "private_key": plant.value + "\n",
        "client_email": f"deploy@{project}.iam.gserviceaccount.com",
        "client_id": str(rng.randint(10**20, 10**21)),
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return json.dumps(body, indent=2).split("\n")
