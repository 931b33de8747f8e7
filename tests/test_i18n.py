"""The portal's message catalogue is complete and in step with the code and templates."""

from __future__ import annotations

from portal import catalog, i18n


def test_every_portal_string_has_its_norwegian_text():
    used = catalog.extract()
    po = catalog.read()
    missing, empty = [], []
    for message in used:
        key = message[0] if isinstance(message, tuple) else message
        entry = po.get(key)
        if entry is None:
            missing.append(key)
        elif not (all(entry.string) if isinstance(entry.string, tuple) else entry.string):
            empty.append(key)
    assert not missing, f"not in the catalogue (run python -m portal.catalog): {missing}"
    assert not empty, f"no Norwegian text yet: {empty}"
    unused = [m.id for m in po if m.id and (m.id[0] if isinstance(m.id, tuple) else m.id)
              not in {u[0] if isinstance(u, tuple) else u for u in used}]
    assert not unused, f"in the catalogue but used nowhere: {unused}"


def test_translations_load_with_plurals():
    nb = i18n.load("nb")
    assert nb.gettext("Log in") == "Logg inn"
    assert nb.ngettext("%(num)d request matches “%(q)s”.", "%(num)d requests match “%(q)s”.", 2) \
        == "%(num)d henvendelser passer til «%(q)s»."
    assert i18n.load("en").gettext("Log in") == "Log in"


def test_language_choice():
    assert i18n.from_accept_language("nn-NO, en;q=0.8") == "nb"
    assert i18n.from_accept_language("de-DE, en;q=0.5, nb;q=0.9") == "nb"
    assert i18n.from_accept_language("fr, de") is None
    assert i18n.from_accept_language("nb;q=0, en") == "en"
    assert i18n.from_accept_language("garbage;q=x, ,,") is None
    assert i18n.choose("", "", "fr", "nb") == "nb"
    assert i18n.choose("en", "nb", "nb", "nb") == "en"
    assert i18n.choose("", "nb", "en", "en") == "nb"
