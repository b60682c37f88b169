"""What the reply check let through: generated replies scored as a customer would read them."""

from dialogue.facts import unstated
from dialogue.grounding import is_refusal, is_supported, sentences


def generation_scores(replies: list[tuple[str, object]]) -> dict:
    """`replies`: (question, Reply) of questions that went to the generate band, answered for real."""
    generated = [reply for _, reply in replies if reply.kind.value == "generated"]
    rejected = [reply for _, reply in replies if reply.rejected]
    unsupported = wrong_numbers = 0
    for reply in generated:
        snippets = [f"{source.title}\n{source.snippet or ''}" for source in reply.sources]  # as the check saw them
        for sentence in sentences(reply.text):
            if is_refusal(sentence):
                continue
            unsupported += not any(is_supported(sentence, snippet) for snippet in snippets)
            wrong_numbers += bool(unstated(sentence, "\n".join(snippets)))  # whole facts (dialogue/facts.py)
    return {"went_to_the_lm": len(replies), "sent_as_generated": len(generated), "rejected": len(rejected),
            "rejected_share": round(len(rejected) / len(replies), 4) if replies else None,
            "unsupported_sentences_sent": unsupported, "wrong_numbers_sent": wrong_numbers,
            "rejection_reasons": sorted({r.split(":")[0] for reply in rejected for r in reply.rejected["reasons"]})}
