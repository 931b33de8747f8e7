"""Documentation that tests itself: templates, README, the unit file, CI's entry point."""

from __future__ import annotations

import re
from pathlib import Path

from maild.cli import build_parser
from maild.context import TEMPLATES_DIR

ROOT = Path(__file__).resolve().parent.parent


def _events_sent() -> set[tuple[str, str]]:
    """(audience, event) pairs that maild/notify.py sends."""
    source = (ROOT / "maild" / "notify.py").read_text()
    return set(re.findall(r'audience="(\w+)", event="(\w+)"', source))


def test_every_mail_template_exists_in_english_and_norwegian():
    events = _events_sent()
    assert len(events) >= 5
    for audience, event in events:
        for language in ("en", "nb"):
            path = TEMPLATES_DIR / "mail" / audience / f"{event}.{language}.txt"
            assert path.exists(), path
            first_line = path.read_text().split("\n", 1)[0]
            assert first_line.strip(), f"{path}: the first line is the subject"


def test_readme_opens_with_the_two_commands_and_lists_every_command():
    readme = (ROOT / "README.md").read_text()
    head = readme[:1200]
    assert "make run" in head and "make test" in head
    commands = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    subcommands = build_parser()._subparsers._group_actions[0].choices
    for name in subcommands:
        assert re.search(rf"^sensedesk .*\b{name}\b", commands, re.M), f"README does not show {name}"


def test_ci_runs_make_test_and_makefile_has_both_targets():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_systemd_unit_runs_unprivileged_and_hardened():
    unit = (ROOT / "sensedesk.service").read_text()
    for line in ("User=sensedesk", "NoNewPrivileges=true", "ProtectSystem=strict",
                 "ReadWritePaths=/var/lib/sensedesk", "Restart=on-failure", "ExecStart="):
        assert line in unit, line
    assert "sensedesk run" in unit


def test_every_template_directory_is_installed():
    """`pip install .` must carry every template: setup.cfg's data_files lists each directory."""
    import configparser

    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    installed = {value.strip().rsplit("/", 1)[0] for value in parser["options.data_files"].values()}
    directories = {str(p.relative_to(ROOT)) for p in (ROOT / "templates").rglob("*") if p.is_dir()
                   and any(f.is_file() for f in p.iterdir())}
    assert directories <= installed, directories - installed


def _architecture() -> tuple[str, dict[str, str]]:
    """docs/architecture.md, and its map of rooms: folder ("maild/mail") -> what its line names."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("## The rooms", 1)[1].split("```", 2)[1]
    rooms, top, folder = {}, "", None
    for line in block.splitlines():
        if re.match(r"^\S+/$", line):
            top, folder = line.rstrip("/"), None
            continue
        match = re.match(r"^  (\w+)/\s+(.*)$", line)
        if match:
            folder = f"{top}/{match.group(1)}"
            rooms[folder] = match.group(2)
        elif folder and line.startswith("    "):
            rooms[folder] += " " + line.strip()
        else:
            folder = None
    return text, rooms


def test_architecture_names_only_modules_that_exist():
    text, rooms = _architecture()
    paths = set(re.findall(r"`((?:maild|portal|templates|docs|tests|bench)/[\w./-]*)`", text))
    paths |= {f"{folder}/" for folder in rooms}
    assert len(paths) > 40
    for path in paths:
        assert (ROOT / path).exists(), f"docs/architecture.md names {path}, which does not exist"
    for folder, names in rooms.items():
        for name in re.findall(r"\b(\w+)\.py\b", names.split("—")[0]):
            assert (ROOT / folder / f"{name}.py").exists(), f"docs/architecture.md: {folder}/{name}.py"


def test_architecture_names_every_module_of_maild():
    """A new module gets its line in the map the day it is added."""
    text, rooms = _architecture()
    for module in sorted((ROOT / "maild").rglob("*.py")):
        relative = module.relative_to(ROOT)
        if module.name == "__init__.py" or "migrations" in relative.parts:
            continue
        folder = str(relative.parent)
        named_in_room = re.search(rf"\b{module.stem}\b", rooms.get(folder, ""))
        assert f"`{relative}`" in text or named_in_room, f"docs/architecture.md does not name {relative}"
