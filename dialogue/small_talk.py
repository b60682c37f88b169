"""Small talk the bot answers itself, without searching the knowledge base: greetings, thanks, goodbyes,
"are you a bot?", and a yes or no to the question its last reply asked.

A message counts only when it is small talk as a whole ("thanks!", "ok thank you so much", "bye"); "thanks,
and how do I return a cam?" is a question and is searched. Before this, everything but a greeting went to
the knowledge base and got the fallback, so "thanks!" was answered "I can't help with that", and "yes" to the
fallback's own "Would you like me to connect you with a person?" got the same fallback again.

English only, like the rest of the dialogue rules (dialogue/policy.py, dialogue/context.py).
"""

import re
from enum import Enum


class SmallTalk(Enum):
    GREETING = "greeting"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    BOT_CHALLENGE = "bot_challenge"  # "are you a bot?": always answered truthfully
    YES = "yes"
    NO = "no"
    ACKNOWLEDGED = "acknowledged"  # "ok", "got it", "great"


_END = r"[\s!.,?:)(;*~-]*(?:[:;]-?[)D(]|[\U0001F300-\U0001FAFF\u2600-\u27BF]\s*)*[\s!.?]*$"  # punctuation, :) and emoji
_POLITE = r"(?:\s*,?\s*(?:please|pls|thanks|thank you|thx|cheers))?"
_ACK_WORDS = r"ok(?:ay)?|k|kk|alright|all right|got it|gotcha|understood|i see|cool|great|perfect|fine|nice|awesome" \
             r"|brilliant|lovely|super|excellent|makes sense|fair enough|noted|good|sounds good"
_THANKS = (r"(?:thanks|thank you|thank u|thankyou|thx|ty|tysm|cheers|many thanks|much appreciated|appreciate it"
           r"|ta)(?:\s+(?:so|very)\s+much|\s+a\s+(?:lot|bunch|million)|\s+again|\s+loads)?"
           r"(?:\s+for\s+(?:(?:your|the|all\s+(?:your|the))\s+help|helping(?:\s+me)?|that|this|the\s+info(?:rmation)?))?")
_BYE = (r"(?:good\s?bye|bye(?:\s?bye)?|see\s+(?:you|ya)(?:\s+later)?|cya|later|take\s+care"
        r"|have\s+a\s+(?:good|nice|great|lovely)\s+(?:day|one|evening|night|weekend)"
        r"|(?:no,?\s+)?that'?s\s+(?:all|it|everything)(?:\s+for\s+now)?|nothing\s+else|i'?m\s+(?:done|good))")

_PATTERNS = (
    (SmallTalk.GREETING, r"(?:hi|hello|hey|hiya|howdy|good\s+(?:morning|afternoon|evening))(?:\s+there)?"
                         r"(?:\s+(?:bot|team|support))?"),
    (SmallTalk.GOODBYE, rf"(?:(?:{_ACK_WORDS}|{_THANKS})[\s,!.]+)*{_BYE}(?:[\s,!.]*{_THANKS})?"),
    (SmallTalk.BOT_CHALLENGE,
     r"(?:are\s+you\s+(?:a\s+|an\s+)?(?:bot|robot|human|person|real|real\s+person|ai|machine|computer|chat\s?bot)"
     r"|am\s+i\s+(?:talking|speaking|chatting)\s+(?:to|with)\s+(?:a\s+|an\s+)?(?:bot|robot|human|person|real\s+person"
     r"|ai|machine|computer|chat\s?bot)"
     r"|is\s+this\s+(?:a\s+|an\s+)?(?:bot|robot|human|real\s+person|ai|automated|chat\s?bot))"),
    (SmallTalk.YES, rf"(?:yes|yeah|yea|yep|yup|y|sure|please|please\s+do|go\s+ahead|do\s+it|of\s+course"
                    rf"|yes\s+(?:please|i\s+would|i\s+do)|ok(?:ay)?\s+(?:please|then)){_POLITE}"),
    (SmallTalk.NO, rf"(?:no|nope|nah|n|no\s+need|not\s+now|not\s+yet|no\s+(?:i'?m|it'?s)\s+(?:fine|ok(?:ay)?|good)"
                   rf"|i'?m\s+(?:fine|ok(?:ay)?)){_POLITE}"),
    (SmallTalk.THANKS, rf"(?:(?:{_ACK_WORDS})[\s,!.]+)*{_THANKS}(?:[\s,!.]+(?:{_ACK_WORDS}))*"),
    (SmallTalk.ACKNOWLEDGED, rf"(?:{_ACK_WORDS})(?:[\s,!.]+(?:{_ACK_WORDS}))*"),
)
_COMPILED = [(kind, re.compile(rf"^\s*{pattern}{_END}", re.IGNORECASE)) for kind, pattern in _PATTERNS]
_MAX_CHARACTERS = 80


def small_talk(message: str) -> SmallTalk | None:
    """What kind of small talk the whole message is, or None when it is anything else."""
    if len(message) > _MAX_CHARACTERS:
        return None
    text = message.replace("’", "'")
    return next((kind for kind, pattern in _COMPILED if pattern.match(text)), None)


def small_talk_reply(kind: SmallTalk, name: str | None) -> str:
    """What the bot says to small talk (YES and NO to an offer of a person are the caller's: a handoff)."""
    you = f" {name}" if name else ""
    return {
        SmallTalk.GREETING: f"Hello{you}! How can I help you today?",
        SmallTalk.THANKS: "You're welcome! Is there anything else I can help you with?",
        SmallTalk.GOODBYE: f"Goodbye{you}! If you need anything else, just write here.",
        SmallTalk.BOT_CHALLENGE: ("I'm a virtual assistant, not a person: I answer from our help articles. A member "
                                  'of our support team can take over at any time: just say "talk to a person".'),
        SmallTalk.YES: "Sure: what would you like to know?",
        SmallTalk.NO: "Alright. Is there anything else I can help you with?",
        SmallTalk.ACKNOWLEDGED: "Is there anything else I can help you with?",
    }[kind]


_ACCEPTS = re.compile(rf"^\s*(?:ok(?:ay)?|alright|all\s+right|fine|good){_POLITE}{_END}", re.IGNORECASE)


def says_yes(message: str) -> bool:
    """A yes to a question the bot asked; "ok" counts too."""
    return bool(_ACCEPTS.match(message)) or small_talk(message) is SmallTalk.YES
