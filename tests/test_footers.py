"""Device footers: whole lines a mail app adds, in the languages agents write (replies R3)."""

from __future__ import annotations

import pytest

from maild.mail import footers


@pytest.mark.parametrize("line", [
    "Sent from my iPhone", "Sent from my iPhone 15 Pro", "Sent from my Wiko RIDGE FAB 4G",
    "Sent from my Verizon Wireless BlackBerry", "Sent from my Huawei Mobile", "Sent from my Windows Phone",
    "Sent from Outlook Mobile<https://aka.ms/ghei36>", "Sent from Outlook for Android",
    "Sent from TypeApp<http://www.typeapp.com/r?b=2621>", "Sent from Acompli",
    "Sent with Sparrow (http://www.sparrowmailapp.com/?sig)", "Sent from Yahoo Mail on Android",
    "Sent from Mail for Windows 10", "Get Outlook for iOS<https://aka.ms/o0ukef>",
    "Sendt fra min iPad", "Sendt fra min Samsung Galaxy-smarttelefon.", "Hent Outlook for Android",
    "Skickat från min iPhone", "Skickat från Outlook för iOS", "Skaffa Outlook för Android",
    "Von meinem iPhone gesendet", "Gesendet von meinem BlackBerry 10-Smartphone.",
    "Gesendet von Outlook für Android<https://aka.ms/AAb9ysg>", "Gesendet mit der mobilen Mail App",
    "Gesendet mit der WEB.DE Mail App", "Outlook für iOS beziehen",
    "Diese Nachricht wurde von meinem Android-Mobiltelefon mit K-9 Mail gesendet.",
])
def test_app_footers_are_footers(line):
    assert footers.is_footer(line)
    assert footers.is_footer(f"  {line}  ")


@pytest.mark.parametrize("line", [
    "Sent from my laptop at home", "Sent from a magnificent torch of pixels",
    "Sent from my iPhone, so I keep it short.", "Sent from my desk, is much easier then my mobile phone.",
    "The notification was sent from my iPhone app to all users.", "Sent from the main server.",
    "Med vennlig hilsen", "Get Outlook to print it",
    "Sent from my iPhone " + "x" * 150,
])
def test_the_writers_own_lines_are_not_footers(line):
    assert not footers.is_footer(line)
