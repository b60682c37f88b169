"""LoRA fine-tuning of the reply model on a `training.datasets.Dataset`.

Reads top to bottom: arguments, device, base model, tokenized data (loss on the reply tokens only), the
Trainer loop (progress bar with the loss, checkpoints to resume from, early stopping on validation loss),
then the adapter is saved into the registry in one rename together with its card.

CUDA present: bf16 weights and bf16 autocast (the LoRA weights stay fp32, peft's default), or fp32 on a GPU
without bf16 (before Ampere). CPU: fp32 (on CPUs without native bf16, bf16 prefill was 4-6x slower, and a
bf16 copy of SmolLM2 gave a different, wrong answer to the same prompt). The card records the device, the
GPU, the dtype, tokens/s and minutes per epoch (training steps only).
"""

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.devices import choose_device
from training.datasets import Dataset, Example, write_examples
from training.errors import BaseModelNotFound, DatasetError
from training.registry import ModelCard, Registry, new_id

log = logging.getLogger(__name__)

IGNORE = -100  # label value the loss skips: prompt tokens and padding
LLAMA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraArguments:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = LLAMA_PROJECTIONS


@dataclass(frozen=True)
class LmTrainingArguments:
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 4
    gradient_accumulation: int = 1
    learning_rate: float = 2e-4
    warmup_ratio: float = 0.05
    eval_steps: int = 25  # validation loss (and a checkpoint) every this many steps
    early_stopping_patience: int = 3  # evaluations without improvement before stopping
    seed: int = 42
    device: str = "auto"  # auto / cpu / cuda
    lora: LoraArguments = field(default_factory=LoraArguments)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.gradient_accumulation < 1 or self.eval_steps < 1:
            raise ValueError("batch_size, gradient_accumulation and eval_steps must be at least 1.")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ValueError("Set a positive number of epochs or max_steps.")


@dataclass(frozen=True)
class TrainedAdapter:
    card: ModelCard
    path: Path


# -- base model ----------------------------------------------------------------------------------------------

def check_base_model(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise BaseModelNotFound(f"The base model folder {path} does not exist or holds no config.json. Set "
                                "HELPDESK_LM_MODEL to a model folder (or leave it 'default').")


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def load_model_for_training(path: Path, device: str, lora: LoraArguments):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, training_dtype(device)))
    model = model.to(device)
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=list(lora.target_modules), task_type="CAUSAL_LM")
    return get_peft_model(model, config)


# -- data ----------------------------------------------------------------------------------------------------

def tokenize(tokenizer, example: Example) -> dict[str, list[int]]:
    """Prompt and reply through the model's chat template; only the reply (and its end marker) is learnt."""
    prompt = tokenizer.apply_chat_template(example.messages, add_generation_prompt=True, tokenize=True,
                                           return_dict=True)["input_ids"]
    full = tokenizer.apply_chat_template(example.messages + [{"role": "assistant", "content": example.target}],
                                         tokenize=True, return_dict=True)["input_ids"]
    if full[: len(prompt)] != prompt:
        raise DatasetError("The model's chat template renders the prompt differently once a reply follows, so "
                           "reply tokens cannot be told apart; this base model is not supported.")
    return {"input_ids": full, "attention_mask": [1] * len(full),
            "labels": [IGNORE] * len(prompt) + full[len(prompt):]}


def example_tokens(tokenizer) -> Callable[[Example], int]:
    return lambda example: len(tokenize(tokenizer, example)["input_ids"])


def tokenize_all(tokenizer, examples: list[Example], max_tokens: int) -> list[dict[str, list[int]]]:
    rows = [tokenize(tokenizer, example) for example in examples]
    kept = [row for row in rows if len(row["input_ids"]) <= max_tokens]
    if len(kept) < len(rows):
        log.info("Left out %d examples longer than %d tokens", len(rows) - len(kept), max_tokens)
    return kept


def tokenized_splits(tokenizer, dataset: Dataset) -> tuple[list[dict], list[dict]]:
    """(train, validation) rows that fit in the dataset's token limit; a run needs some training rows."""
    max_tokens = dataset.options.max_tokens
    train_rows = tokenize_all(tokenizer, dataset.splits["train"], max_tokens)
    validation_rows = tokenize_all(tokenizer, dataset.splits["validation"], max_tokens)
    if not train_rows:
        raise DatasetError(f"No training example fits in {max_tokens} tokens; raise --max-tokens.")
    if not validation_rows:
        log.warning("The validation split is empty: no validation loss and no early stopping for this run.")
    return train_rows, validation_rows


# -- the run -------------------------------------------------------------------------------------------------

def run_key(base_model: str, args: LmTrainingArguments, dataset: Dataset) -> str:
    """Same base, arguments and data → same key → the same checkpoint folder to resume from."""
    payload = json.dumps([base_model, asdict(args), dataset.fingerprint], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def latest_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = [p for p in run_dir.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(checkpoints, key=lambda p: int(p.name.split("-")[1]), default=None)


def resume_point(run_dir: Path, resume: bool) -> Path | None:
    """The checkpoint to continue from; without one (or with `resume` off) the run folder starts empty."""
    checkpoint = latest_checkpoint(run_dir) if resume else None
    if checkpoint is None:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        log.info("Resuming from %s", checkpoint)
    return checkpoint


def train_lm(dataset: Dataset, base_path: Path, base_model_id: str, args: LmTrainingArguments,
             registry: Registry, runs_dir: Path, *, resume: bool = True, callbacks: list | None = None,
             show_progress: bool = True) -> TrainedAdapter:
    """Fine-tune a LoRA adapter; the registry gains the entry only if the whole run succeeds."""
    from transformers import DataCollatorForSeq2Seq, EarlyStoppingCallback, Trainer, set_seed

    # data
    check_base_model(base_path)
    device = choose_device(args.device)
    set_seed(args.seed)
    tokenizer = load_tokenizer(base_path)
    train_rows, validation_rows = tokenized_splits(tokenizer, dataset)
    run_dir = runs_dir / f"lm-{run_key(base_model_id, args, dataset)}"
    checkpoint = resume_point(run_dir, resume)

    # model and loop
    model = load_model_for_training(base_path, device, args.lora)
    clock = StepClock()
    stopping = [EarlyStoppingCallback(args.early_stopping_patience)] if validation_rows else []
    trainer = Trainer(
        model=model,
        args=trainer_arguments(args, run_dir, device, bool(validation_rows), show_progress),
        train_dataset=train_rows,
        eval_dataset=validation_rows or None,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE),
        callbacks=[clock.callback, *stopping, *(callbacks or [])],
    )
    _loss_on_progress_bar(trainer)
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    validation_loss = trainer.state.best_metric if validation_rows else None  # the kept (best) checkpoint's
    if validation_rows and validation_loss is None:  # the run ended before its first evaluation
        validation_loss = trainer.evaluate()["eval_loss"]

    # save: one rename into the registry
    training = {
        **_device_figures(device),
        "steps": trainer.state.global_step,
        "epochs": round(float(trainer.state.epoch or 0), 3),
        "seconds": round(float(result.metrics["train_runtime"]), 1),  # evaluation and checkpoints included
        **clock.figures(trainer.state),
        "train_loss": round(float(result.training_loss), 4),
        "validation_loss": round(float(validation_loss), 4) if validation_loss is not None else None,
        "resumed_from": checkpoint.name if checkpoint else None,
        "examples": {"train": len(train_rows), "validation": len(validation_rows)},
    }
    card = ModelCard(id=new_id("lm", dataset.fingerprint), kind="lm", base_model=base_model_id,
                     created_at=_now(), arguments=asdict(args) | {"dataset": asdict(dataset.options)},
                     data=dataset.summary(), training=training)
    with registry.staging() as staged:
        trainer.model.save_pretrained(str(staged))
        write_examples(staged / "test.jsonl", dataset.splits["test"])
        write_examples(staged / "validation.jsonl", dataset.splits["validation"])
        path = registry.commit(staged, card)
    shutil.rmtree(run_dir, ignore_errors=True)  # the checkpoints are only for resuming this run
    return TrainedAdapter(card, path)


def trainer_arguments(args: LmTrainingArguments, run_dir: Path, device: str, validate: bool,
                      show_progress: bool):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(run_dir),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_ratio,  # a float below 1 is a share of the total steps
        lr_scheduler_type="linear",
        logging_steps=1,
        # A checkpoint at every evaluation: the best one is kept and reloaded at the end.
        eval_strategy="steps" if validate else "no",
        eval_steps=args.eval_steps,
        save_strategy="steps",
        save_steps=args.eval_steps,
        save_total_limit=2,
        load_best_model_at_end=validate,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        seed=args.seed,
        data_seed=args.seed,
        bf16=training_dtype(device) == "bfloat16",
        use_cpu=device == "cpu",
        report_to=[],
        disable_tqdm=not show_progress,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
    )


def training_dtype(device: str) -> str:
    """bfloat16 on a GPU that has it, float32 elsewhere (a GPU without bf16 would refuse the bf16 Trainer)."""
    import torch

    return "bfloat16" if device.startswith("cuda") and torch.cuda.is_bf16_supported() else "float32"


def _device_figures(device: str) -> dict:
    import torch

    figures = {"device": device, "dtype": training_dtype(device),
               "torch_threads": torch.get_num_threads()}
    if device == "cuda":
        figures["gpu"] = torch.cuda.get_device_name()
    return figures


class StepClock:
    """Time spent in training steps only (not evaluation or checkpoints), for tokens/s and minutes/epoch."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        self.seconds, self._started = 0.0, 0.0
        self._tokens_before, self._epoch_before = 0, 0.0
        clock = self

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                clock._tokens_before, clock._epoch_before = state.num_input_tokens_seen, float(state.epoch or 0)

            def on_step_begin(self, args, state, control, **kwargs):
                clock._started = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                clock.seconds += time.perf_counter() - clock._started

        self.callback = Callback()

    def figures(self, state) -> dict:
        tokens = state.num_input_tokens_seen - self._tokens_before
        epochs = float(state.epoch or 0) - self._epoch_before
        return {
            "step_seconds": round(self.seconds, 1),
            "tokens_per_second": round(tokens / self.seconds, 1) if self.seconds else None,
            "minutes_per_epoch": round(self.seconds / 60 / epochs, 2) if epochs else None,
        }


def _loss_on_progress_bar(trainer) -> None:
    """Show the running loss on the tqdm bar instead of printing one log line per step."""
    from transformers.trainer_callback import ProgressCallback

    class LossOnBar(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.training_bar is not None and logs:
                shown = {k: f"{v:.4f}" for k, v in logs.items() if k in ("loss", "eval_loss")}
                if shown:
                    self.training_bar.set_postfix(shown, refresh=False)

    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(LossOnBar())


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")
