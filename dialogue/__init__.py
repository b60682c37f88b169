"""The dialogue manager: conversations, context, profiles, the answer policy, prompts and LM backends."""
