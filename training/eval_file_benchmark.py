"""An FAQ file with its labelled eval file as a `Benchmark`, so that it can be measured like a public dataset,
with its alternative questions dropped too (`retrieval.benchmarks.without_alternatives`).

Split `eval`: the eval file's in-scope questions; its out-of-scope ones are the split's uncovered questions.
Partial questions (two FAQs) have no single right FAQ and are left out here; `training.quality`'s
`eval_file_report` scores them on the knowledge base as written.
"""

from pathlib import Path

from retrieval.benchmarks import Benchmark
from retrieval.faq_files import read_faq_file
from retrieval.faqs import make_draft
from training.calibration import load_eval_set


def eval_file_benchmark(name: str, faqs_file: Path, eval_file: Path) -> Benchmark:
    drafts = read_faq_file(faqs_file).drafts
    key = {draft.question: f"faq-{number}" for number, draft in enumerate(drafts)}
    labelled = load_eval_set(eval_file)
    questions = [(query.query, key[next(iter(query.expected))]) for query in labelled if query.group == "in_scope"]
    uncovered = [query.query for query in labelled if query.group == "out_of_scope"]
    return Benchmark(name, [make_draft(d.question, d.answer, d.alt_questions, [*d.tags, key[d.question]])
                            for d in drafts], {"eval": questions}, {"eval": uncovered})
