"""Commands an agent writes on the first lines of a reply (SPEC 4).

Each command stands alone on its line, before any other text:

    #note                 the mail is an internal note, for agents only
    #close                close the case (after sending the reply, if any)
    #open                 set the case open
    #pending              set the case waiting for the customer
    #assign ADDRESS|me    give the case to an agent
    #dept SLUG            move the case to another department
    #cc ADDRESS           add a participant
    #approval ADDRESS     ask a person to approve (after anyone already asked)
    #priority LEVEL       low, normal, high or urgent
    #tag NAME             add a tag (#tag -NAME takes it off)
    #merge NUMBER         merge this case into case NUMBER (SD-12, or 12)
    #mal NAME             put reply template NAME before the text (maild/replytemplates.py)
    #forward ADDRESS      send the case to an outside party (the text is for them; maild/forwarding.py)
    #category PATH        put the case in a category of its department (#category - takes it out);
                          the path may hold spaces: "#category Maskinvare/Skriver og kopi"

Blank lines between commands are allowed; the first other line starts the
text. A line that starts with ``#`` but is not one of these is reported back
to the agent, never guessed at. Parsing only: ``agentmail`` obeys them.
"""

from __future__ import annotations

import dataclasses
import re

NAMES = ("note", "close", "open", "pending", "assign", "dept", "cc", "approval", "priority", "tag", "merge",
         "mal", "category", "forward")
_WITH_ARGUMENT = {"assign", "dept", "cc", "approval", "priority", "tag", "merge", "mal", "category", "forward"}
# Commands whose argument is the rest of the line; the others take one word.
_REST_OF_LINE = {"category"}
_LINE = re.compile(r"^#([A-Za-z]+)(?:[ \t]+(.*?))?[ \t]*$")
MAX_COMMANDS = 20


@dataclasses.dataclass(frozen=True)
class Command:
    """One understood command: its name and argument ("" when it takes none)."""

    name: str
    argument: str = ""


@dataclasses.dataclass
class Parsed:
    """The commands found, the lines not understood, and the text after them."""

    commands: list[Command]
    # (code, values): "not_command", "needs_argument" or "no_argument", with
    # the line and the command's name; each language's answer words them.
    problems: list[tuple[str, dict]]
    text: str

    def has(self, name: str) -> bool:
        """Whether a command of this name was given."""
        return any(c.name == name for c in self.commands)


def parse(text: str) -> Parsed:
    """Split the leading command lines off a reply's text."""
    lines = (text or "").replace("\r\n", "\n").split("\n")
    commands, problems = [], []
    index = 0
    while index < len(lines) and len(commands) + len(problems) < MAX_COMMANDS:
        line = lines[index].strip()
        if not line:
            index += 1
            continue
        if not line.startswith("#"):
            break
        match = _LINE.match(line)
        name = match.group(1).lower() if match else ""
        argument = (match.group(2) or "") if match else ""
        if name not in NAMES or (name not in _REST_OF_LINE and len(argument.split()) > 1):
            problems.append(("not_command", {"line": line[:80]}))
        elif name in _WITH_ARGUMENT and not argument:
            problems.append(("needs_argument", {"line": line[:80], "name": name}))
        elif name not in _WITH_ARGUMENT and argument:
            problems.append(("no_argument", {"line": line[:80], "name": name}))
        else:
            commands.append(Command(name, argument))
        index += 1
    rest = "\n".join(lines[index:]).strip("\n")
    return Parsed(commands, problems, rest)
