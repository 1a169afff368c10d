"""The documents in docs/ say only what the code does. Without a chain or a network, every doc page is checked for:

- settings: every `KANAZAWA_DAO_*` name is a field of `backend.config.Settings` (the few variables only the tests and
  the benchmark read are listed below, with the file that must read them);
- routes: every "GET /path" (any HTTP method), every curl line against the API and every path a Python example
  requests exists among the FastAPI app's routes, the pages outside the OpenAPI description included;
- commands: every `kanazawa-dao ...` and `./dao ...` command line parses with `scripts.cli.build_parser()`;
- files: every repository path in backticks exists (or is a generated path git ignores), every relative link
  resolves, and every `#anchor` names a heading of its page;
- functions: every `path/to/module.py` `name` pair (two adjacent code spans) names a function, class or constant
  that module defines (`Class.method` too);
- examples: every ```python block compiles, and what it imports from the project or its dependencies exists;
- figures: the devnet's governance parameters in docs/devnet.md are `DeploymentParams`' defaults.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import re
from functools import cache
from pathlib import Path

import pytest

from backend.paths import REPO_ROOT

DOCS = REPO_ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))

#: Variables read outside `Settings`, by the file that reads them: the docs may name them, and that file must read them.
NOT_SETTINGS = {
    "KANAZAWA_DAO_TEST_DATABASE_URL": "tests/conftest.py",
    "KANAZAWA_DAO_TEST_REDIS_URL": "tests/conftest.py",
    "KANAZAWA_DAO_BENCH_DATABASE_URL": "scripts/bench_indexer.py",
}

#: Paths the docs may name although a fresh clone does not have them: made at run time and ignored by git (the
#: .gitignore line that ignores them), and for which suffix.
GENERATED = {
    "var/": ("var/", ""),
    "contracts/build/": ("contracts/build/", ""),
    "hardhat-free-devnet/.devnet/": ("hardhat-free-devnet/.devnet/", ""),
    "hardhat-free-devnet/node_modules": ("node_modules/", ""),
    "hardhat-free-devnet/deployments/": ("hardhat-free-devnet/deployments/*.json", ".json"),
}

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
FILE_EXTENSIONS = (".py", ".md", ".sol", ".json", ".toml", ".js", ".ts", ".csv", ".sh", ".txt", ".yml", ".yaml")


def _pages() -> list[tuple[str, str]]:
    assert PAGES, "docs/*.md is empty"
    return [(p.name, p.read_text(encoding="utf-8")) for p in PAGES]


# ---------------------------------------------------------------------- reading Markdown


def _fences(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return [(m.group(1).strip(), m.group(2)) for m in re.finditer(r"^```([^\n]*)\n(.*?)^```", text, re.M | re.S)]


def _prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.M | re.S)


def _spans(text: str) -> list[str]:
    """Inline code spans outside fenced blocks."""
    return re.findall(r"`([^`\n]+)`", _prose(text))


def _code_lines(text: str) -> list[str]:
    """Inline code spans and the lines of fenced blocks: where commands are written."""
    lines = _spans(text)
    for _lang, body in _fences(text):
        lines += body.splitlines()
    return lines


# ---------------------------------------------------------------------- settings


def test_every_setting_named_exists():
    from backend.config import Settings

    fields = {f"KANAZAWA_DAO_{name.upper()}" for name in Settings.model_fields}
    wrong = []
    for page, text in _pages():
        for name in sorted(set(re.findall(r"KANAZAWA_DAO_[A-Z0-9_]+", text))):
            if name in fields:
                continue
            reader = NOT_SETTINGS.get(name)
            if reader is None:
                wrong.append(f"{page}: {name} is not a field of backend.config.Settings")
            elif name not in (REPO_ROOT / reader).read_text():
                wrong.append(f"{page}: {name} is said to be read by {reader}, which does not read it")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------------- routes


@cache
def _routes() -> frozenset[tuple[str, str]]:
    """(method, path template) of every route of the app, including routers included lazily and pages outside
    the OpenAPI description."""
    from backend.config import Settings
    from frontend_api.app import create_app

    app = create_app(Settings(database_url="sqlite://"), dispatch=lambda _job_id: None)
    found: set[tuple[str, str]] = set()

    def walk(routes, prefix: str = "") -> None:
        for route in routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if callable(contexts):  # FastAPI's lazily included routers
                for context in contexts():
                    found.update((m, prefix + context.path) for m in context.methods or ())
                continue
            path, methods = getattr(route, "path", None), getattr(route, "methods", None)
            if path is not None and methods is not None:
                found.update((m, prefix + path) for m in methods)
            elif getattr(route, "routes", None) is not None:  # a Mount or a plain router
                walk(route.routes, prefix + (path or ""))

    walk(app.routes)
    assert ("GET", "/openapi.json") in found and ("POST", "/auth/verify") in found, sorted(found)
    return frozenset(found)


def _normalised(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]*\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _route_exists(method: str, path: str) -> bool:
    for route_method, template in _routes():
        if route_method != method or ":path}" in template:  # a catch-all proves nothing
            continue
        if _normalised(template) == _normalised(path) or _template_regex(template).fullmatch(path):
            return True
    return False


def _clean_path(path: str) -> str:
    path = path.split("?", 1)[0].split("#", 1)[0]
    path = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "{}", path)  # shell variables: $PROPOSAL_ID
    path = re.sub(r"<[^>]*>", "{}", path)  # <proposal id>
    return path.rstrip(".,:;")


def _method_paths(text: str) -> set[tuple[str, str]]:
    pattern = r"\b(" + "|".join(HTTP_METHODS) + r")\s+(/[^\s`'\"<>|,;)\]]*)"
    return {(method, _clean_path(path)) for method, path in re.findall(pattern, text)}


def _curl_requests(text: str) -> set[tuple[str, str]]:
    """(method, path) of every curl command against the API (`$API/...` or http://127.0.0.1:8000/...)."""
    found = set()
    for _lang, body in _fences(text):
        for command in body.replace("\\\n", " ").splitlines():
            if not command.strip().startswith("curl "):
                continue
            url = re.search(r"(?:\$\{?API\}?|https?://127\.0\.0\.1:8000)(/[^\s\"'?]*)", command)
            if url is None:
                continue
            explicit = re.search(r"(?:-X|--request)\s+([A-Z]+)", command)
            if explicit:
                method = explicit.group(1)
            elif re.search(r"\s(-G|--get)\b", command):
                method = "GET"
            elif re.search(r"\s(-d|--data\S*|-F|--form)\s", command):
                method = "POST"
            else:
                method = "GET"
            found.add((method, _clean_path(url.group(1))))
    return found


def _python_requests(text: str) -> set[tuple[str, str]]:
    """(method, path) of every request a Python example makes with a literal path."""
    found = set()
    pattern = r"\.(get|post|put|patch|delete)\(\s*f?\"((?:\{API\}|https?://127\.0\.0\.1:8000)?/[^\"]*)\""
    for lang, body in _fences(text):
        if lang != "python":
            continue
        for method, path in re.findall(pattern, body):
            path = re.sub(r"^(\{API\}|https?://127\.0\.0\.1:8000)", "", path)
            found.add((method.upper(), _clean_path(path)))
    return found


def test_every_route_named_exists():
    wrong = []
    for page, text in _pages():
        for source, requests in (("", _method_paths(text)), ("curl: ", _curl_requests(text)),
                                 ("python example: ", _python_requests(text))):
            for method, path in sorted(requests):
                if not _route_exists(method, path):
                    wrong.append(f"{page}: {source}{method} {path} is not a route of the app")
    assert not wrong, "\n".join(wrong)


def test_the_route_check_sees_pages_outside_openapi():
    """The results pages are in app.routes but not in /openapi.json; the check must see them, and must not take
    their catch-all for proof."""
    assert _route_exists("GET", "/proposals/{proposal_id}")
    assert not _route_exists("POST", "/proposals/{proposal_id}")
    if any(template.startswith("/results") for _m, template in _routes()):
        assert _route_exists("GET", "/results")
        assert not _route_exists("GET", "/results/no-such-page")


# ---------------------------------------------------------------------- commands


def _commands(text: str) -> set[tuple[str, ...]]:
    """Argument lists of every `kanazawa-dao ...` and `./dao ...` command written in code."""
    found = set()
    stop = re.compile(r"^[#|&;\[<(>]|^\.\.\.$")
    for line in _code_lines(text):
        # The program as a word of its own (not kanazawa-dao.example, not /etc/kanazawa-dao/...).
        for match in re.finditer(r"(?:^|(?<=[\s`(]))(kanazawa-dao|\./dao)(?=[ \t]|$)", line):
            program, tokens = match.group(1), []
            for token in line[match.end():].split():
                if stop.match(token):
                    break
                tokens.append(token)
            if not tokens or program == "./dao" and tokens[0] in ("test", "help", "-h", "--help"):
                continue
            # `devnet up/down/status` means three commands
            alternatives = [[]]
            for token in tokens:
                options = token.split("/") if re.fullmatch(r"[a-z-]+(/[a-z-]+)+", token) else [token]
                alternatives = [a + [o] for a in alternatives for o in options]
            found.update(tuple(a) for a in alternatives)
    return found


def test_every_command_named_parses():
    from scripts.cli import build_parser

    wrong = []
    for page, text in _pages():
        for argv in sorted(_commands(text)):
            errors = io.StringIO()
            try:
                with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
                    build_parser().parse_args(list(argv))
            except SystemExit as exc:
                if exc.code:
                    message = errors.getvalue().strip().splitlines()
                    wrong.append(f"{page}: `kanazawa-dao {' '.join(argv)}` does not parse: {message[-1:]}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------------- files, links, functions


@cache
def _top_level() -> frozenset[str]:
    return frozenset(p.name for p in REPO_ROOT.iterdir())


def _looks_like_repo_path(span: str) -> bool:
    if any(c.isspace() for c in span) or "://" in span or span[0] in "/$-<.~" and not span.startswith(".ci/"):
        return False
    if "/" not in span:
        return False
    first = span.split("/", 1)[0]
    return first in _top_level() or span.rstrip("/").endswith(FILE_EXTENSIONS)


def _generated(span: str) -> str | None:
    """Why a missing path is fine (it is made at run time and git ignores it), or None."""
    gitignore = (REPO_ROOT / ".gitignore").read_text().splitlines()
    for prefix, (ignored_by, suffix) in GENERATED.items():
        if span.startswith(prefix) and span.endswith(suffix):
            assert ignored_by in gitignore, f".gitignore no longer ignores {ignored_by}; update GENERATED"
            return ignored_by
    return None


def _path_exists(span: str) -> bool:
    path = span.rstrip("/")
    if "*" in path:
        return any(REPO_ROOT.glob(path))
    if "<" in path or "{" in path:  # a placeholder such as <chainId>: its folder must exist
        folder = re.split(r"[<{]", path, 1)[0].rsplit("/", 1)[0]
        return (REPO_ROOT / folder).is_dir()
    return (REPO_ROOT / path).exists()


def test_every_repository_path_named_exists():
    wrong = []
    for page, text in _pages():
        for span in sorted(set(_spans(text))):
            span = span.strip()
            if not span or not _looks_like_repo_path(span):
                continue
            if not _path_exists(span) and _generated(span) is None:
                wrong.append(f"{page}: `{span}` does not exist in the repository")
    assert not wrong, "\n".join(wrong)


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    return {_anchor(h) for h in re.findall(r"^#{1,6}\s+(.+)$", _prose(text), re.M)}


def test_every_link_and_anchor_resolves():
    wrong = []
    for page, text in _pages():
        for target in re.findall(r"\]\(([^)\s]+)\)", _prose(text)):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            path = (DOCS / file).resolve() if file else DOCS / page
            if not path.exists():
                wrong.append(f"{page}: link {target} points at nothing")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path.read_text(encoding="utf-8")):
                wrong.append(f"{page}: link {target}: {path.name} has no heading #{anchor}")
    assert not wrong, "\n".join(wrong)


def _defined(module: Path, name: str) -> bool:
    """`name` (or `Class.member`) is defined at the top level of `module`."""
    body = ast.parse(module.read_text(encoding="utf-8")).body
    for part in name.split("."):
        found = None
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == part:
                found = node
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == part for t in node.targets):
                found = node
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == part:
                found = node
        if found is None:
            return False
        body = getattr(found, "body", [])
    return True


def test_every_function_named_with_its_module_exists():
    wrong, checked = [], 0
    for page, text in _pages():
        for module, name in re.findall(r"`([\w./-]+\.py)`\s+`([A-Za-z_][\w.]*)(?:\(\))?`", _prose(text)):
            path = REPO_ROOT / module
            checked += 1
            if not path.is_file():
                wrong.append(f"{page}: `{module}` does not exist")
            elif not _defined(path, name):
                wrong.append(f"{page}: `{module}` defines no `{name}`")
    assert checked, "no `module.py` `function` pairs found: has the form changed?"
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------------- Python examples


def _python_blocks() -> list[tuple[str, int, str]]:
    """(page, number of the code block on the page, code) of every ```python block."""
    blocks = []
    for page, text in _pages():
        for number, (lang, body) in enumerate(_fences(text), 1):
            if lang == "python":
                blocks.append((page, number, body))
    return blocks


def test_the_api_guide_has_python_examples():
    names = [page for page, _n, _body in _python_blocks()]
    assert names.count("api-guide.md") >= 4, "sign-in, ballot, webhook and check-in examples are expected"


@pytest.mark.parametrize("page,number,body", [pytest.param(*block, id=f"{block[0]}-block{block[1]}")
                                               for block in _python_blocks()])
def test_python_example_compiles_and_its_imports_exist(page, number, body):
    tree = compile(body, f"{page}, code block {number}", "exec", flags=ast.PyCF_ONLY_AST)
    compile(tree, f"{page}, code block {number}", "exec")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module = importlib.import_module(node.module)
            for alias in node.names:
                submodule = hasattr(module, "__path__") and importlib.util.find_spec(f"{node.module}.{alias.name}")
                assert hasattr(module, alias.name) or submodule, (
                    f"{page}, code block {number}: {node.module} has no {alias.name}")


# ---------------------------------------------------------------------- figures


def test_devnet_parameters_are_the_deployment_defaults():
    from backend.chain.deploy import DeploymentParams

    text = (DOCS / "devnet.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (voting delay|voting period|proposal threshold|quorum|timelock delay) \| (\d+)", text,
                           re.M))
    defaults = DeploymentParams()
    expected = {"voting delay": defaults.voting_delay, "voting period": defaults.voting_period,
                "proposal threshold": defaults.proposal_threshold, "quorum": defaults.quorum_percent,
                "timelock delay": defaults.timelock_delay}
    documented = {k: int(v) for k, v in rows.items()}
    assert documented == expected, f"docs/devnet.md says {documented}, DeploymentParams() is {expected}"
