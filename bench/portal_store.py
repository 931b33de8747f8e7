"""The store bench/portal.py measures: customers, cases and their history at scale, as the product writes them.

Rows go in through the models (``insert_many`` in transactions of a few
thousand cases) with the columns the domain operations in ``maild/cases.py``
would give them: a case with its requester as participant, a history of
customer messages (public, with a Message-ID, remembered in
``message_ref``), the department's replies, internal notes, and on a closed
case the closing event. Each case's subject and each entry but events is
put in the full-text index by ``maild.search.index_case`` and
``index_entry``, the live code, in the transaction that writes the rows,
as the product does; so whatever the index holds, it holds here too.

Left out, because no page measured reads them and they would only add
bytes: spool rows (the raw mail), the outbox, inbound-message keys and
attachments.

The history is deterministic for a seed. Cases spread over two years, in
order of their numbers; what was active in the last 30 days is new, open,
pending or closed, and nearly everything older is closed. One customer,
``BIG_CUSTOMER``, has ``big`` cases spread over the two years; the others
share the rest at random, and one case in twenty copies a second customer.
Bodies are a few stock paragraphs (as bench/ingest_mail.py writes them),
a sentence made of words drawn from a Zipf distribution over 5,000 made-up
words (so the index has rare words as well as common ones), and, in a
customer's answer, the quoted reply it answers.

One case of the big customer is made to have exactly five messages, for
the case page (``Fixture.case_page``).
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import random

from ingest_mail import DEPARTMENTS, FIRST, LAST, PARAGRAPHS, REPLY_LINES, SUBJECTS, WORDS

from maild import search
from maild.store.db import is_sqlite
from maild.store.models import Case, Entry, Membership, MessageRef, Participant, Person, utcnow

BIG_CUSTOMER = "big.customer@example.org"
SPAN_DAYS = 730
RECENT_DAYS = 30
CHUNK = 2000  # cases per transaction
VOCABULARY = 5000


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How large a store to build; with the seed, what names it in the cache."""

    cases: int = 100_000
    entries: int = 500_000
    customers: int = 20_000
    big: int = 500
    seed: int = 1

    def problems(self) -> list[str]:
        """What is wrong with these sizes (nothing, usually)."""
        out = []
        if self.cases < 2 or self.customers < 2:
            out.append("need at least 2 cases and 2 customers")
        if not 1 <= self.big < self.cases:
            out.append("the big customer needs at least one case, and fewer than all")
        if self.entries < self.cases + 4:
            out.append("need at least 4 more entries than cases (the case page has 5 messages)")
        return out

    def key(self) -> str:
        """A file name part that says what was built: sizes and seed."""
        return f"c{self.cases}-e{self.entries}-p{self.customers}-b{self.big}-s{self.seed}"


@dataclasses.dataclass
class Fixture:
    """Who and what the bench asks for, and what the store holds."""

    big_customer: str
    agent: str
    department: str
    case_page: int  # a case of the big customer with exactly five messages
    counts: dict
    build_seconds: float = 0.0


def _vocabulary(rng: random.Random) -> list[str]:
    """Made-up words of two to four syllables, none of them a prefix of a real word we search for."""
    onsets = ["b", "d", "f", "g", "h", "k", "l", "m", "n", "r", "s", "t", "v", "sk", "st", "tr", "kj"]
    vowels = ["a", "e", "i", "o", "u", "y", "ø", "å", "æ"]
    seen: set[str] = set()
    while len(seen) < VOCABULARY:
        seen.add("".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.randint(2, 4))))
    return sorted(seen)


class History:
    """Writes the rows of one store, case after case, from a seeded random source."""

    def __init__(self, sizes: Sizes, now: datetime.datetime):
        self.sizes, self.now = sizes, now
        self.rng = random.Random(sizes.seed)
        words = _vocabulary(self.rng)
        self.rng.shuffle(words)
        self.words = words
        self.cum_weights = list(itertools.accumulate(1.0 / rank for rank in range(1, len(words) + 1)))
        self.start = now - datetime.timedelta(days=SPAN_DAYS)
        # Person ids: one agent per department, then the big customer, then the others.
        self.agents = {slug: i + 1 for i, (slug, *_rest) in enumerate(DEPARTMENTS)}
        self.big_id = len(DEPARTMENTS) + 1
        self.last_person = self.big_id + sizes.customers - 1
        self.entry_id = 0

    # ------------------------------------------------------------------ people

    def people(self) -> list[tuple]:
        """Person rows: (id, email, name, role, language, created_at)."""
        rows = [(self.agents[slug], agent, f"{slug.upper()} Agent", "agent", lang, self.start)
                for slug, _name, _address, agent, lang, _share in DEPARTMENTS]
        rows.append((self.big_id, BIG_CUSTOMER, "Berit Storkunde", "customer", "", self.start))
        for pid in range(self.big_id + 1, self.last_person + 1):
            first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            lang = "nb" if self.rng.random() < 0.3 else ""
            rows.append((pid, f"{first}.{last}.{pid}@example.org".lower(), f"{first} {last}", "customer", lang,
                         self.start))
        return rows

    def name_of(self, pid: int) -> str:
        """A customer's first name for greetings (stable per person)."""
        return FIRST[pid % len(FIRST)]

    # ------------------------------------------------------------------ plan

    def plan(self) -> tuple[list[int], list[int], int]:
        """Entries per case (summing to ``entries``), the requester of each case, and the case-page case."""
        sizes, rng = self.sizes, self.rng
        counts = [1] * sizes.cases
        for _ in range(sizes.entries - sizes.cases):
            counts[rng.randrange(sizes.cases)] += 1
        # Not the last case: that one is the queue's newest (History.case).
        big_cases = sorted(rng.sample(range(sizes.cases - 1), sizes.big))
        requesters = [rng.randint(self.big_id + 1, self.last_person) if sizes.customers > 1 else self.big_id
                      for _ in range(sizes.cases)]
        for index in big_cases:
            requesters[index] = self.big_id
        # The case page: a recent case of the big customer, with five entries that all say something.
        page = big_cases[-1]
        donor = next(i for i in range(sizes.cases) if i != page and counts[i] > 1 + max(0, 5 - counts[page]))
        move = 5 - counts[page]
        counts[page] += move
        counts[donor] -= move
        return counts, requesters, page + 1

    # ------------------------------------------------------------------ text

    def detail(self) -> str:
        """A sentence of made-up words, common and rare ones as Zipf would have them."""
        words = self.rng.choices(self.words, cum_weights=self.cum_weights, k=self.rng.randint(3, 8))
        return f"Reference: {' '.join(words)}."

    def first_message(self, subject: str, name: str) -> str:
        """The mail that opens a case: stock paragraphs, a detail, a signature."""
        rng = self.rng
        opening = f"{subject}.\n\n" if rng.random() < 0.5 else ""
        paragraphs = rng.sample(PARAGRAPHS, rng.randint(2, 4))
        return (f"Hi,\n\n{opening}" + "\n\n".join(paragraphs) + f"\n\n{self.detail()}\n\nBest regards,\n{name}\n"
                f"{rng.choice(WORDS).title()} department\nPhone +47 {rng.randint(40000000, 99999999)}\n")

    def reply(self, name: str, dept_name: str) -> str:
        """The department's answer, as an agent writes it in the portal (nothing quoted)."""
        rng = self.rng
        advice = rng.choice([
            "Could you try restarting the machine while connected to the office network, and tell us if "
            "the problem is still there afterwards?",
            "We have looked into this and made a change on our side. Please check again and let us know.",
            "Thank you, we have registered this and will get back to you as soon as we know more.",
            "Takk for meldingen. Vi har sett på saken og gjort en endring. Gi beskjed om det fortsatt ikke "
            "virker.",
        ])
        return f"Hi {name},\n\n{advice}\n\n{self.detail()}\n\nBest regards,\n{dept_name}\n"

    def answer(self, name: str, quoted_from: str, quoted: str, when: datetime.datetime) -> str:
        """A customer's answer by mail, quoting the reply it answers, as mail programs do."""
        lines = "\n".join("> " + line if line else ">" for line in quoted.splitlines())
        return (f"{self.rng.choice(REPLY_LINES)}\n\n{name}\n\n"
                f"On {when:%d %b %Y %H:%M}, {quoted_from} wrote:\n{lines}\n")

    def note(self) -> str:
        """An agent's internal note."""
        return f"Checked with the supplier; waiting for an answer. {self.detail()}"

    # ------------------------------------------------------------------ one case

    def case(self, case_id: int, n: int, requester: int, role: str = ""):
        """One case's rows: (case row, participant rows, entry rows, message refs).

        ``role`` "page" makes the case page's case: open, five messages, a
        printer in its subject (so both searches find it); "newest" makes the
        last case new in the first department, so the queue's first tab has one.
        """
        rng, sizes = self.rng, self.sizes
        dept = rng.choices(DEPARTMENTS, weights=[d[5] for d in DEPARTMENTS])[0]
        if role:
            dept = DEPARTMENTS[0]
        slug, dept_name, address, _agent, _lang, _share = dept
        agent = self.agents[slug]
        subject = rng.choice(SUBJECTS[slug]).format(n=rng.randint(1, 12), w=rng.choice(WORDS))
        if role == "page":
            subject = SUBJECTS[slug][0].format(n=3)
        offset = SPAN_DAYS * 86400 * (case_id - 0.5) / sizes.cases
        if role == "page":
            offset = SPAN_DAYS * 86400 - 3 * 86400
        times = [self.start + datetime.timedelta(seconds=offset)]
        for _ in range(n - 1):
            times.append(min(times[-1] + datetime.timedelta(hours=rng.expovariate(1 / 10)),
                             self.now - datetime.timedelta(minutes=1)))
        recent = (self.now - times[-1]).days < RECENT_DAYS
        kinds = ["message"]
        for _ in range(n - 1):
            if rng.random() < 0.1:
                kinds.append("note")
            else:
                said = [k for k in kinds if k != "note"]
                kinds.append("reply" if said[-1] == "message" else "message")
        if role == "page":
            kinds = ["message", "reply", "message", "reply", "message"]
            status = "open"
        elif role == "newest":
            kinds = ["message"] * n
            status = "new"
        elif not recent:
            status = rng.choices(("closed", "open", "pending"), (0.97, 0.02, 0.01))[0]
        elif "reply" not in kinds:
            status = "new"
        else:
            status = rng.choices(("closed", "open", "pending"), (0.5, 0.3, 0.2))[0]
        if status == "closed" and n > 1:
            kinds[-1] = "event"
        assignee = agent if "reply" in kinds and rng.random() < 0.7 else None
        who = self.name_of(requester)
        entries, refs = [], []
        previous_reply = ""
        for k, (kind, at) in enumerate(zip(kinds, times)):
            self.entry_id += 1
            html, message_id, change, public, author, entry_subject = "", "", "", True, agent, ""
            if kind == "message":
                author, entry_subject = requester, subject if k == 0 else f"Re: {subject}"
                text = (self.first_message(subject, who) if k == 0 or not previous_reply
                        else self.answer(who, f"{dept_name} <{address}>", previous_reply, times[k - 1]))
                message_id = f"portal-bench.{case_id}.{k}.{rng.getrandbits(40):010x}@example.org"
                refs.append((message_id, case_id))
                if rng.random() < 0.3:
                    html = "<html><body>" + "".join(f"<p>{p}</p>" for p in text.split("\n\n")) + "</body></html>"
            elif kind == "reply":
                text = previous_reply = self.reply(who, dept_name)
            elif kind == "note":
                text, public = self.note(), False
            else:
                text, change = "Closed.", "closed"
            entries.append((self.entry_id, case_id, kind, public, author, entry_subject, text, html, message_id,
                            None, False, False, [], None, at, change))
        closed_at = times[-1] if status == "closed" else None
        case = (case_id, slug, subject, status, requester, assignee, None, "normal", "", [], times[0], times[-1],
                closed_at, "", "", False)
        participants = [(case_id, requester, "requester")]
        if rng.random() < 0.05:
            other = rng.randint(self.big_id, self.last_person)
            if other != requester:
                participants.append((case_id, other, "cc"))
        return case, participants, entries, refs


CASE_FIELDS = [Case.id, Case.department, Case.subject, Case.status, Case.requester, Case.assignee, Case.linked_to,
               Case.priority, Case.request_type, Case.tags, Case.created_at, Case.updated_at, Case.closed_at,
               Case.thread_topic, Case.thread_index, Case.awaiting_approval]
ENTRY_FIELDS = [Entry.id, Entry.case, Entry.kind, Entry.public, Entry.author, Entry.subject, Entry.body_text,
                Entry.body_html, Entry.message_id, Entry.spool_id, Entry.unverified, Entry.automatic, Entry.defects,
                Entry.answers, Entry.created_at, Entry.change]


def _insert(model, fields, rows, batch: int = 1000) -> None:
    for start in range(0, len(rows), batch):
        model.insert_many(rows[start:start + batch], fields=fields).execute()


def fill(db, sizes: Sizes, progress=print) -> Fixture:
    """Write the whole history into a migrated, empty store; the Fixture that describes it."""
    history = History(sizes, utcnow().replace(microsecond=0))
    with db.atomic():
        _insert(Person, [Person.id, Person.email, Person.name, Person.role, Person.language, Person.created_at],
                history.people())
        Membership.insert_many([(pid, slug) for slug, pid in history.agents.items()],
                               fields=[Membership.person, Membership.department]).execute()
    counts, requesters, page = history.plan()
    totals = {"cases": 0, "entries": 0, "participants": 0, "indexed": 0}
    for first in range(1, sizes.cases + 1, CHUNK):
        cases, participants, entries, refs = [], [], [], []
        for case_id in range(first, min(first + CHUNK, sizes.cases + 1)):
            role = "page" if case_id == page else "newest" if case_id == sizes.cases else ""
            c, p, e, r = history.case(case_id, counts[case_id - 1], requesters[case_id - 1], role)
            cases.append(c)
            participants += p
            entries += e
            refs += r
        with db.atomic():
            _insert(Case, CASE_FIELDS, cases)
            _insert(Participant, [Participant.case, Participant.person, Participant.role], participants)
            _insert(Entry, ENTRY_FIELDS, entries, batch=500)
            _insert(MessageRef, [MessageRef.message_id, MessageRef.case], refs)
            # The live indexing code, one document at a time, as opening a case or adding an entry does.
            for row in cases:
                search.index_case(Case(id=row[0], subject=row[2]))
            for row in entries:
                if row[2] != "event":
                    search.index_entry(Entry(id=row[0], case=row[1], public=row[3], body_text=row[6]))
                    totals["indexed"] += 1
        totals["cases"] += len(cases)
        totals["entries"] += len(entries)
        totals["participants"] += len(participants)
        if first == 1 or (first - 1) // CHUNK % 10 == 9:
            progress(f"  {totals['cases']} cases, {totals['entries']} entries written")
    totals["indexed"] += totals["cases"]
    if not is_sqlite(db):
        # Explicit ids leave the sequences behind; the next row the product writes must not collide.
        for table in ("person", "case", "entry"):
            db.execute_sql(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                           f"(SELECT max(id) FROM \"{table}\"))")
    slug = DEPARTMENTS[0][0]
    return Fixture(big_customer=BIG_CUSTOMER, agent=DEPARTMENTS[0][3], department=slug, case_page=page,
                   counts=totals)
