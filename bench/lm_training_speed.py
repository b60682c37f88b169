"""LoRA training speed of the reply model on the sample knowledge base (or a CSV), CPU or CUDA.

Builds the training set exactly as `helpdesk train lm` does, trains a few steps with the default LoRA
arguments, and prints steps/s, tokens/s and the minutes one epoch would take. On a CUDA machine it uses
bf16 automatically (`--device cuda` to insist).

    python bench/lm_training_speed.py [--steps 6] [--batch-size 4] [--max-tokens 512] [--csv FILE ...]
"""

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.cli.serve import SAMPLE_FAQS  # noqa: E402
from dialogue.lm.sources import resolve_lm_source  # noqa: E402
from retrieval.embedder import SentenceTransformerEmbedder  # noqa: E402
from retrieval.faq_files import read_faq_file  # noqa: E402
from retrieval.faqs import Faq  # noqa: E402
from training.datasets import DatasetOptions, build_dataset  # noqa: E402
from training.qa_csv import read_qa_csv  # noqa: E402
from training.qa_pairs import pairs_from_faqs  # noqa: E402
from training.lm import LmTrainingArguments, example_tokens, load_tokenizer, train_lm  # noqa: E402
from training.registry import Registry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models-dir", type=Path, default=Path(os.environ.get("HELPDESK_MODELS_DIR", "data/models")))
    parser.add_argument("--csv", type=Path, action="append", default=[],
                        help="question/answer CSV with an 'intent' column instead of the sample FAQs "
                             "(Bitext: --csv FILE --columns instruction,response,intent)")
    parser.add_argument("--columns", default="question,answer,intent")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 is faster on a busy CPU)")
    parser.add_argument("--limit-pairs", type=int, default=2000, help="use at most this many pairs")
    options = parser.parse_args()

    import torch

    if options.threads:
        torch.set_num_threads(options.threads)
    source, model_id = resolve_lm_source("default", options.models_dir)
    tokenizer = load_tokenizer(Path(source))
    if options.csv:
        question, answer, group = options.columns.split(",")
        pairs = [p for path in options.csv for p in read_qa_csv(path, question, answer, group)]
    else:
        now = datetime.now(UTC)
        pairs = pairs_from_faqs(Faq(i + 1, d.question, d.answer, d.alt_questions, d.tags, 1, now)
                                for i, d in enumerate(read_faq_file(SAMPLE_FAQS).drafts))
    pairs = pairs[: options.limit_pairs]
    dataset = build_dataset(pairs, DatasetOptions(company="Nimbus Home", max_tokens=options.max_tokens),
                            SentenceTransformerEmbedder().embed, example_tokens(tokenizer))
    args = LmTrainingArguments(max_steps=options.steps, batch_size=options.batch_size,
                               eval_steps=options.steps, device=options.device)
    with tempfile.TemporaryDirectory() as scratch:
        trained = train_lm(dataset, Path(source), model_id, args, Registry(Path(scratch) / "registry"),
                           Path(scratch) / "runs", resume=False)
    t = trained.card.training
    train_examples = t["examples"]["train"]
    print(f"\n{model_id} LoRA r={args.lora.r} on {', '.join(args.lora.target_modules)}; device {t['device']} "
          f"({t['dtype']}), torch threads {t['torch_threads']}"
          + (f", {torch.cuda.get_device_name()}" if t["device"] == "cuda" else ""))
    print(f"data: {dataset.summary()['examples']} examples, max {options.max_tokens} tokens, "
          f"batch {options.batch_size}")
    print("| steps | s/step | tokens/s (non-padding) | minutes/epoch | train loss | validation loss |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {t['steps']} | {t['step_seconds'] / t['steps']:.2f} | {t['tokens_per_second']} | "
          f"{t['minutes_per_epoch']} ({train_examples} examples) | {t['train_loss']} | {t['validation_loss']} |")


if __name__ == "__main__":
    main()
