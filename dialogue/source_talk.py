"""What an LM says about its own sources, taken out of a reply before it is checked and sent.

Asked to answer "from the knowledge snippets", an LM sometimes talks about them: Qwen2.5-Coder-1.5B answered "Which
day of the month does the payment leave my account?" with "The payment leaves your account on the 8th of the month.
This is specified in the knowledge snippet [1]." A customer has never seen a snippet, and the reply check rightly
finds no snippet that says "this is specified in the knowledge snippet", so a right answer became the fallback. A
sentence that only points at the sources is dropped; a lead-in ("According to the snippet, ...", "The knowledge
snippet indicates that ...") is cut and the rest kept, so every claim is still checked. Nothing else is rewritten.
"""

import re

from dialogue.sentences import sentence_spans

_SOURCE = (r"(?:the\s+|this\s+|these\s+|that\s+)?(?:(?:knowledge|provided|given|above|numbered|first|second|third)\s+)*"
           r"(?:snippets?|sources?|context|documents?|information\s+(?:provided|given|above))(?:\s*\[\d+\])?")
# What a capable LM calls the snippets when it speaks to the customer: "the information I have", "the details I've got".
_HAVE = r"(?:the\s+)?(?:information|info|details?)\s+i(?:\s+have|'ve\s+got|\s+can\s+see)"
_VERB = r"(?:specified|stated|mentioned|explained|described|given|found|provided|listed|outlined|written|covered)"
_ONLY_POINTS = re.compile(
    rf"^\s*(?:this|that|it|these|the\s+(?:answer|information|details?))(?:\s+information)?\s+(?:is|are|was|were|can be)"
    rf"\s+{_VERB}\s+(?:in|by)\s+{_SOURCE}\s*(?:\[\d+\])?\s*[.!]?\s*$", re.IGNORECASE)
_LEAD_IN = re.compile(
    rf"^(\s*)(?:(?:according\s+to|based\s+on|as\s+{_VERB}\s+in|per)\s+{_SOURCE}\s*(?:\[\d+\])?\s*,\s*"
    rf"|{_SOURCE}\s+(?:says|states|indicates|mentions|explains|shows|notes|specifies)(?:\s+that)?\s+"
    rf"|{_HAVE}\s+(?:says?|states?|shows?)(?:\s+that)?\s+|from\s+what\s+i\s+(?:have|can\s+see)\s*,\s*"
    r"|what\s+i\s+can\s+(?:tell\s+you|say|confirm)\s+is\s+(?:that\s+)?)", re.IGNORECASE)


def without_source_talk(reply: str) -> str:
    """`reply` without sentences that only point at its sources, and without lead-ins that name them."""
    spans, kept = sentence_spans(reply), []
    for start, end in spans:
        sentence = reply[start:end]
        if _ONLY_POINTS.match(sentence):
            continue
        if lead := _LEAD_IN.match(sentence):
            rest = sentence[lead.end():]
            sentence = lead.group(1) + rest[:1].upper() + rest[1:]
        kept.append(sentence)
    return "".join(kept) if len(kept) == len(spans) else "".join(kept).rstrip()
