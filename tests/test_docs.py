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
