"""The portal against crafted requests: ids, page numbers, huge bodies, a forged Host (issue: hardening).

Each of these gave a 500, filled the disk or sent a person elsewhere before
it was fixed; they run against the real portal under waitress.
"""

from __future__ import annotations

import socket
import time

import pytest
from conftest import deliver
from mailfactory import make_mail
from portalkit import Client, logged_in, make_admin

from maild.store.models import Case, Entry
from portal.web import max_body_bytes


def _case(site, sender="kari@example.org") -> Case:
    deliver(site.ctx, make_mail(sender=sender, subject="Printer on floor 3", body="It jams."))
    return Case.select().order_by(Case.id.desc()).first()


BAD_IDS = ["²", "١٢", "𝟙", "1" * 13, "-1", "1.0", "0x1", " 1"]
BAD_PAGES = ["99999999999999999999", "100001", "0", "-3", "²", "abc", "1e3"]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_an_id_that_is_not_plain_ascii_digits_is_404(site):
    case = _case(site)
    kari, admin = logged_in(site), make_admin(site)
    for case_id in BAD_IDS:
        assert kari.get(f"/requests/{case_id}").status_code == 404, case_id
        assert admin.get(f"/agent/cases/{case_id}").status_code == 404, case_id
        assert admin.get("/agent/faq/new", params={"entry": case_id}).status_code == 404, case_id
    assert kari.get(f"/requests/{case.id}").status_code == 200


def test_a_page_number_out_of_range_or_not_a_number_is_404(site):
    _case(site)
    kari, admin = logged_in(site), make_admin(site)
    for page in BAD_PAGES:
        assert kari.get("/requests", params={"page": page}).status_code == 404, page
        assert kari.get("/faq", params={"page": page}).status_code == 404, page
        assert admin.get("/agent", params={"page": page}).status_code == 404, page
    for page in ("1", "100000", ""):
        assert kari.get("/requests", params={"page": page}).status_code == 200, page
        assert admin.get("/agent", params={"page": page}).status_code == 200, page


def _push(port: int, head: bytes, piece: bytes, most: int) -> tuple[bytes, int]:
    """Send a request's head, then ``piece`` again and again until the server answers or ``most`` bytes went.

    Returns the start of the answer and how many body bytes were sent before it came.
    """
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head)
        conn.settimeout(0.05)
        started = time.monotonic()
        while sent < most and not answer and time.monotonic() - started < 30:
            try:
                conn.sendall(piece)
                sent += len(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            except socket.timeout:
                pass
            try:
                answer += conn.recv(65536)
            except (socket.timeout, ConnectionResetError):
                pass
        conn.settimeout(5)
        try:
            while answer and b"\r\n" not in answer:
                more = conn.recv(65536)
                if not more:
                    break
                answer += more
        except (ConnectionResetError, socket.timeout):
            pass
    return answer, sent


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_huge_body_is_refused_before_it_is_read(site):
    """waitress would buffer up to 1 GiB of a POST before the portal saw it; now it stops at the limit."""
    declared = 300 * 1024 * 1024
    head = (b"POST /requests/1/reply HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
            + f"Content-Length: {declared}\r\n\r\n".encode())
    answer, sent = _push(site.server.port, head, b"x" * 65536, declared)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # The answer came before the body: at most a few buffers were sent.
    assert sent < 64 * 1024 * 1024, sent


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_chunked_body_past_the_limit_is_cut_off(site):
    limit = max_body_bytes(site.ctx.config)
    chunk = b"x" * 1_000_000
    head = b"POST /requests/1/reply HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer, sent = _push(site.server.port, head, b"%x\r\n" % len(chunk) + chunk + b"\r\n", 2 * limit)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # Cut off at the limit, give or take what the sockets had in flight.
    assert sent < limit + 16 * 1024 * 1024, sent


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_redirects_point_at_the_base_url_whatever_the_host_header(site):
    visitor = Client(site)
    answer = visitor.get("/requests", allow_redirects=False, headers={"Host": "evil.example"})
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"{site.url}/login?next=/requests"
    kari = logged_in(site)
    token = kari.csrf("/requests")
    # requests matches cookies by the Host header: send the session cookie by hand.
    answer = kari.http.post(site.url + "/logout", data={"csrf": token}, allow_redirects=False,
                            headers={"Host": "evil.example", "Cookie": f"sd={kari.http.cookies['sd']}"})
    assert answer.status_code == 303 and answer.headers["Location"] == f"{site.url}/", answer.headers


@pytest.mark.settings(mail={"max_attachment_bytes": 100_000}, smtp_in={"max_message_bytes": 200_000})
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_reply_with_a_file_over_the_limit_comes_back_with_its_text(site):
    case = _case(site)
    kari = logged_in(site)
    page = kari.get(f"/requests/{case.id}").text
    assert "At most 97.7 kB per file." in page and 'data-max-bytes="100000"' in page
    answer = kari.post(f"/requests/{case.id}/reply", {"text": "Here is the scan you asked for."},
                       files=[("files", ("scan.pdf", b"x" * 250_000, "application/pdf"))],
                       form_page=f"/requests/{case.id}")
    assert answer.status_code == 400
    assert "A file is larger than the limit." in answer.text
    assert "Here is the scan you asked for." in answer.text
    assert Entry.select().where(Entry.case == case).count() == 1
