"""A seeded set of personal data as customers type it, in support messages (tests and bench/privacy_recall.py).

`SEEDS` holds the formats dialogue/privacy.py claims to catch; `HARD` holds formats it is known to miss
or to catch only partly, so that docs/privacy.md can say both. Every value is valid for its kind (card
numbers pass Luhn, IBANs and NHS numbers their checksums), generated from a fixed seed.
"""

import random
from dataclasses import dataclass

import phonenumbers

_rng = random.Random(13)


@dataclass(frozen=True)
class Seed:
    kind: str  # an Entity value of dialogue/privacy_policy.py
    value: str
    template: str  # the sentence it is typed in, "{}" where it goes
    own: bool = False  # the customer gives it as their own contact detail: the profile keeps it

    @property
    def text(self) -> str:
        return self.template.format(self.value)


def _luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(str(_rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(body + "0")):
        doubled = digit * 2 if position % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return body + str((10 - total % 10) % 10)


def _card() -> str:
    prefix, length = _rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15),
                                  ("6011", 16), ("4", 16)])
    digits = _luhn_complete(prefix, length)
    style = _rng.choice(["plain", "spaces", "dashes"])
    if length == 15:
        groups = [digits[:4], digits[4:10], digits[10:]]
    else:
        groups = [digits[i:i + 4] for i in range(0, 16, 4)]
    return {"plain": digits, "spaces": " ".join(groups), "dashes": "-".join(groups)}[style]


_IBAN_FORMATS = {"GB": "AAAA" + "9" * 14, "DE": "9" * 18, "FR": "9" * 23, "ES": "9" * 20, "NL": "AAAA" + "9" * 10,
                 "IT": "A" + "9" * 22, "BE": "9" * 12, "IE": "AAAA" + "9" * 14}


def _iban() -> str:
    country = _rng.choice(sorted(_IBAN_FORMATS))
    bban = "".join(_rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") if c == "A" else str(_rng.randrange(10))
                   for c in _IBAN_FORMATS[country])
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if _rng.random() < 0.6 else iban


_FIRST = ["ann", "bob", "chen", "dana", "emil", "fatima", "greg", "hana", "ivan", "julia", "kofi", "lena"]
_DOMAINS = ["gmail.com", "outlook.co.uk", "web.de", "yahoo.fr", "proton.me", "mail.example", "corp.example.org",
            "uni-hamburg.de", "icloud.com"]


def _email() -> str:
    name = _rng.choice(_FIRST)
    local = _rng.choice([name, f"{name}.{_rng.choice(_FIRST)}", f"{name}{_rng.randrange(10, 99)}",
                         f"{name}+support"])
    return f"{local}@{_rng.choice(_DOMAINS)}"


def _phone() -> str:
    """A number in a range operators use (phonenumbers says valid): what a real customer has."""
    while True:
        number = _phone_like()
        region = "US" if number.startswith("(") else "GB"  # how a local number is read
        if phonenumbers.is_valid_number(phonenumbers.parse(number, region)):
            return number


def _phone_like() -> str:
    n = lambda k: "".join(str(_rng.randrange(10)) for _ in range(k))  # noqa: E731
    return _rng.choice([
        f"+44 20 7946 0{n(3)}", f"020 7946 0{n(3)}", f"+44 7911 {n(6)}", f"07400 {n(6)}",
        f"+1 (415) 555-01{n(2)}", f"(212) 555-01{n(2)}", f"+1 202-555-01{n(2)}",
        f"+49 30 {n(7)}", f"+33 6 {n(2)} {n(2)} {n(2)} {n(2)}", f"+34 612 {n(3)} {n(3)}",
    ])


def _ssn() -> str:
    return f"{_rng.randrange(100, 665)}-{_rng.randrange(10, 99)}-{_rng.randrange(1000, 9999)}"


def _nino() -> str:
    first, second = _rng.choice("ABCEGHJKLMNOPRSTWXYZ"), _rng.choice("ABCEGHJKLMNPRSTWXYZ")
    if first + second in {"BG", "GB", "NK", "KN", "NT", "TN", "ZZ"}:
        first, second = "A", "B"
    digits = f"{_rng.randrange(100000, 999999)}"
    return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {_rng.choice('ABCD')}"


def _nhs() -> str:
    while True:
        digits = [_rng.randrange(10) for _ in range(9)]
        check = 11 - sum(d * (10 - i) for i, d in enumerate(digits)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            text = "".join(map(str, digits)) + str(check)
            return f"{text[:3]} {text[3:6]} {text[6:]}"


def _nif() -> str:
    number = _rng.randrange(10_000_000, 99_999_999)
    return f"{number}{'TRWAGMYFPDXBNJZSQVHLCKE'[number % 23]}"


def _ipv4() -> str:
    return ".".join(str(part) for part in [_rng.randrange(11, 223), _rng.randrange(256), _rng.randrange(256),
                                             _rng.randrange(1, 255)])


def _ipv6() -> str:
    return "2001:db8:" + ":".join(f"{_rng.randrange(65536):x}" for _ in range(6))


_STREETS = ["Baker", "Elm", "Station", "Mill", "Church", "Victoria", "Park", "Queen's", "Oak Tree", "High"]
_SUFFIXES = ["Street", "Road", "Avenue", "Lane", "Drive", "Close", "St", "Rd", "Way", "Crescent"]


def _address() -> str:
    style = _rng.randrange(4)
    if style == 0:
        return f"{_rng.randrange(1, 300)}{_rng.choice(['', 'B', 'a'])} {_rng.choice(_STREETS)} {_rng.choice(_SUFFIXES)}"
    if style == 1:
        return (f"{_rng.choice(['Haupt', 'Linden', 'Bahnhof', 'Berg', 'Garten'])}"
                f"{_rng.choice(['straße', 'weg', 'allee'])} {_rng.randrange(1, 120)}")
    if style == 2:
        return f"{_rng.randrange(1, 90)} rue {_rng.choice(['de la Paix', 'Victor Hugo', 'du Moulin'])}"
    return f"{_rng.choice(['SW1A 1AA', 'EC1A 1BB', 'W1A 0AX', 'M1 1AE', 'B33 8TH', 'CR2 6XH', 'DN55 1PT'])}"


_TEMPLATES = {
    "card": ["my card {} was charged twice", "I paid with {} but nothing arrived", "card number: {}",
             "please refund to {}", "Why was {} charged again?"],
    "iban": ["my IBAN is {}", "refund to account {} please", "bank transfer from {} failed"],
    "email": ["forward the invoice to my boss at {}", "my wife ({}) placed the order", "cc {} on this",
              "the gift card went to {}"],
    "phone": ["my neighbour on {} took the parcel", "the courier called from {}", "ring my office line {} tomorrow"],
    "gov_id": ["my SSN is {}", "National Insurance number {}", "NHS number {} for the medical alert plug",
               "my DNI/NIF is {}"],
    "ip": ["the camera's IP is {}", "I log in from {} and it fails", "router at {} blocks the hub"],
    "address": ["deliver to {}, please", "I moved to {} last week", "the parcel went to {} by mistake"],
}
_OWN = {"email": ["my email is {}", "you can reach me at {}"], "phone": ["my phone number is {}", "call me on {}"]}
_MAKERS = {"card": _card, "iban": _iban, "email": _email, "phone": _phone,
           "gov_id": lambda: _rng.choice([_ssn, _nino, _nhs, _nif])(), "ip": lambda: _rng.choice([_ipv4, _ipv6])(),
           "address": _address}
_COUNTS = {"card": 40, "iban": 30, "email": 25, "phone": 25, "gov_id": 28, "ip": 20, "address": 24}
_OWN_COUNTS = {"email": 10, "phone": 10}


def _seeds() -> list[Seed]:
    seeds = [Seed(kind, _MAKERS[kind](), _rng.choice(_TEMPLATES[kind]))
             for kind, count in _COUNTS.items() for _ in range(count)]
    seeds += [Seed(kind, _MAKERS[kind](), _rng.choice(_OWN[kind]), own=True)
              for kind, count in _OWN_COUNTS.items() for _ in range(count)]
    return seeds


SEEDS: list[Seed] = _seeds()

# Known misses and partial catches, measured in bench/privacy_recall.py and reported in docs/privacy.md.
HARD: list[Seed] = [
    Seed("address", "12 baker street", "I live at {}"),
    Seed("address", "1600 Pennsylvania Avenue NW, Washington, DC 20500", "ship it to {}"),
    Seed("address", "Flat 3, 45 Kingsway", "deliver to {}"),
    Seed("phone", "4155550132", "text {}"),
    Seed("phone", "+44 7700 900123", "mobile {} (a range no operator uses)"),
    Seed("phone", "0049 30 1234567", "office {}"),
    Seed("gov_id", "123456789", "SSN {}"),
    Seed("gov_id", "X1234567L", "NIE {}"),
    Seed("card", "4111 1111 1111 111", "card {} (one digit short)"),
    Seed("email", "ann at example dot com", "mail {}"),
    Seed("ip", "10.0.0", "gateway {}"),
]


def messages(seeds: list[Seed] = SEEDS, per_message: int = 4) -> list[tuple[str, list[Seed]]]:
    """Support messages: each own contact detail alone (as customers give them), the rest packed by four."""
    own = [(seed.text, [seed]) for seed in seeds if seed.own]
    others = [seed for seed in seeds if not seed.own]
    random.Random(7).shuffle(others)
    packed = [(". ".join(seed.text[:1].upper() + seed.text[1:] for seed in group) + ".", group)
              for group in (others[i:i + per_message] for i in range(0, len(others), per_message))]
    return own + packed
