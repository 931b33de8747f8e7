"""Test mail for bench/ingest.py: new requests from distinct senders and replies to them.

Built with ``email.policy.SMTP`` (CRLF line endings), 1.1-2 KB each, with a
realistic header block and body. A reply comes from the sender of an earlier
new mail on the same connection, names that mail's Message-ID in
``In-Reply-To`` and ``References`` and quotes it.
"""

from __future__ import annotations

import email.policy
import email.utils
import random
import zlib
from email.message import EmailMessage

DEPARTMENTS = (
    # slug, name, address, notify (one agent each), language, share of the new mail
    ("helpdesk", "Helpdesk", "helpdesk@example.test", "agent@example.test", "en", 0.75),
    ("hr", "HR", "hr@example.test", "hr-agent@example.test", "nb", 0.25),
)
AGENTS = frozenset(d[3] for d in DEPARTMENTS)

FIRST = ["Kari", "Ola", "Ingrid", "Lars", "Maria", "Jonas", "Sofie", "Henrik", "Emma", "Thomas",
         "Nora", "Anders", "Ida", "Erik", "Sara", "Martin", "Julie", "Kristian", "Hanne", "Magnus"]
LAST = ["Nordmann", "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen",
        "Kristiansen", "Jensen", "Karlsen", "Berg", "Haugen", "Hagen", "Eriksen", "Dahl"]
DOMAINS = ["example.org", "example.com", "customer.example", "mail.example.net", "corp.example"]
SUBJECTS = {
    "helpdesk": ["Printer on floor {n} is broken", "Cannot log in to the VPN", "Laptop will not start",
                 "Outlook keeps asking for my password", "Need access to the {w} share",
                 "Screen flickers after the update", "Phone not syncing mail", "Request: new keyboard",
                 "Wi-Fi drops in meeting room {n}", "Software install request: {w}"],
    "hr": ["Spørsmål om ferie i uke {n}", "Sick leave registration", "Change of bank account",
           "Question about my contract", "Parental leave from {w}", "Travel expense claim {n}",
           "Address change", "Overtime for {w}"],
}
WORDS = ["finance", "design", "marketing", "sales", "research", "legal", "ops", "January", "March",
         "August", "Visio", "AutoCAD", "Zoom", "Teams"]
PARAGRAPHS = [
    ("Since this morning I have not been able to get it to work. I tried restarting twice and "
     "unplugging everything for a minute, but the problem is still there and the error message "
     "is the same as before."),
    ("It started after the update that was installed on Tuesday evening. A colleague sitting next "
     "to me has the same model and hers works fine, so I do not think it is the network."),
    ("This is fairly urgent for me, as I have a deadline on Friday and need to finish the report "
     "for the quarterly meeting. If someone could take a look before lunch that would be great."),
    ("I have attached nothing yet, but I can send a screenshot of the error if that helps. The "
     "message says something like \"the operation could not be completed (error 0x80070005)\"."),
    ("My manager has already approved this, and I have put her in the loop by mail. Please let me "
     "know if you need a formal approval in the system or anything else from me."),
    ("I am in the office on floors 3 and 4 most of the week, and working from home on Mondays. "
     "You can reach me on my mobile as well if it is easier to sort this out by phone."),
    ("Jeg har prøvd å finne svaret på intranettet, men fant ikke noe som passet min situasjon. "
     "Kan dere hjelpe meg med hva som gjelder, og om det er et skjema jeg må fylle ut?"),
    ("Thanks in advance for your help, and sorry if this has been asked before. I looked through "
     "the FAQ but could not find anything that matched exactly what I am seeing."),
]
REPLY_LINES = [
    ("Thanks for the quick answer. I tried what you suggested, but unfortunately it is still the "
     "same. Is there anything else I can try, or should I bring the machine down to you?"),
    ("Just a short follow-up: the problem came back after lunch. It worked for about an hour after "
     "the restart. Let me know if you want me to do anything in the meantime."),
    ("One more detail I forgot to mention: it only happens when I am connected through the docking "
     "station, not when I use the laptop on its own."),
     "Takk for svar! Da vet jeg hva jeg skal gjøre. Jeg sender inn skjemaet i løpet av dagen.",
]


def _mail(sender_name: str, sender: str, to: str, subject: str, body: str, message_id: str,
          date: str, in_reply_to: str = "") -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Received"] = ("from mail.example.org (mail.example.org [192.0.2.25]) by mx.example.test "
                       f"with ESMTPS id {zlib.crc32(message_id.encode()):08x}; {date}")
    msg["From"] = email.utils.formataddr((sender_name, sender))
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"
    msg["Content-Language"] = "en-GB"
    msg.set_content(body)
    return msg.as_bytes()


def build_streams(total: int, connections: int, reply_share: float = 0.30, seed: int = 1):
    """Messages per connection: lists of (mail_from, rcpt, raw, info).

    ``info`` is ("new", message_id, department) or ("reply", message_id, original_message_id).
    Every reply follows the new mail it answers on the same connection.
    """
    rng = random.Random(seed)
    replies_total = round(total * reply_share)
    sizes = [total // connections + (1 if k < total % connections else 0) for k in range(connections)]
    # Spread the replies over the connections in proportion to their size.
    reply_counts = [replies_total * s // total for s in sizes]
    for k in range(replies_total - sum(reply_counts)):
        reply_counts[k % connections] += 1
    date = email.utils.formatdate(localtime=False)
    streams, serial = [], 0
    for k, (size, n_replies) in enumerate(zip(sizes, reply_counts)):
        n_new = size - n_replies
        if size and n_new < 1:
            raise ValueError("too few messages per connection for the reply share")
        kinds = ["new"] + rng.sample(["new"] * (n_new - 1) + ["reply"] * n_replies, size - 1) if size else []
        stream, sent_new = [], []
        for kind in kinds:
            serial += 1
            mid = f"<bench.{serial}.{rng.getrandbits(48):012x}@client.example.org>"
            if kind == "new":
                dept = rng.choices(DEPARTMENTS, weights=[d[5] for d in DEPARTMENTS])[0]
                first, last = rng.choice(FIRST), rng.choice(LAST)
                sender = f"{first}.{last}.{serial}@{rng.choice(DOMAINS)}".lower()
                subject = rng.choice(SUBJECTS[dept[0]]).format(n=rng.randint(1, 12), w=rng.choice(WORDS))
                paragraphs = rng.sample(PARAGRAPHS, rng.randint(3, 5))
                body = ("Hi,\n\n" + "\n\n".join(paragraphs)
                        + f"\n\nBest regards,\n{first} {last}\n{rng.choice(WORDS).title()} department\n"
                        + f"Phone +47 {rng.randint(40000000, 99999999)}\n")
                raw = _mail(f"{first} {last}", sender, dept[2], subject, body, mid, date)
                original = {"sender": sender, "name": f"{first} {last}", "to": dept[2], "subject": subject,
                            "body": body, "mid": mid}
                sent_new.append(original)
                stream.append((sender, dept[2], raw, ("new", mid, dept[0])))
            else:
                original = rng.choice(sent_new)
                quoted = "\n".join("> " + line if line else ">" for line in original["body"].splitlines())
                body = (f"{rng.choice(REPLY_LINES)}\n\n{original['name'].split()[0]}\n\n"
                        f"On {date}, {original['name']} <{original['sender']}> wrote:\n{quoted}\n")
                raw = _mail(original["name"], original["sender"], original["to"], "Re: " + original["subject"],
                            body, mid, date, in_reply_to=original["mid"])
                stream.append((original["sender"], original["to"], raw, ("reply", mid, original["mid"])))
        streams.append(stream)
    return streams


