"""The import rules of docs/architecture.md hold: no import circle anywhere in kiosk/, broker/, config/ and
collector/, and no import up the layers (tests/architecture.py declares them)."""
from __future__ import annotations

from pathlib import Path

from tests.architecture import LAYERS, arrows, cycles, layer_of, upward

ROOT = Path(__file__).resolve().parents[2]

# Upward imports that are known and still to be taken out, each inside a function: config's cross-checks
# (`config check`, `fleet check`) read the broker's state, the collector's hierarchy and the kiosk's
# shipped texts and key names. Nothing may be added to this list; a line removed from the code must go too.
KNOWN_UPWARD: set[tuple[str, str]] = set()  # none left: keep it so


def _key(line: str) -> tuple[str, str]:
    source, _, rest = line.partition(" imports ")
    return source.split(":")[0], rest.split(",")[0].split(":")[0]


def test_no_module_imports_itself_round_a_circle():
    assert cycles(arrows(ROOT)) == []


def test_no_module_imports_from_a_layer_above_it():
    bad = [line for line in upward(arrows(ROOT)) if _key(line) not in KNOWN_UPWARD]
    assert bad == []


def test_the_known_upward_imports_are_still_there_or_leave_the_list():
    found = {_key(line) for line in upward(arrows(ROOT))}
    assert KNOWN_UPWARD - found == set()


def test_every_module_has_a_layer():
    for a in arrows(ROOT):
        layer_of(a.source), layer_of(a.target)


def test_storage_imports_nothing_of_the_collector_above_it():
    above = [a for a in arrows(ROOT) if a.source.startswith("collector.storage.")
             and a.target.startswith("collector.") and not a.target.startswith("collector.storage")]
    assert above == []


# The dashboard's views: each gets the app passed in and imports only the shared helpers (web/base.py,
# filters.py, context.py, device_state.py, alert_lists.py, officer_data.py, ...), never another view;
# only the app (web/server.py) imports them.
WEB_VIEWS = {f"collector.web.{v}" for v in ("pages", "health", "admin", "alerts_view", "api", "officers_view",
                                             "report_pdf")} | {"collector.followup.view"}


def test_a_view_imports_no_other_view_and_only_the_app_imports_views():
    found = [f"{a.source}:{a.line} imports {a.target}" for a in arrows(ROOT)
             if a.target in WEB_VIEWS and a.source != "collector.web.server"]
    assert found == []
    assert all((ROOT / (v.replace(".", "/") + ".py")).is_file() for v in WEB_VIEWS)  # the list names real views


# ------------------------------------------------------------------- the checker, on a package made here
def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_the_checker_finds_a_circle_even_through_an_import_inside_a_function(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .b import thing\n",
        "pkg/b.py": "def thing():\n    from pkg import c\n",
        "pkg/c.py": "from . import a\n",
        "pkg/d.py": "from .a import thing\n",
    })
    assert cycles(arrows(root, ["pkg"])) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_the_checker_ignores_imports_only_for_type_checkers(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .b import thing\n",
        "pkg/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\nthing = 1\n",
    })
    assert cycles(arrows(root, ["pkg"])) == []


def test_the_checker_names_an_import_up_the_layers(tmp_path):
    root = _package(tmp_path, {
        "low/__init__.py": "", "low/rows.py": "import high.view\n",
        "high/__init__.py": "", "high/view.py": "from low.rows import *\n", "high/cli.py": "from high import view\n",
    })
    layers = (("low", 0), ("high", 1))
    assert upward(arrows(root, ["low", "high"]), layers, ()) == ["low.rows:1 imports high.view, a layer above it"]


def test_the_declared_layers_run_from_config_up_to_the_web():
    order = dict(LAYERS)
    assert order["config"] < order["broker"] < order["collector.storage"] < order["collector.reports"]
    assert order["collector.reports"] < order["collector.ingest"] < order["collector.alerting"] < order["collector.web"]
    assert layer_of("collector.__main__") > order["collector.web"] and layer_of("collector.reports.report_cli") > 70


def test_the_web_app_is_imported_by_no_view_and_the_helpers_by_no_view_they_serve():
    found = arrows(ROOT)
    views = {"admin", "alerts_view", "api", "health", "officers_view", "pages", "report_pdf", "device_config"}
    into_server = sorted({a.source for a in found if a.target == "collector.web.server"})
    assert into_server == ["collector.__main__"] or into_server == []
    helpers = ("collector.web.base", "collector.web.filters")
    assert [a for a in found if a.source in helpers and a.target.rpartition(".")[2] in views
            and a.target.startswith("collector.web.")] == []
    assert not [a for a in found if a.source.startswith("collector.followup.") and a.target == "collector.web.api"]
