"""Order numbers in a message ("my order is 998877", "NH-12345"): they identify an order, not a person."""

import re

ORDER = re.compile(
    r"(?:\b(?:my\s+)?(?:order|bestell(?:ung|nummer)|commande|pedido)|订单号?|注文番号)"
    r"(?:\s+(?:number|no\.?|id|ref(?:erence)?))?\s*(?:is|ist|est|es|是|は|:|：|#)?\s*#?\s*(?P<order>[A-Z]{0,4}-?\d{4,12})\b",
    re.IGNORECASE,
)
# "NH-12345" without the word "order": a shop's reference, letters then digits, which no phone number has.
_ORDER_REFERENCE = re.compile(r"\b[A-Z]{2,4}-\d{4,12}\b")


def order_number_spans(text: str) -> list[tuple[int, int]]:
    """Where order numbers are in `text` (the number only): they identify an order, not a person."""
    spans = [match.span("order") for match in ORDER.finditer(text)]
    return spans + [match.span() for match in _ORDER_REFERENCE.finditer(text)]
