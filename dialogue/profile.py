"""Facts customers tell us about themselves, and answers to "what's my name?"-style questions.

Read in every catalogue language ("my name is", "ich heiße", "je m'appelle", "me llamo", "我叫", "私の名前は") by
dialogue/self_description.py; answered in the conversation's language (dialogue/catalogue.py).
"""

import re
from dataclasses import dataclass, field
from enum import StrEnum

from dialogue.catalogue import Phrases, english
from dialogue.messages import HistoryEntry
from dialogue.small_talk import SmallTalk, small_talk

_WIDE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


class ProfileField(StrEnum):
    NAME = "name"
    EMAIL = "email"
    PHONE = "phone"
    ORDER = "order numbers"


_QUESTIONS = {
    ProfileField.NAME: re.compile(r"\b(what(?:'s| is) my name|do you (?:know|remember) my name|who am i"
                                  r"|wie hei(?:ß|ss)e ich|wie ist mein name|comment je m'appelle|quel est mon nom"
                                  r"|c(?:ó|o)mo me llamo|cu(?:á|a)l es mi nombre)\b|我叫什么|我的名字是什么"
                                  r"|私の名前は(?:何|なん)", re.I),
    ProfileField.EMAIL: re.compile(
        r"\b(what(?:'s| is) my e-?mail|(?:which|what) e-?mail (?:address )?(?:do you have|have you got|is on file)"
        r"|do you have my e-?mail|(?:wie lautet|was ist) meine e-?mail(?:-adresse)?"
        r"|quel(?:le)? est mon (?:adresse )?e-?mail|cu(?:á|a)l es mi (?:correo|e-?mail))\b"
        r"|我的邮箱是(?:什么|多少)|私のメールアドレスは",
        re.I,
    ),
    ProfileField.PHONE: re.compile(
        r"\b(what(?:'s| is) my (?:phone|mobile)(?: number)?|(?:which|what) (?:phone|number) do you have"
        r"|(?:wie lautet|was ist) meine telefonnummer|quel est mon num(?:é|e)ro(?: de t(?:é|e)l(?:é|e)phone)?"
        r"|cu(?:á|a)l es mi (?:n(?:ú|u)mero de )?tel(?:é|e)fono)\b"
        r"|我的电话(?:号码)?是(?:什么|多少)|私の電話番号は", re.I
    ),
    ProfileField.ORDER: re.compile(r"\b(what(?:'s| is| are) my order(?: numbers?| ids?)?|which orders?"
                                   r"|was (?:ist|sind) meine bestellnummer(?:n)?"
                                   r"|quel(?:s)? (?:est|sont) mes? num(?:é|e)ros? de commande"
                                   r"|cu(?:á|a)l(?:es)? (?:es|son) mis? n(?:ú|u)meros? de pedido)\b"
                                   r"|我的订单号是(?:什么|多少)"
                                   r"|私の注文番号は", re.I),
}


# Each field's name in the message catalogue: profile_field_<key>.
_FIELD_KEYS = {ProfileField.NAME: "name", ProfileField.EMAIL: "email", ProfileField.PHONE: "phone",
               ProfileField.ORDER: "orders"}


@dataclass
class ProfileUpdate:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    order_numbers: list[str] = field(default_factory=list)
    # The message with the self-description removed, to tell "My name is Ann" from a real question.
    remainder: str = ""

    def __bool__(self) -> bool:
        return bool(self.name or self.email or self.phone or self.order_numbers)


@dataclass(frozen=True)
class Profile:
    name: str | None
    email: str | None
    phone: str | None
    order_numbers: list[str]

    def updated(self, update: "ProfileUpdate") -> "Profile":
        """The profile after `update`: a new value replaces the old, order numbers add up
        (ConversationStore.update_profile stores this)."""
        return Profile(update.name or self.name, update.email or self.email, update.phone or self.phone,
                       list(dict.fromkeys(self.order_numbers + update.order_numbers)))

    def facts(self) -> list[str]:
        facts = []
        if self.name:
            facts.append(f"Name: {self.name}")
        if self.email:
            facts.append(f"Email: {self.email}")
        if self.phone:
            facts.append(f"Phone: {self.phone}")
        if self.order_numbers:
            facts.append("Order numbers: " + ", ".join(self.order_numbers))
        return facts


def is_only_self_description(update: ProfileUpdate) -> bool:
    """True for "Hi, my name is Ann" or "my email is x@y.z": nothing left to look up in the knowledge base."""
    remainder = update.remainder
    if _WIDE.search(remainder):  # no spaces to count words by: a greeting, or a few characters at most
        rest = remainder.strip(" ,.;!-、。，！")
        return bool(update) and (len(rest) <= 3 or small_talk(rest) is SmallTalk.GREETING)
    return bool(update) and "?" not in remainder and len(remainder.split()) <= 6 and not states_problem(remainder)


# What is left of "Hi, my name is Bob and I need help" says nothing to look up; "I was charged twice for my
# [order NH-10293]" and "[order 998877] is late" do: a lower-case word beyond these (a capitalised one is a name
# or a place: "This is Ann from London").
_GENERIC = frozenset("hi hello hey good morning afternoon evening day need help question want ask something here "
                     "name thank please quick got regarding query issue problem hav i'm im nice meet cheer again "
                     "back today new customer speak writ call contact reach check phone number mobile cell email "
                     "e-mail mail address order ref reference id detail".split())


def states_problem(remainder: str) -> bool:
    """Does what is left after the self-description state something to look up ("I was charged twice")?"""
    from dialogue.claims import words_of

    lower = " ".join(word for word in remainder.split() if not word[:1].isupper() or word == "I")
    return bool({word for word in words_of(lower) if ":" not in word} - _GENERIC)


def search_text(text: str, update: ProfileUpdate) -> str:
    """What to search for a message that also told us about the customer: the question that is left ("My order
    is NH-1, how do I track it?" → "how do I track it?"), or, for a statement of a problem, the message without
    the values themselves ("I was charged twice for my order NH-10293" → "... for my order")."""
    if "?" in update.remainder or not states_problem(update.remainder):
        return update.remainder
    for value in (update.email, update.phone, *update.order_numbers):
        if value:
            text = re.sub(re.escape(value), " ", text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", text).strip(" ,.;!-#:")


def asked_profile_field(text: str) -> ProfileField | None:
    for profile_field, pattern in _QUESTIONS.items():
        if pattern.search(text):
            return profile_field
    return None


def answer_profile_question(asked: ProfileField, profile: Profile | None, say: Phrases | None = None) -> str:
    """The answer from what is stored; `profile` None: the sender is not verified (InboundMessage.verified), so
    nothing stored is read back, and the answer says why."""
    say = say or english()
    if profile is None:
        return say("profile_withheld", field=say(f"profile_field_{_FIELD_KEYS[asked]}"))
    value = {
        ProfileField.NAME: profile.name,
        ProfileField.EMAIL: profile.email,
        ProfileField.PHONE: profile.phone,
        ProfileField.ORDER: ", ".join(profile.order_numbers) or None,
    }[asked]
    key = _FIELD_KEYS[asked]
    if value is None:
        return say("profile_missing", field=say(f"profile_field_{key}"), example=say(f"profile_example_{key}"))
    if asked is ProfileField.NAME:
        return say("profile_name", value=value)
    if asked is ProfileField.ORDER:
        return say("profile_orders", value=value)
    return say("profile_value", field=say(f"profile_field_{key}"), value=value)


def hide_profile(turns: list[HistoryEntry], profile: Profile) -> list[HistoryEntry]:
    """The turns with the profile's values replaced by placeholders, for an LM answering a sender who
    may not read them back (InboundMessage.verified): "my name is Ann Lee" becomes "my name is [name]"."""
    hidden = [(value, "[order number]") for value in profile.order_numbers]
    hidden += [(value, f"[{label}]") for value, label in ((profile.email, "email"), (profile.phone, "phone")) if value]
    if profile.name:  # the whole name first, then each of its words ("Ann" alone, later in the conversation)
        hidden += [(part, "[name]") for part in [profile.name, *profile.name.split()] if len(part) > 1]
    if not hidden:
        return turns
    placeholders = {value.casefold(): placeholder for value, placeholder in hidden}
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(value)}(?!\w)" for value in
                                  sorted(placeholders, key=len, reverse=True)), re.IGNORECASE)
    return [HistoryEntry(role, pattern.sub(lambda match: placeholders[match.group(0).casefold()], text))
            for role, text in turns]


def acknowledge(update: ProfileUpdate, say: Phrases | None = None) -> str:
    say = say or english()
    noted = []
    if update.email:
        noted.append(say("noted_email", value=update.email))
    if update.phone:
        noted.append(say("noted_phone", value=update.phone))
    if update.order_numbers:
        noted.append(say("noted_orders", value=", ".join(update.order_numbers)))
    parts = [say("acknowledge_named", name=update.name) if update.name else say("acknowledge_thanks")]
    if noted:
        parts.append(say("acknowledge_noted", items=say("noted_joiner").join(noted)))
    parts.append(say("acknowledge_help"))
    return ("" if say.language in ("zh", "ja") else " ").join(parts)
