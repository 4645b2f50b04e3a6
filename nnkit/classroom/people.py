"""The people of a class: the codes that let them in, their display names, the token a browser
keeps between visits, and the caps the teacher sets. A SQLite file of its own beside the run
store (class.sqlite), so a restart of the server signs nobody out.

The class code lets students in; the teacher code (printed only on the server's console) lets
the teacher in. Codes are compared in constant time, and an address that keeps sending wrong
ones waits longer before each next try. A browser holds a random token; the file holds only
its SHA-256, so the file alone signs nobody in.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import secrets
import sqlite3
import threading
import time
import unicodedata
from dataclasses import asdict, dataclass, fields
from pathlib import Path

NAME_MAX = 32  # characters of a display name
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed by hand

SCHEMA = """
CREATE TABLE IF NOT EXISTS people (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, name_key TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Person:
    """Who uses the app: SOLO alone on 127.0.0.1, else a signed-in teacher or student."""

    id: str
    name: str
    role: str  # solo | teacher | student

    @property
    def teaches(self) -> bool:
        """May change every run and set the caps (alone, you are your own teacher)."""
        return self.role in ("solo", "teacher")


SOLO = Person("", "", "solo")


@dataclass(frozen=True)
class Caps:
    """Limits on what one student may start (the teacher is not capped)."""

    queued: int = 3  # jobs waiting or training at once
    epochs: int = 10  # epochs per run
    train_images: int = 60_000  # training images per run (a subset of the dataset)


CAP_RANGES = {"queued": (1, 50), "epochs": (1, 200), "train_images": (100, 60_000)}


class SignInError(Exception):
    """A refused sign-in; the message says why and what to do."""


def new_code(length: int = 6) -> str:
    """A random code of unambiguous capitals and digits."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def normalise_code(text: str) -> str:
    """A code as compared: letters and digits only, in capitals ('abc-234 ' = 'ABC234')."""
    return "".join(c for c in str(text or "") if c.isascii() and c.isalnum()).upper()


def clean_name(text: str) -> str:
    """A display name as plain text: control and format characters removed, spaces collapsed,
    at most NAME_MAX characters; SignInError if nothing is left or it is too long."""
    kept = "".join(c for c in str(text or "") if not unicodedata.category(c).startswith("C"))
    name = " ".join(kept.split())
    if not name:
        raise SignInError("Enter a name to show your classmates (letters, digits, spaces).")
    if len(name) > NAME_MAX:
        raise SignInError(f"That name is {len(name)} characters long; use at most {NAME_MAX}.")
    return name


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Throttle:
    """Wrong codes per address: the first `free` cost nothing, then each next try must wait
    twice as long as the one before (1 s, 2 s, 4 s ... at most `most`). A right code resets."""

    def __init__(self, free: int = 3, first: float = 1.0, most: float = 60.0,
                 clock=time.monotonic) -> None:
        self.free, self.first, self.most, self.clock = free, first, most, clock
        self._lock = threading.Lock()
        self._wrong: dict[str, tuple[int, float]] = {}  # key -> (wrong tries, time of last)

    def wait(self, key: str) -> float:
        """Seconds before `key` may try again (0: now)."""
        with self._lock:
            count, last = self._wrong.get(key, (0, 0.0))
        if count < self.free:
            return 0.0
        delay = min(self.most, self.first * 2 ** (count - self.free))
        return max(0.0, last + delay - self.clock())

    def failed(self, key: str) -> None:
        with self._lock:
            count, _ = self._wrong.get(key, (0, 0.0))
            self._wrong[key] = (count + 1, self.clock())

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._wrong.pop(key, None)


class ClassRoom:
    """A class: its two codes, its people and its caps."""

    def __init__(self, path: Path, code: str, teacher_code: str,
                 throttle: Throttle | None = None) -> None:
        self.path = Path(path)
        self.code, self.teacher_code = normalise_code(code), normalise_code(teacher_code)
        if not self.code or not self.teacher_code or self.code == self.teacher_code:
            raise ValueError("a class needs a class code and a different teacher code")
        self.throttle = throttle or Throttle()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextlib.contextmanager
    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        finally:
            db.close()

    # --- signing in -------------------------------------------------------------------
    def sign_in(self, code: str, name: str, key: str = "") -> tuple[Person, str]:
        """Check a code (from the address `key`) and record a person under `name`; returns
        the person and the token their browser keeps. SignInError says why not."""
        wait = self.throttle.wait(key)
        if wait > 0:
            raise SignInError(f"Too many wrong codes from this computer: try again in "
                              f"{math.ceil(wait)} s.")
        given = normalise_code(code).encode()
        student = hmac.compare_digest(given, self.code.encode())  # both, always: no timing
        teacher = hmac.compare_digest(given, self.teacher_code.encode())  # tells which
        if not (student or teacher):
            self.throttle.failed(key)
            raise SignInError("That is not this class's code: ask your teacher for it.")
        self.throttle.succeeded(key)
        name = clean_name(name)
        person = Person("p-" + secrets.token_hex(6), name, "teacher" if teacher else "student")
        token = secrets.token_urlsafe(32)
        try:
            with self._connect() as db:
                db.execute("INSERT INTO people (id, name, name_key, role, token_hash, created) "
                           "VALUES (?,?,?,?,?,?)", (person.id, name, name.casefold(),
                                                    person.role, _digest(token), time.time()))
        except sqlite3.IntegrityError:
            raise SignInError(f"Someone in this class already goes by {name!r}: add an initial "
                              "or a number.") from None
        return person, token

    def person(self, token: str | None) -> Person | None:
        """The person a browser's token belongs to, or None."""
        if not token or not isinstance(token, str):
            return None
        with self._connect() as db:
            row = db.execute("SELECT id, name, role FROM people WHERE token_hash = ?",
                             (_digest(token),)).fetchone()
        return Person(row["id"], row["name"], row["role"]) if row else None

    def sign_out(self, token: str | None) -> None:
        """Forget a browser's token (its person and runs stay)."""
        if token and isinstance(token, str):
            with self._connect() as db:
                db.execute("UPDATE people SET token_hash = ? WHERE token_hash = ?",
                           ("signed-out-" + secrets.token_hex(16), _digest(token)))

    def people(self) -> list[Person]:
        """Everyone who signed in, in order of arrival."""
        with self._connect() as db:
            rows = db.execute("SELECT id, name, role FROM people ORDER BY created").fetchall()
        return [Person(r["id"], r["name"], r["role"]) for r in rows]

    def names(self) -> dict[str, str]:
        """Person id -> display name."""
        return {p.id: p.name for p in self.people()}

    # --- caps -------------------------------------------------------------------------
    def caps(self) -> Caps:
        with self._connect() as db:
            rows = dict(db.execute("SELECT key, value FROM settings").fetchall())
        return Caps(**{f.name: int(rows.get(f.name, f.default)) for f in fields(Caps)})

    def set_caps(self, by: Person, caps: Caps) -> None:
        """The teacher sets the caps; ValueError names a value out of range."""
        if not by.teaches:
            raise PermissionError("only the teacher sets the class's caps")
        for name, value in asdict(caps).items():
            low, high = CAP_RANGES[name]
            if not low <= int(value) <= high:
                raise ValueError(f"{name.replace('_', ' ')} must be between {low} and {high}")
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                           [(k, int(v)) for k, v in asdict(caps).items()])


def from_env(folder: Path) -> ClassRoom | None:
    """The class the server was started for ($NNKIT_CLASS with its two codes, as
    scripts/serve.py --class sets them), its people kept in folder/class.sqlite; None alone."""
    import os

    if os.environ.get("NNKIT_CLASS", "") in ("", "0", "false", "no"):
        return None
    code, teacher = os.environ.get("NNKIT_CLASS_CODE", ""), os.environ.get("NNKIT_TEACHER_CODE", "")
    if not (normalise_code(code) and normalise_code(teacher)):
        raise ValueError("class mode needs NNKIT_CLASS_CODE and NNKIT_TEACHER_CODE: start it with "
                         "./start.sh --class, which sets both")
    return ClassRoom(Path(folder) / "class.sqlite", code, teacher)
