"""Worst-case CPU time of every regex and recogniser on the message path, on adversarial inputs.

A customer message reaches, before any model runs: the masking of personal data (dialogue/privacy.py, every
Presidio recogniser, on the message and on each metadata string), the profile reader (dialogue/profile.py),
small talk (dialogue/small_talk.py), the handoff rule (dialogue/policy.py), the follow-up rewriting
(dialogue/context.py) and, in a form, the slot readers (dialogue/actions/slots.py). A pattern that
backtracks turns one message into seconds of CPU ("a.a.a.…@-" took 2.4-3.8 s at 4,000 characters in
Presidio's email recogniser).

The fuzzing is the classic shape of a catastrophic input, prefix + unit × n + suffix, with units drawn from
the characters and words the patterns care about. Every function is run on every random shape at a short
length; the slowest shapes of each are then run at the longest input it can get (the 4,000 characters of
HELPDESK_MAX_MESSAGE_CHARS; 8,192 for the masking, which also reads the metadata string) and the growth
between the two lengths is printed as an exponent (1: linear, 2: quadratic). The last line is a whole
request: the worst message and the worst 8 KiB metadata string, through every step a turn takes. Target:
≤ 0.5 s of CPU for it.

    .venv/bin/python bench/worst_inputs.py [--shapes 300] [--seed 7]
"""

import argparse
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialogue.actions.slots import read_slot  # noqa: E402
from dialogue.context import contextualize, rewrite_elliptical, split_question  # noqa: E402
from dialogue.policy import wants_person  # noqa: E402
from dialogue.errors import MessageTooComplex  # noqa: E402
from dialogue.privacy import DEFAULT_BUDGET_SECONDS, Masker  # noqa: E402
from dialogue.order_numbers import order_number_spans  # noqa: E402
from dialogue.profile import asked_profile_field  # noqa: E402
from dialogue.self_description import extract_profile  # noqa: E402
from dialogue.small_talk import says_yes, small_talk  # noqa: E402
from retrieval.declared_actions.declarations import SlotSpec  # noqa: E402

MESSAGE_CHARS = 4000  # HELPDESK_MAX_MESSAGE_CHARS
METADATA_CHARS = 8192  # HELPDESK_MAX_METADATA_BYTES: one string of that size
SHORT_CHARS = 500
PREVIOUS = "What is the return policy for devices?"
# What the patterns look for: separators they repeat, the characters around @ and digits, the words they key on.
TOKENS = ["a", "Z", "x", "é", "1", "0", "9", " ", "  ", "\n", "\t", ".", "@", "-", "--", "+", "_", "(", ")", ",",
          "?", "!", ":", ";", "/", "'", "#", "*", "=", "%", "&", "a.", "a@", "a-", "1.", "1-", "1 ", ". ", "@-",
          "4111", "1111 ", "GB82", "DE", "NH-", "AB", "0x", "::", "255.", "ff:", "my name is ", "call me ",
          "this is ", "my email is ", "my number is ", "order ", "order number ", "and ", "or ", "for ", "the ",
          "a ", "it ", "what about ", "and also ", "how ", "what is my ", "ok ", "ok, ", "thanks ", "thank you ",
          "bye ", "yes ", "no ", "please ", "street ", "St. ", "Road ", "straße ", "rue ", "Baker ", "221B ",
          "SW1A ", "1AA ", "human ", "talk to ", "a person ", "speak with ", ":)", "\U0001F600"]
# Shapes known to have been slow somewhere, always tried.
KNOWN = [("", "a.", "@-"), ("", "k", "x"), ("", "a", "@-"), ("", "1 ", "x"), ("", "a-", "@a"), ("", "1.", "."),
         ("a@", "a.", "-"), ("", "ok ", "x"), ("", "Ab ", "St"), ("1 ", "Ab ", "x"), ("", "1-", "-")]


def targets(masker: Masker) -> dict[str, tuple[Callable[[str], object], int]]:
    """Each function of the message path, with the longest input it can be given."""
    found: dict[str, tuple[Callable[[str], object], int]] = {}
    for entity, recognizer in masker._recognizers:
        name = f"privacy.{type(recognizer).__name__}"
        name = name if name not in found else f"{name}#{sum(key.startswith(name) for key in found) + 1}"
        found[name] = (lambda text, r=recognizer: r.analyze(text, r.supported_entities, None), METADATA_CHARS)
    found["privacy.Masker.mask"] = (masker.mask, METADATA_CHARS)
    found["privacy.Masker.profile_update"] = (lambda text: masker.profile_update(masker.mask(text)), MESSAGE_CHARS)
    found["profile.extract_profile"] = (extract_profile, MESSAGE_CHARS)
    found["profile.order_number_spans"] = (order_number_spans, METADATA_CHARS)
    found["profile.asked_profile_field"] = (asked_profile_field, MESSAGE_CHARS)
    found["small_talk.small_talk"] = (small_talk, MESSAGE_CHARS)
    found["small_talk.says_yes"] = (says_yes, MESSAGE_CHARS)
    found["policy.wants_person"] = (wants_person, MESSAGE_CHARS)
    found["context.contextualize"] = (lambda text: contextualize(text, [PREVIOUS]), MESSAGE_CHARS)
    found["context.rewrite_elliptical"] = (lambda text: rewrite_elliptical("And for accessories?", text),
                                           MESSAGE_CHARS)
    found["context.split_question"] = (split_question, MESSAGE_CHARS)
    for kind in ("email", "phone", "number", "date", "text"):
        slot = SlotSpec("value", "?", kind)
        found[f"slots.read_slot({kind})"] = (lambda text, s=slot: read_slot(s, text), MESSAGE_CHARS)
    return found


def shape_text(shape: tuple[str, str, str], length: int) -> str:
    prefix, unit, suffix = shape
    repeats = max(1, (length - len(prefix) - len(suffix)) // len(unit))
    return (prefix + unit * repeats + suffix)[:length] if len(suffix) < length else prefix + unit * repeats


def random_shape(rng: random.Random) -> tuple[str, str, str]:
    def some(low: int, high: int) -> str:
        return "".join(rng.choice(TOKENS) for _ in range(rng.randint(low, high)))
    return some(0, 2), some(1, 4), some(0, 2)


def cpu_seconds(function: Callable[[str], object], text: str) -> float:
    started = time.thread_time()
    function(text)
    return time.thread_time() - started


def worst(function: Callable[[str], object], shapes: list[tuple[str, str, str]], length: int, keep: int):
    timed = sorted(((cpu_seconds(function, shape_text(shape, length)), shape) for shape in shapes), reverse=True)
    return timed[:keep]


def request_seconds(masker: Masker, message: str, metadata: str) -> tuple[float, str]:
    """The message path of one turn before the search, as dialogue/manager.py runs it."""
    masker.mask("warm up")
    started = time.thread_time()
    try:
        budget = masker.budget()
        masked = masker.mask(message, budget)
        masker.mask_data({"note": metadata}, budget)
        update = masker.profile_update(masked, budget)
    except MessageTooComplex:
        return time.thread_time() - started, "refused (422) at the budget"
    text = update.remainder
    asked_profile_field(text)
    small_talk(text)
    wants_person(text)
    contextualize(text, [PREVIOUS])
    split_question(text)
    return time.thread_time() - started, "answered"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=300, help="random shapes tried per function")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    shapes = KNOWN + [random_shape(rng) for _ in range(args.shapes)]
    masker = Masker(budget_seconds=math.inf)  # what each function costs, unbounded
    print(f"{len(shapes)} shapes per function, {SHORT_CHARS} characters, the 3 slowest again at full length\n")
    print(f"{'function':<40}{'chars':>7}{'worst ms':>10}{'at ' + str(SHORT_CHARS):>9}{'growth':>8}  worst input")
    worst_mask: dict[int, tuple[float, str]] = {}
    for name, (function, length) in targets(masker).items():
        function("warm up: ann@example.com +44 20 7946 0958")  # lazy loads (suffix list, phone metadata) apart
        slowest = worst(function, shapes, SHORT_CHARS, keep=3)
        full = [(cpu_seconds(function, shape_text(shape, length)), short, shape) for short, shape in slowest]
        seconds, short, shape = max(full)
        growth = math.log(max(seconds, 1e-6) / max(short, 1e-6)) / math.log(length / SHORT_CHARS)
        print(f"{name:<40}{length:>7}{seconds * 1000:>10.1f}{short * 1000:>9.2f}{growth:>8.1f}  {_show(shape)}")
        if name == "privacy.Masker.mask":
            for chars in (MESSAGE_CHARS, METADATA_CHARS):
                worst_mask[chars] = max((cpu_seconds(function, text), text) for text in
                                        (shape_text(s, chars) for _, _, s in full))
    message, metadata = worst_mask[MESSAGE_CHARS][1], worst_mask[METADATA_CHARS][1]
    print(f"\nworst request ({MESSAGE_CHARS}-character message + {METADATA_CHARS}-character metadata string, "
          "everything before the search; target <= 500 ms of CPU):")
    for label, budget in (("unbounded", math.inf), (f"budget {DEFAULT_BUDGET_SECONDS:g} s", DEFAULT_BUDGET_SECONDS)):
        seconds, outcome = max(request_seconds(Masker(budget_seconds=budget), message, metadata) for _ in range(2))
        print(f"  masking {label:<14}{seconds * 1000:>8.0f} ms  {outcome}")


def _show(shape: tuple[str, str, str]) -> str:
    prefix, unit, suffix = shape
    return f"{prefix!r} + {unit!r} * n + {suffix!r}"


if __name__ == "__main__":
    main()
