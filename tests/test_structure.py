"""The structure of shared/DESIGN.md, enforced, so the picture cannot drift: the layers
(every `import fermion.X` in src/fermion, read from the syntax tree, imports inside
functions included, is checked against what its layer may import), small modules and
functions, and tests/ mirroring the packages."""

from __future__ import annotations

import ast
from pathlib import Path

import fermion

SRC = Path(fermion.__file__).parent

FOUNDATION = {
    "errors", "settings", "resources", "refs", "dataset_types", "precision", "audio", "boxes"
}  # fmt: skip
# What each top-level part of `fermion` is, and which parts it may import.
LAYER_OF = {
    **dict.fromkeys(FOUNDATION, "foundation"),
    "payloads": "api",
    "error_responses": "api",
    "store": "stores",
    "client": "sdk",
    "runtime": "sdk",  # fm.log and friends: the SDK as seen from inside a job
    "trial": "sdk",  # fm.trial: a sweep's trial, from inside its job
    "keras": "training",  # fm.keras: a Keras job's metrics and model folder
    "datasets": "data",
    "modelfile": "modelfile",
    "explain": "explain",
    "training": "training",
    "federated": "federated",
    "serving": "serving",
    "scheduler": "execution",
    "server": "server",
    "dashboard": "server",
    "cli": "commands",
}
MAY_IMPORT = {
    "foundation": {"foundation"},
    "api": {"foundation"},
    "stores": {"foundation"},
    "sdk": {"api", "foundation"},
    "data": {"sdk", "api", "foundation"},
    "modelfile": {"foundation"},
    "explain": {"modelfile", "api", "foundation"},  # a loaded model's attributions
    "training": {"explain", "modelfile", "data", "sdk", "api", "foundation"},
    "serving": {"explain", "modelfile", "data", "sdk", "api", "foundation"},
    # Flower's apps: a site trains like the trainer does (its image transforms)
    "federated": {"training", "modelfile", "data", "sdk", "api", "foundation"},
    "execution": {"stores", "api", "foundation"},
    "server": {
        "execution",
        "training",
        "serving",
        "explain",
        "modelfile",
        "data",
        "stores",
        "api",
        "foundation",
    },
    "commands": {"sdk", "api", "foundation"},
}


def fermion_imports(path: Path) -> set[str]:
    """The top-level `fermion` parts a module imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "fermion":  # `from fermion import x`: only modules count
                names = [f"fermion.{a.name}" for a in node.names if is_module(a.name)]
        else:
            continue
        found |= {n.split(".")[1] for n in names if n.startswith("fermion.")}
    return found


def is_module(name: str) -> bool:
    return (SRC / name).is_dir() or (SRC / f"{name}.py").is_file()


def part_of(path: Path) -> str | None:
    relative = path.relative_to(SRC)
    if relative.parts == ("__init__.py",):
        return None  # the package's own front door re-exports the public API
    return relative.parts[0].removesuffix(".py")


def violations() -> set[tuple[str, str, str]]:
    wrong = set()
    for path in sorted(SRC.rglob("*.py")):
        part = part_of(path)
        if part is None or part not in LAYER_OF or "migrations" in path.parts:
            continue
        layer = LAYER_OF[part]
        for imported in fermion_imports(path) - {part}:
            assert imported in LAYER_OF, f"{path}: fermion.{imported} has no layer; add it"
            if LAYER_OF[imported] not in MAY_IMPORT[layer] | {layer}:
                wrong.add((part, imported, str(path.relative_to(SRC))))
    return wrong


def test_every_part_has_a_layer():
    parts = {
        p.name.removesuffix(".py")
        for p in SRC.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py")
        or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert parts <= set(LAYER_OF), f"unplaced: {sorted(parts - set(LAYER_OF))}"


def test_imports_follow_the_layers():
    unexpected = sorted(violations())
    assert not unexpected, "imports across layers:\n" + "\n".join(
        f"  {file}: {part} imports fermion.{imported}" for part, imported, file in unexpected
    )


def test_training_and_serving_meet_only_in_the_model_folder():
    found = violations()
    assert not [v for v in found if {v[0], v[1]} == {"training", "serving"}]


def test_the_checker_sees_a_wrong_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from fermion.server.app import create_app\n")
    assert fermion_imports(module) == {"server"}


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_modules_and_functions_stay_small():
    too_long = []
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:  # schema history is written once, read rarely
            continue
        text = path.read_text()
        where = path.relative_to(SRC)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{where}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{where}:{node.lineno} {node.name}: {lines} lines")
    assert not too_long, "split by job:\n" + "\n".join(too_long)


def test_tests_mirror_the_packages():
    tests = Path(__file__).parent
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("__")}
    packages -= {"payloads"}  # bodies are tested through the API they carry
    missing = sorted(p for p in packages if not (tests / p).is_dir())
    assert not missing, f"no tests/ folder for: {missing}"
    extra = sorted(
        p.name
        for p in tests.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in packages
    )
    assert not extra, f"tests/ folders with no package: {extra}"


WRITES = {"add", "add_all", "delete", "commit", "merge"}


def test_the_servers_tables_are_written_only_by_services():
    """Routes, the gateway and the app call services; only services (and the scheduler,
    for the jobs it runs) change rows."""
    writers = []
    for path in sorted((SRC / "server").rglob("*.py")):
        if "services" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in WRITES
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "session"
            ):
                writers.append(f"{path.relative_to(SRC)}:{node.lineno} session.{node.func.attr}")
    assert not writers, "table writes outside services:\n" + "\n".join(writers)
