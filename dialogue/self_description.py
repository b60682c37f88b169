"""What customers say about themselves: name, email, phone and order numbers, in any catalogue language."""

import re

from dialogue.order_numbers import ORDER
from dialogue.profile import ProfileUpdate

_NAME = re.compile(
    r"\b(?:my name is|my name's|call me|i am called|i'm called|this is|ich hei(?:ß|ss)e|mein name ist"
    r"|je m'appelle|mon (?:pr(?:é|e))?nom est|me llamo|mi nombre es)\s+"
    r"(?P<name>[A-Za-zÀ-ÿ][\w'’-]*(?:\s+(?!and\b|but\b|i\b|und\b|et\b|y\b)[A-ZÀ-Þ][\w'’-]*)?)",
    re.IGNORECASE,
)
# Chinese and Japanese write no spaces: the name runs from the cue to punctuation, "です" or "と申します".
_NAME_CJK = re.compile(
    r"(?:我叫|我的名字(?:是|叫)|私の名前は|名前は)\s*(?P<name>[A-Za-z][\w'’-]*|[^\s\d、。，！？,.!?：:]{1,8}?)"
    r"(?=です|と申します|だ|[\s\d、。，！？,.!?]|$)")
# A local part of letters of any alphabet, but not CJK: "我的邮箱是li@example.cn" gives li@example.cn.
# A local part has at most 64 characters (RFC 5321): unbounded, every start in a long word scanned to its end
# (quadratic: 0.4 s for 4,000 characters of "kkk…", bench/worst_inputs.py).
_EMAIL = re.compile(r"(?:[^\W\u3000-\u9fff\uac00-\ud7af]|[.+-]){1,64}@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<![\w-])\+?\d[\d ().-]{5,18}\d(?![\w-])")
# An email or phone number is the customer's own only when they say so, right before it: "my email is",
# "you can reach me at", "call me on". "Forward this to my boss at boss@corp.example" names someone else.
_SELF_CUE = re.compile(
    r"(?:\bmy\s+(?:(?:e-?mail|phone|mobile|cell|contact)(?:\s+(?:address|number|no\.?))?|number)"
    r"(?:\s+(?:is|was))?\s*(?:'s|:|-)?"
    r"|\b(?:meine\s+(?:e-?mail(?:-adresse)?|telefonnummer|handynummer|nummer)(?:\s+(?:ist|lautet))?"
    r"|mon\s+(?:e-?mail|adresse\s+e-?mail|num(?:é|e)ro(?:\s+de\s+t(?:é|e)l(?:é|e)phone)?)(?:\s+est(?:\s+le)?)?"
    r"|mi\s+(?:correo(?:\s+electr(?:ó|o)nico)?|e-?mail|tel(?:é|e)fono|n(?:ú|u)mero(?:\s+de\s+tel(?:é|e)fono)?)(?:\s+es)?)"
    r"\s*:?"
    r"|(?:我的)?(?:邮箱|电子邮件|电话(?:号码)?|手机(?:号码?)?)(?:是|：|:)|(?:メールアドレス|電話番号)(?:は|：|:)"
    r"|\b(?:reach|contact|call|text|ring|e-?mail|mail|message|write\s+to)\s+me\s+(?:at|on|via|by)?(?:\s+e-?mail)?\s*:?"
    r"|\b(?:i\s+am|i'm)\s+(?:at|on))\s*$",
    re.IGNORECASE,
)
# Words that follow "this is"/"call me" but are not names.
_NOT_NAMES = {"a", "an", "the", "about", "urgent", "not", "so", "really", "very", "my", "it", "me", "what", "at",
              "on", "back", "later", "now", "tomorrow", "please", "when", "if"}
# "I'm Ann" names someone only when it is the whole message; "I'm having trouble" must not.
_SHORT_INTRO = re.compile(r"^(?i:(?:hi|hello|hey)[,!.]?\s+)?(?i:i am|i'm)\s+(?P<name>[A-Z][a-zà-ÿ'’-]+)[.!]?$")


def extract_profile(text: str) -> ProfileUpdate:
    update = ProfileUpdate()
    remainder = text
    if match := _claimed(_EMAIL, text):
        update.email = match.group(0)
        remainder = remainder.replace(match.group(0), " ")
    orders = [m.group("order").upper() for m in ORDER.finditer(remainder)]
    update.order_numbers = list(dict.fromkeys(orders))
    for match in list(ORDER.finditer(remainder)):
        remainder = remainder.replace(match.group(0), " ")
    if match := _claimed(_PHONE, remainder, _is_phone):
        update.phone = re.sub(r"\s+", " ", match.group(0)).strip()
        remainder = remainder.replace(match.group(0), " ")
    if match := _NAME.search(remainder) or _NAME_CJK.search(remainder) or _SHORT_INTRO.match(remainder.strip()):
        words = [w for w in match.group("name").split() if w.lower() not in _NOT_NAMES]
        if words and words[0].lower() == match.group("name").split()[0].lower():
            update.name = " ".join(word[:1].upper() + word[1:] for word in words)
            remainder = remainder.replace(match.group(0), " ")
    update.remainder = re.sub(r"\s+", " ", remainder).strip(" ,.;!-")
    return update


def _claimed(pattern: re.Pattern, text: str, fits=lambda value: True) -> re.Match | None:
    """The first match the customer says is theirs: a self cue right before it, or the whole message."""
    for match in pattern.finditer(text):
        if not fits(match.group(0)):
            continue
        whole = text.strip(" .!,;") == match.group(0)
        if whole or _SELF_CUE.search(text[max(0, match.start() - 60):match.start()]):
            return match
    return None


def _is_phone(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 7 <= len(digits) <= 15 and not _is_card_number(digits)


def _is_card_number(digits: str) -> bool:
    """Payment card numbers (13-19 digits, Luhn checksum) are never taken for a phone number."""
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(digits)):
        doubled = digit * 2 if position % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0
