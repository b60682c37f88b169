"""Models the LM tests build themselves: a tiny random Llama (the real transformers code at toy size), and a
LoRA adapter with random weights over a real base model (so adapted replies visibly differ from the base's)."""

from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM


def tiny_llama(seed: int = 0, vocabulary: int = 500, context: int = 512):
    config = AutoConfig.for_model("llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, vocab_size=vocabulary,
                                  max_position_embeddings=context)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config).eval()


def random_lora_adapter(base_folder: str, out: Path, seed: int) -> Path:
    """A peft LoRA adapter (r=8 on the attention and MLP projections) whose weights are random, not zero."""
    from peft import LoraConfig, get_peft_model

    model = AutoModelForCausalLM.from_pretrained(base_folder)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                            "up_proj", "down_proj"],
                        init_lora_weights=False, task_type="CAUSAL_LM")
    torch.manual_seed(seed)
    get_peft_model(model, config).save_pretrained(str(out))
    return out
