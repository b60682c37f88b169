"""Small talk the bot answers itself, without searching the knowledge base: greetings, thanks, goodbyes,
"are you a bot?", and a yes or no to the question its last reply asked.

A message counts only when it is small talk as a whole ("thanks!", "ok thank you so much", "bye"); "thanks,
and how do I return a cam?" is a question and is searched. Before this, everything but a greeting went to
the knowledge base and got the fallback, so "thanks!" was answered "I can't help with that", and "yes" to the
fallback's own "Would you like me to connect you with a person?" got the same fallback again.

Understood in every catalogue language (en, de, fr, es, zh, ja): whatever the conversation's language, "danke"
is thanks. The reply is the catalogue's, in the conversation's language (dialogue/catalogue.py).
"""

import re
from enum import Enum

from dialogue.catalogue import Phrases, english
from dialogue.language import GREETING_AUDIENCE, GREETINGS


class SmallTalk(Enum):
    GREETING = "greeting"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    BOT_CHALLENGE = "bot_challenge"  # "are you a bot?": always answered truthfully
    YES = "yes"
    NO = "no"
    ACKNOWLEDGED = "acknowledged"  # "ok", "got it", "great"


# punctuation (CJK's too), :) and emoji
_END = r"[\s!.,?:)(;*~\-。！？～、，]*(?:[:;]-?[)D(]|[\U0001F300-\U0001FAFF\u2600-\u27BF]\s*)*[\s!.?。！？～]*$"
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
# The other catalogue languages, as whole messages too; tried after English, in the same order of kinds.
_DE_ACK = r"ok(?:ay)?|alles\s+klar|klar|verstanden|super|toll|prima|gut|sehr\s+gut|perfekt|passt|in\s+ordnung"
_DE_THANKS = r"(?:danke(?:\s?sch(?:ö|oe)n|\s+sehr|\s+vielmals)?|vielen\s+dank|besten\s+dank|herzlichen\s+dank)" \
             r"(?:\s+f(?:ü|ue)r\s+(?:die|ihre|deine)\s+hilfe)?"
_FR_THANKS = r"(?:merci(?:\s+beaucoup|\s+bien|\s+infiniment)?|je\s+vous\s+remercie)(?:\s+pour\s+(?:votre|ton)\s+aide)?"
_ES_THANKS = r"(?:(?:muchas\s+|mil\s+)?gracias|se\s+lo\s+agradezco)(?:\s+por\s+(?:su|tu)\s+ayuda)?"
_OTHER_PATTERNS = (
    (SmallTalk.GREETING, rf"(?:{'|'.join(GREETINGS.values())}){GREETING_AUDIENCE}"),
    (SmallTalk.GOODBYE, rf"(?:(?:{_DE_THANKS}|{_FR_THANKS}|{_ES_THANKS}|谢谢|ありがとう(?:ございました)?)"
                        r"[\s,!.。、，]*)?"
                        r"(?:tsch(?:ü|ue)ss?|auf\s+wiedersehen|bis\s+(?:bald|sp(?:ä|ae)ter|dann)|sch(?:ö|oe)nen\s+tag\s+noch"
                        r"|das\s+war'?s|das\s+ist\s+alles|au\s+revoir|(?:à|a)\s+bient(?:ô|o)t"
                        r"|bonne\s+(?:journ(?:é|e)e|soir(?:é|e)e)"
                        r"|c'est\s+tout|adi(?:ó|o)s|hasta\s+(?:luego|pronto)|chao|eso\s+es\s+todo"
                        r"|再见|拜拜|回头见|没别的了|就这些|さようなら|またね|失礼します|以上です)"),
    (SmallTalk.BOT_CHALLENGE, r"(?:(?:bist\s+du|sind\s+sie)\s+(?:ein\s+)?(?:bot|roboter|mensch|chatbot|ki)"
                              r"|ist\s+das\s+ein\s+(?:bot|roboter|mensch)"
                              r"|(?:(?:ê|e)tes-vous|es-tu)\s+(?:un\s+)?(?:robot|bot|humain|chatbot)"
                              r"|(?:eres|es\s+usted)\s+(?:un\s+)?(?:bot|robot|humano|chatbot)"
                              r"|你是(?:机器人|真人|人工智能|AI)吗?|是机器人吗|是真人吗"
                              r"|(?:あなたは)?(?:ボット|ロボット|人間|AI)(?:ですか)?)"),
    (SmallTalk.YES, r"(?:ja(?:\s+bitte|\s+gerne?)?|jawohl|genau|gerne?|oui(?:\s+merci|\s+s'il\s+vous\s+pla(?:î|i)t)?"
                    r"|volontiers"
                    r"|s(?:í|i)(?:\s+por\s+favor|\s+gracias)?|claro|por\s+supuesto"
                    r"|是的?|要|需要|可以|好啊|はい(?:[、,]?\s*お願いします)?|お願いします|ええ)"),
    (SmallTalk.NO, r"(?:nein(?:\s+danke)?|n(?:ö|ee)|nicht\s+n(?:ö|oe)tig|jetzt\s+nicht|non(?:\s+merci)?"
                   r"|pas\s+maintenant|pas\s+besoin|no\s+gracias|ahora\s+no|no\s+hace\s+falta"
                   r"|不用了?|不要|不需要|没有|いいえ|結構です|大丈夫です|いらないです)"),
    (SmallTalk.THANKS, rf"(?:(?:{_DE_ACK})[\s,!.]+)?(?:{_DE_THANKS}|{_FR_THANKS}|{_ES_THANKS}"
                       r"|谢谢(?:你|您)?|多谢|非常感谢|感谢|谢啦|ありがとう(?:ございます|ございました)?|どうも(?:ありがとう)?|助かりました)"),
    (SmallTalk.ACKNOWLEDGED, rf"(?:{_DE_ACK}|d'accord|compris|parfait|tr(?:è|e)s\s+bien|entendu|vale|entendido|perfecto"
                             r"|genial|de\s+acuerdo|muy\s+bien|好的?|明白了?|知道了|了解|收到|行"
                             r"|わかりました|分かりました|了解(?:です)?|承知しました|なるほど|オッケー)"),
)
_COMPILED = [(kind, re.compile(rf"^\s*{pattern}{_END}", re.IGNORECASE)) for kind, pattern in (*_PATTERNS,
                                                                                              *_OTHER_PATTERNS)]
_MAX_CHARACTERS = 80


def small_talk(message: str) -> SmallTalk | None:
    """What kind of small talk the whole message is, or None when it is anything else."""
    if len(message) > _MAX_CHARACTERS:
        return None
    text = message.replace("’", "'")
    return next((kind for kind, pattern in _COMPILED if pattern.match(text)), None)


def small_talk_reply(kind: SmallTalk, name: str | None, say: Phrases | None = None) -> str:
    """What the bot says to small talk, in `say`'s language (YES and NO to an offer of a person are the caller's:
    a handoff)."""
    say = say or english()
    if name and kind in (SmallTalk.GREETING, SmallTalk.GOODBYE):
        return say(f"{kind.value}_named", name=name)
    return say({SmallTalk.GREETING: "greeting", SmallTalk.THANKS: "thanks", SmallTalk.GOODBYE: "goodbye",
                SmallTalk.BOT_CHALLENGE: "bot_challenge", SmallTalk.YES: "yes", SmallTalk.NO: "no",
                SmallTalk.ACKNOWLEDGED: "acknowledged"}[kind])


_ACCEPTS = re.compile(rf"^\s*(?:ok(?:ay)?|alright|all\s+right|fine|good|in\s+ordnung|gut|d'accord|vale|de\s+acuerdo"
                      rf"|好的?|行|わかりました|了解(?:です)?){_POLITE}{_END}", re.IGNORECASE)


def says_yes(message: str) -> bool:
    """A yes to a question the bot asked; "ok" counts too."""
    return bool(_ACCEPTS.match(message)) or small_talk(message) is SmallTalk.YES
