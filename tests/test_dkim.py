"""DKIM signatures on outbound mail (MAIL_RULES 66): signed last, verified by dkimpy against the published key.

The key pair is made by openssl for each run; verification looks the public
key up through dkimpy's ``dnsfunc`` hook instead of DNS, answering only for
``<selector>._domainkey.<domain>`` as a zone would.
"""

from __future__ import annotations

import base64
import email
import email.policy
import subprocess

import dkim
import pytest
from conftest import deliver, prepare
from mailfactory import make_mail

from maild.config import ConfigError, parse
from maild.outbound import sender
from maild.outbound.transport import make_transport

SELECTOR = "sd2026"


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory) -> tuple[str, bytes]:
    """(path of a PEM private key, the TXT record publishing its public key)."""
    folder = tmp_path_factory.mktemp("dkim")
    key = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                            capture_output=True).stdout
    return str(key), b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def dns(record: bytes, domain: bytes = b"example.test"):
    """dkimpy's DNS lookup, answering for our selector's name only."""
    def lookup(name, timeout=5):
        return record if name == b"%s._domainkey.%s." % (SELECTOR.encode(), domain) else None
    return lookup


def sent_mail(make_config, tmp_path, key_file: str) -> list[bytes]:
    """What the maildir transport wrote after a new case (acknowledgement and the agents' notice)."""
    ctx = prepare(make_config(smtp_out={"transport": "maildir", "dkim_selector": SELECTOR,
                                        "dkim_key_file": key_file},
                              site={"var_dir": str(tmp_path / "var")}))
    deliver(ctx, make_mail(sender="kari@example.org", subject="Blåskjerm på PC-en", body="Den krasjer."))
    transport = make_transport(ctx.config)
    sender.drain(ctx, transport)
    transport.close()
    ctx.db.close()
    folder = tmp_path / "var" / "sent" / "new"
    # The maildir transport adds the envelope as trace headers in front; a relay would not.
    return [b"\r\n".join(line for line in path.read_bytes().split(b"\r\n")
                         if not line.startswith((b"Return-Path:", b"Delivered-To:")))
            for path in sorted(folder.iterdir())]


def test_outbound_mail_is_signed_for_its_from_domain_and_verifies(make_config, tmp_path, key_pair):
    key_file, record = key_pair
    mails = sent_mail(make_config, tmp_path, key_file)
    assert len(mails) == 2
    for raw in mails:
        assert raw.startswith(b"DKIM-Signature:")
        assert dkim.verify(raw, dnsfunc=dns(record))
        message = email.message_from_bytes(raw, policy=email.policy.default)
        tags = dict(t.strip().split("=", 1) for t in str(message["DKIM-Signature"]).replace("\r\n", "").split(";")
                    if "=" in t)
        assert tags["d"] == "example.test" and tags["s"] == SELECTOR and tags["c"] == "relaxed/simple"
        assert "l" not in tags  # no body length limit: nothing can be appended under the signature
        signed = tags["h"].replace(" ", "").split(":")
        assert {"from", "to", "subject", "date", "message-id"} <= set(signed)
        assert signed.count("from") == 2  # oversigned: a second From breaks the signature


def test_a_changed_subject_or_body_or_an_added_header_fails_verification(make_config, tmp_path, key_pair):
    key_file, record = key_pair
    # The acknowledgement: maildir names do not keep the order the mails were written in.
    raw = next(m for m in sent_mail(make_config, tmp_path, key_file)
               if b"kari@example.org" in next(line for line in m.split(b"\r\n") if line.startswith(b"To:")))
    subject = next(line for line in raw.split(b"\r\n") if line.startswith(b"Subject:"))
    assert not dkim.verify(raw.replace(subject, subject + b" (edited)"), dnsfunc=dns(record))
    assert not dkim.verify(raw + b"Appended text.\r\n", dnsfunc=dns(record))
    forged_from = raw.replace(b"\r\nFrom:", b"\r\nFrom: Mallory <mallory@evil.example>\r\nFrom:", 1)
    assert forged_from != raw and not dkim.verify(forged_from, dnsfunc=dns(record))
    # A header we sign but did not write (Reply-To on an acknowledgement) cannot be added either.
    assert b"\r\nReply-To:" not in raw.split(b"\r\n\r\n", 1)[0]
    added = raw.replace(b"\r\nSubject:", b"\r\nReply-To: mallory@evil.example\r\nSubject:", 1)
    assert not dkim.verify(added, dnsfunc=dns(record))
    assert not dkim.verify(raw, dnsfunc=dns(record, b"other.example"))  # another domain's key is not ours


def test_without_a_selector_nothing_is_signed(make_config, tmp_path):
    ctx = prepare(make_config(smtp_out={"transport": "maildir"}, site={"var_dir": str(tmp_path / "var")}))
    deliver(ctx, make_mail())
    transport = make_transport(ctx.config)
    sender.drain(ctx, transport)
    ctx.db.close()
    assert all(b"DKIM-Signature" not in p.read_bytes() for p in (tmp_path / "var" / "sent" / "new").iterdir())


def minimal(**smtp_out) -> dict:
    return {"departments": [{"slug": "helpdesk", "name": "Helpdesk", "addresses": ["helpdesk@example.test"]}],
            "smtp_out": smtp_out}


def test_a_bad_dkim_configuration_is_one_line_naming_the_key(tmp_path, key_pair):
    not_a_key = tmp_path / "notes.txt"
    not_a_key.write_text("hello")
    # Keys that look right but cannot sign: with a passphrase, or not RSA.
    locked = tmp_path / "locked.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-aes256",
                    "-pass", "pass:secret", "-out", str(locked)], check=True, capture_output=True)
    curve = tmp_path / "ec.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", str(curve)], check=True, capture_output=True)
    for smtp_out, key, words in (
            ({"dkim_selector": SELECTOR}, "dkim_key_file", "required"),
            ({"dkim_key_file": key_pair[0]}, "dkim_selector", "required"),
            ({"dkim_selector": "bad selector", "dkim_key_file": key_pair[0]}, "dkim_selector", "only"),
            ({"dkim_selector": SELECTOR, "dkim_key_file": str(tmp_path / "missing.pem")}, "dkim_key_file",
             "cannot read"),
            ({"dkim_selector": SELECTOR, "dkim_key_file": str(not_a_key)}, "dkim_key_file", "not an unencrypted RSA"),
            ({"dkim_selector": SELECTOR, "dkim_key_file": str(locked)}, "dkim_key_file", "not an unencrypted RSA"),
            ({"dkim_selector": SELECTOR, "dkim_key_file": str(curve)}, "dkim_key_file", "not an unencrypted RSA")):
        with pytest.raises(ConfigError) as caught:
            parse(minimal(**smtp_out), "test")
        assert f"[smtp_out].{key}" in str(caught.value) and words in str(caught.value)
        assert "\n" not in str(caught.value)
    assert parse(minimal(dkim_selector=SELECTOR, dkim_key_file=key_pair[0]), "test")
