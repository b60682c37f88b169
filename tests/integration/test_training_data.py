"""Training data: CSV checks, placeholders, prompts identical to serving, group splits, refusals, groundedness."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli.serve import SAMPLE_FAQS
from dialogue.prompt import INSTRUCTIONS, build_prompt
from retrieval.faq_files import read_faq_file
from retrieval.faqs import Faq
from retrieval.hits import Hit
from training.datasets import REFUSAL_TEXT, DatasetOptions, _as_faq, build_dataset, split_groups
from training.qa_csv import read_qa_csv
from training.qa_pairs import Snippet, pairs_from_faqs
from training.errors import DatasetError
from dialogue.grounding import groundedness, is_refusal
from training.lm import IGNORE, example_tokens, load_tokenizer, tokenize

BITEXT = Path(__file__).resolve().parents[3] / "shared" / "data" / "bitext_customer_support_4514" / \
    "Bitext_Sample_Customer_Support_Training_Dataset.csv"


def sample_faqs(count: int | None = None) -> list[Faq]:
    drafts = read_faq_file(SAMPLE_FAQS).drafts[:count]
    now = datetime.now(UTC)
    return [Faq(i + 1, d.question, d.answer, d.alt_questions, d.tags, 1, now) for i, d in enumerate(drafts)]


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.unit
def test_csv_with_missing_columns_names_them(tmp_path):
    path = write_csv(tmp_path / "qa.csv", "prompt,reply\nhi,hello\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) question, answer; the file has prompt, reply"):
        read_qa_csv(path)


@pytest.mark.unit
def test_csv_empty_answers_and_duplicates_are_listed_by_row(tmp_path):
    path = write_csv(tmp_path / "qa.csv", "question,answer\n"
                     "How do I pay?,By card.\n"
                     "Where is my parcel?,\n"
                     "how do I  pay?,by card.\n")
    with pytest.raises(DatasetError) as error:
        read_qa_csv(path)
    assert "row 3: empty answer" in str(error.value)
    assert "row 4: duplicate of row 2" in str(error.value)


@pytest.mark.unit
def test_missing_csv_file_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        read_qa_csv(tmp_path / "nope.csv")


@pytest.mark.unit
def test_placeholders_are_filled_or_unbraced(tmp_path):
    path = write_csv(tmp_path / "qa.csv", "question,answer,intent\n"
                     "call you?,Call {{Customer Support Phone Number}} or use {{Live Chat}} on {{Website Name}}.,c\n"
                     "phone?,Ring {{customer support phone number}}.,c\n")
    pairs = read_qa_csv(path, group_column="intent", placeholders={"Customer Support Phone Number": "+44 20 7946 0000",
                                                                    "Website Name": "nimbushome.example"})
    assert pairs[0].answer == "Call +44 20 7946 0000 or use Live Chat on nimbushome.example."
    assert pairs[1].answer == "Ring +44 20 7946 0000."
    assert pairs[0].knowledge[0].answer == pairs[0].answer  # the snippet says the same as the target
    assert pairs[0].knowledge[0].question == "phone?"  # titled by another question of its group
    assert pairs[0].group == pairs[1].group == "csv:qa:c"


@pytest.mark.unit
@pytest.mark.skipif(not BITEXT.is_file(), reason="shared Bitext data not present")
def test_bitext_reads_with_intents_and_no_braces_left():
    pairs = read_qa_csv(BITEXT, "instruction", "response", "intent")
    assert len(pairs) == 4514
    assert len({p.group for p in pairs}) == 27
    assert not any("{{" in p.answer or "}}" in p.answer for p in pairs)


@pytest.mark.unit
def test_split_needs_three_groups():
    with pytest.raises(DatasetError, match="at least 3"):
        split_groups(["faq:1", "faq:2"], DatasetOptions())
    split = split_groups([f"faq:{i}" for i in range(20)], DatasetOptions())
    assert sorted(set(split.values())) == ["test", "train", "validation"]


@pytest.fixture(scope="module")
def tokenizer(models_dir, generator):
    return load_tokenizer(models_dir / "SmolLM2-135M-Instruct")


@pytest.fixture(scope="module")
def dataset(embedder, tokenizer):
    options = DatasetOptions(company="Nimbus Home", max_tokens=448, seed=7)
    return build_dataset(pairs_from_faqs(sample_faqs()), options, embedder.embed, example_tokens(tokenizer))


@pytest.mark.integration
def test_split_is_by_faq_and_has_answerable_and_unanswerable_examples(dataset):
    groups = {name: {e.group for e in examples} for name, examples in dataset.splits.items()}
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["validation"]
    assert not groups["validation"] & groups["test"]
    assert all(dataset.splits[name] for name in ("train", "validation", "test"))
    train = dataset.splits["train"]
    refusals = [e for e in train if not e.answerable]
    assert refusals and all(e.target == REFUSAL_TEXT for e in refusals)
    assert 0.1 < len(refusals) / len(train) < 0.35
    assert len(dataset.fingerprint) == 64


@pytest.mark.integration
def test_examples_are_the_serving_prompt_with_the_gold_snippet_cited(dataset):
    faq_of = {f"faq:{faq.id}": faq for faq in sample_faqs()}
    for example in dataset.splits["train"][:40]:
        faq = faq_of[example.group]
        assert example.question in [faq.question, *faq.alt_questions]
        shown = [Snippet(*text.split("\n", 1)) for text in example.snippets]
        assert example.messages == build_prompt(
            company="Nimbus Home", message=example.question, snippets=[Hit(_as_faq(s), 1.0, s.question) for s in shown],
            profile_facts=[], history=[], count_tokens=len, history_token_budget=0)
        prompt = "\n".join(m["content"] for m in example.messages)
        assert INSTRUCTIONS.format(company="Nimbus Home") in prompt
        gold = f"{faq.question}\n{faq.answer}"
        if example.answerable:
            number = example.snippets.index(gold) + 1
            assert example.target.endswith(f"[{number}]")
            assert f"[{number}] {gold}" in prompt
        else:
            assert gold not in example.snippets and faq.answer not in prompt


@pytest.mark.integration
def test_dataset_is_deterministic_per_seed(embedder, tokenizer):
    pairs = pairs_from_faqs(sample_faqs(12))

    def built(seed: int):
        options = DatasetOptions(company="Nimbus Home", max_tokens=448, seed=seed)
        return build_dataset(pairs, options, embedder.embed, example_tokens(tokenizer))

    first, again, other = built(7), built(7), built(8)
    assert first.fingerprint == again.fingerprint and first.splits == again.splits
    assert other.fingerprint != first.fingerprint


@pytest.mark.integration
def test_examples_longer_than_the_budget_lose_distractors_then_are_left_out(embedder, tokenizer):
    pairs = pairs_from_faqs(sample_faqs(12))
    tight = build_dataset(pairs, DatasetOptions(company="Nimbus Home", max_tokens=260), embedder.embed,
                          example_tokens(tokenizer))
    count = example_tokens(tokenizer)
    kept = [e for examples in tight.splits.values() for e in examples]
    assert kept and all(count(e) <= 260 for e in kept)
    assert tight.left_out_too_long > 0


@pytest.mark.integration
def test_loss_is_on_reply_tokens_only(dataset, tokenizer):
    example = dataset.splits["train"][0]
    row = tokenize(tokenizer, example)
    learnt = [token for token, label in zip(row["input_ids"], row["labels"]) if label != IGNORE]
    assert row["labels"][0] == IGNORE
    assert tokenizer.decode(learnt).startswith(example.target + tokenizer.eos_token)
    assert len(learnt) < len(row["input_ids"]) / 2


@pytest.mark.unit
def test_groundedness_counts_copied_sentences_and_rejects_invented_facts():
    snippets = ["How long does delivery take?\nUK standard delivery takes 2-3 working days and costs £3.95."]
    assert groundedness("Standard delivery in the UK takes 2-3 working days [1].", snippets) == 1.0
    assert groundedness("UK standard delivery takes 2-3 working days and costs £4.95.", snippets) == 0.0
    assert groundedness("Delivery takes 2-3 working days. Our drones deliver to Mars for free.", snippets) == 0.5
    assert groundedness(REFUSAL_TEXT, snippets) is None
    assert is_refusal(REFUSAL_TEXT) and is_refusal("I don't know that, sorry.")
    assert not is_refusal("Standard delivery takes 2-3 working days.")


@pytest.mark.integration
def test_a_short_evaluation_spreads_over_the_test_faqs(dataset):
    from training.eval_generation import pick

    test = dataset.splits["test"]
    chosen = pick(test, 6)
    assert len(chosen) == 6
    answerable = [e for e in chosen if e.answerable]
    assert len({e.group for e in answerable}) == min(len(answerable), len({e.group for e in test if e.answerable}))
    assert any(not e.answerable for e in chosen) == any(not e.answerable for e in test)
