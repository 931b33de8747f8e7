"""Configuration: the schema, the shipped example, and one-line errors that name the key (SPEC 6)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from maild import config as configuration
from maild.config import ARRAYS, SCHEMA, ConfigError, load, parse

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "sensedesk.example.toml"


def minimal(**sections) -> dict:
    """One department and nothing else, with ``sections`` added or replaced."""
    doc = {"departments": [{"slug": "helpdesk", "name": "Helpdesk", "addresses": ["helpdesk@example.test"]}]}
    doc.update(sections)
    return doc


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch):
    """Tests start without SENSEDESK_* variables from the caller's environment."""
    for name in list(os.environ):
        if name.startswith("SENSEDESK_"):
            monkeypatch.delenv(name)


def test_minimal_document_takes_every_default():
    config = parse(minimal())
    for section, settings in SCHEMA.items():
        for name, setting in settings.items():
            assert config[section][name] == setting.default, (section, name)
    dept = config.department("helpdesk")
    assert dept.address == "helpdesk@example.test" and dept.agents == () and dept.reopen_days == 14
    assert config.imap == () and config.own_addresses() == {"helpdesk@example.test"}


def test_addresses_are_lowercased_and_looked_up_case_insensitively():
    config = parse(minimal(departments=[{"slug": "hr", "name": "HR", "addresses": ["HR@Example.TEST"],
                                         "agents": [" Agent@Example.test "]}]))
    assert config.department_for_address("hr@EXAMPLE.test").slug == "hr"
    assert config.department("hr").agents == ("agent@example.test",)


def test_shipped_example_loads():
    config = load(EXAMPLE)
    assert [d.slug for d in config.departments] == ["helpdesk", "hr"]
    assert config.language(config.department("hr")) == "nb"
    # A Norwegian site, as the product's first users are.
    assert config.language(config.department("helpdesk")) == "nb"


def example_keys() -> dict[str, set[str]]:
    """Keys written in the example file per section, commented-out ones included."""
    found: dict[str, set[str]] = {}
    section = None
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip().lstrip("#").strip()
        header = re.match(r"^\[\[?([a-z_.]+)\]\]?$", line)
        if header:
            section = header.group(1)
            continue
        key = re.match(r"^([a-z_]+)\s*=", line)
        if key and section:
            found.setdefault(section, set()).add(key.group(1))
    return found


@pytest.mark.parametrize("section, name", [(s, n) for table in (SCHEMA, ARRAYS) for s in table for n in table[s]])
def test_every_setting_is_documented_in_the_example(section, name):
    """As datasette's test_docs: a new setting fails until the example shows it."""
    assert name in example_keys().get(section, set()), f"[{section}] {name} is missing from {EXAMPLE.name}"


def test_the_example_has_no_unknown_keys():
    for section, keys in example_keys().items():
        known = (SCHEMA.get(section) or ARRAYS.get(section) or {}).keys()
        assert keys <= set(known), (section, keys - set(known))


def dept(**changes) -> dict:
    """A department table with ``changes``."""
    return {"slug": "helpdesk", "name": "Helpdesk", "addresses": ["helpdesk@example.test"], **changes}


IMAP = {"host": "imap.example.test", "username": "desk", "department": "helpdesk"}

# (document, a word the one-line message must contain)
BAD = {
    "unknown-section": (minimal(smtp={}), "smtp"),
    "unknown-key": (minimal(site={"nmae": "x"}), "nmae"),
    "unknown-department-key": ({"departments": [dept(email="x@example.test")]}, "email"),
    "string-for-int": (minimal(smtp_in={"max_recipients": "100"}), "max_recipients"),
    "float-for-int": (minimal(smtp_in={"max_message_bytes": 1.5}), "max_message_bytes"),
    "bool-for-int": (minimal(smtp_out={"port": True}), "port"),
    "int-for-bool": (minimal(smtp_out={"starttls": 1}), "starttls"),
    "string-for-bool": (minimal(imap=[dict(IMAP, ssl="yes")]), "ssl"),
    "int-for-string": (minimal(site={"name": 5}), "name"),
    "string-for-list": ({"departments": [dept(addresses="helpdesk@example.test")]}, "addresses"),
    "negative": (minimal(mail={"auto_replies_per_hour": -1}), "auto_replies_per_hour"),
    "bad-choice": (minimal(smtp_out={"transport": "sendmail"}), "transport"),
    "bad-language": (minimal(site={"language": "de"}), "language"),
    "bad-department-language": ({"departments": [dept(language="sv")]}, "language"),
    "listen-without-port": (minimal(smtp_in={"listen": "localhost"}), "listen"),
    "listen-port-not-a-number": (minimal(portal={"listen": "127.0.0.1:http"}), "listen"),
    "listen-port-too-big": (minimal(smtp_in={"listen": "127.0.0.1:99999"}), "listen"),
    "relay-port-too-big": (minimal(smtp_out={"port": 70000}), "port"),
    "imap-port-too-big": (minimal(imap=[dict(IMAP, port=100000)]), "port"),
    "database-url": (minimal(database={"url": "mysql://db.example.test/desk"}), "url"),
    "database-url-without-a-database": (minimal(database={"url": "postgresql://desk:secret@db.example.test:5432"}), "url"),
    "database-url-unreadable": (minimal(database={"url": "postgresql://desk:secret@[::1/sensedesk"}), "url"),
    "token-prefix": (minimal(site={"token_prefix": "S D"}), "token_prefix"),
    "mail-domain": (minimal(site={"mail_domain": "desk example\ntest"}), "mail_domain"),
    "bad-slug": ({"departments": [dept(slug="Help Desk")]}, "slug"),
    "duplicate-slug": ({"departments": [dept(), dept(addresses=["other@example.test"])]}, "slug"),
    "address-in-two-departments": (
        {"departments": [dept(), dept(slug="hr", name="HR", addresses=["HELPDESK@example.test"])]}, "addresses"),
    "not-an-address": ({"departments": [dept(agents=["agent at example.test"])]}, "agents"),
    "no-addresses": ({"departments": [dept(addresses=[])]}, "addresses"),
    "imap-unknown-department": (minimal(imap=[dict(IMAP, department="sales")]), "department"),
    "missing-department-name": ({"departments": [{"slug": "helpdesk", "addresses": ["h@example.test"]}]}, "name"),
    "missing-imap-host": (minimal(imap=[{"username": "desk", "department": "helpdesk"}]), "host"),
    "departments-not-an-array": ({"departments": {"slug": "helpdesk"}}, "departments"),
    "section-not-a-table": (minimal(site="Sensedesk"), "site"),
    "key-with-newline": (minimal(site={"na\nme": "x"}), "na"),
    "section-with-newline": (minimal(**{"sm\ntp": {}}), "sm"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_configuration_is_one_line_naming_the_key(name):
    document, key = BAD[name]
    with pytest.raises(ConfigError) as caught:
        parse(document)
    text = str(caught.value)
    assert "\n" not in text and "\r" not in text, text
    assert key.split("\n")[0] in text, text


@pytest.mark.parametrize("port", ["1", "65535"])
def test_listen_ports_in_range(port):
    assert parse(minimal(smtp_in={"listen": f"127.0.0.1:{port}"}))["smtp_in"]["listen"].endswith(port)


@pytest.mark.parametrize("listen", ["", "[::1]:2525", "mail.example.test:25"])
def test_listen_forms(listen):
    assert parse(minimal(smtp_in={"listen": listen}))["smtp_in"]["listen"] == listen


def test_imap_account_defaults_its_name_to_the_username():
    config = parse(minimal(imap=[IMAP]))
    assert config.imap[0]["name"] == "desk" and config.imap[0]["ssl"] is True


@pytest.mark.parametrize("url", ["postgresql://desk@db.example.test/sensedesk",
                                 "postgresql:///sensedesk?host=/var/run/postgresql",
                                 "postgres://desk@db.example.test/?database=sensedesk"])
def test_a_postgresql_url_may_name_its_database_in_the_path_or_the_query(url):
    assert parse(minimal(database={"url": url}))["database"]["url"] == url


def test_database_url_from_the_environment(monkeypatch):
    monkeypatch.setenv("SENSEDESK_DATABASE_URL", "postgresql://desk@db.example.test:5432/sensedesk")
    assert parse(minimal())["database"]["url"] == "postgresql://desk@db.example.test:5432/sensedesk"
    monkeypatch.setenv("SENSEDESK_DATABASE_URL", "mysql://db.example.test/desk")
    with pytest.raises(ConfigError, match="url"):
        parse(minimal())


@pytest.mark.parametrize("variable, value, section, key, expected", [
    ("SENSEDESK_SMTP_OUT_PORT", "587", "smtp_out", "port", 587),
    ("SENSEDESK_SMTP_OUT_STARTTLS", "true", "smtp_out", "starttls", True),
    ("SENSEDESK_SMTP_OUT_STARTTLS", "0", "smtp_out", "starttls", False),
    ("SENSEDESK_SITE_NAME", "Kundeservice", "site", "name", "Kundeservice"),
])
def test_environment_overrides(monkeypatch, variable, value, section, key, expected):
    monkeypatch.setenv(variable, value)
    assert parse(minimal())[section][key] == expected


@pytest.mark.parametrize("variable, value", [("SENSEDESK_SMTP_OUT_PORT", "submission"),
                                             ("SENSEDESK_SMTP_OUT_STARTTLS", "maybe")])
def test_bad_environment_override_is_one_line(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        parse(minimal())
    assert "\n" not in str(caught.value) and variable in str(caught.value)


def test_load_missing_file(tmp_path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("text", ['[site]\nname = "unterminated\n', "[site\n", "= 1\n", "[site]\nname = 1\nname = 2\n",
                                  '[site]\nname = """\n\n'])
def test_load_invalid_toml(tmp_path, text):
    path = tmp_path / "sensedesk.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_load_reports_the_file_and_the_key(tmp_path):
    path = tmp_path / "sensedesk.toml"
    path.write_text('[smtp_out]\nport = "25"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value).startswith(str(path)) and "[smtp_out].port" in str(caught.value)


def test_load_not_utf8(tmp_path):
    path = tmp_path / "sensedesk.toml"
    path.write_bytes(b'[site]\nname = "Troms\xf8"\n')
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert "\n" not in str(caught.value)


def test_default_path_follows_the_environment(monkeypatch):
    assert configuration.default_path() == "config/sensedesk.toml"
    monkeypatch.setenv("SENSEDESK_CONFIG", "/etc/sensedesk.toml")
    assert configuration.default_path() == "/etc/sensedesk.toml"


def test_a_postgresql_url_without_a_database_is_named_without_its_password():
    with pytest.raises(ConfigError) as caught:
        parse(minimal(database={"url": "postgresql://desk:s3cret@db.example.test:5432/"}))
    assert "[database].url" in str(caught.value) and "s3cret" not in str(caught.value)
