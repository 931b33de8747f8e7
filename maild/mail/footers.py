"""Device footers: the line a mail app adds under what its user wrote ("Sent from my iPhone").

A footer is the app's, not the writer's, so it is not relayed (replies R3).
Only whole lines that name a device, a brand or a mail app are footers:
"Sent from my laptop at home", "Sent from a magnificent torch of pixels" or
"Sent from my iPhone, so I keep it short." are the writer's own and stay.
Outlook's mobile apps append their link in angle brackets ("Get Outlook for
iOS<https://aka.ms/o0ukef>"), Sparrow and TypeApp theirs in brackets too.
"""

from __future__ import annotations

import re

# Phones and tablets by name and brand, as their mail apps sign ("Sent from my
# Samsung Galaxy smartphone.", "Sent from my Wiko RIDGE FAB 4G", "Von meinem
# Huawei-Handy gesendet").
_DEVICE = (r"(?:iPhone|iPad|iPod|Apple Watch|Android|Samsung|Galaxy|Pixel|Huawei|Honor|Xiaomi|Redmi|OnePlus|Oppo"
           r"|Motorola|Moto|Nokia|Sony|Xperia|LG|HTC|Wiko|Fairphone|Lenovo|Asus|ZTE|Alcatel|BlackBerry|Kindle"
           r"|Verizon|Windows Phone|Smartphone|Handy|Tablet|Mobile|mobil|mobiltelefon|4G|5G|LTE)")
# "my" in the languages we read: "Sent from my", "Sendt fra min", "Skickat
# från min", "Gesendet von meinem", "Von meinem … gesendet".
_FROM_MY = r"(?:sent from my|sendt fra min|sendt frå min|skickat från min|gesendet von meinem|von meinem)"
# Mail apps that sign in their own name: Outlook's mobile apps ("Sent from
# Outlook for iOS", "Sent from Outlook Mobile"), Windows Mail ("Sent from Mail
# for Windows 10"), Yahoo ("Sent from Yahoo Mail on Android"), TypeApp,
# Acompli (Outlook's predecessor), Sparrow, Spark, BlueMail, AOL.
_APP = (r"(?:Outlook(?: Mobile)?|Mail|E-post|Yahoo Mail|TypeApp|Acompli|Sparrow|Spark|Blue ?Mail|myMail|AOL Mobile Mail"
        r"|Samsung Mobile|Gmail Mobile|ProtonMail(?: mobile)?|Proton Mail(?: mobile)?)")
_PLATFORM = r"(?:iOS|Android|iPhone|iPad|Windows(?: 1[01])?|Mac)"
_FOOTER = re.compile(
    r"^(?:"
    # "Sent from my iPhone", "Von meinem iPhone gesendet", "Sent from my Verizon Wireless BlackBerry".
    rf"{_FROM_MY} (?:[\w®-]+ ){{0,3}}{_DEVICE}\b(?:[ -][\w®-]+){{0,4}}"
    # "Sent from Outlook for iOS", "Sendt fra Outlook for Android", "Skickat från E-post för Windows 10",
    # "Sent from Yahoo Mail on Android", "Sent with Sparrow", "Sent from TypeApp".
    rf"|(?:sent (?:from|with|via)|sendt fra|skickat från|gesendet (?:von|mit)|envoyé depuis) {_APP}"
    rf"(?: (?:for|on|til|för|für|auf|pour) {_PLATFORM})?"
    # Outlook's invitation: "Get Outlook for iOS", "Hent Outlook til Android", "Skaffa Outlook för iOS".
    rf"|(?:get|få|hent|skaffa|hämta) Outlook (?:for|til|för|für) {_PLATFORM}"
    # German Outlook mobile: "Outlook für iOS beziehen".
    rf"|Outlook für {_PLATFORM} (?:beziehen|herunterladen)"
    # GMX and Web.de: "Gesendet mit der mobilen Mail App", "Gesendet mit der WEB.DE Mail App".
    r"|gesendet mit der (?:mobilen )?(?:[\w.]+ )?mail app"
    # K-9 Mail: "Diese Nachricht wurde von meinem Android-Mobiltelefon mit K-9 Mail gesendet."
    r"|(?:diese nachricht wurde|this message was sent|sent) (?:von meinem|from my) [\w-]+ (?:mit|with) K-9 Mail(?: gesendet)?"
    r")[.!]?(?:[ \t]*(?:<[^<>\s]+>|\([^()\s]+\)))?$",
    re.IGNORECASE)
_LONGEST = 120


def is_footer(line: str) -> bool:
    """Whether a line is a mail app's footer, as a whole line."""
    line = line.strip()
    return len(line) <= _LONGEST and bool(_FOOTER.match(line))
