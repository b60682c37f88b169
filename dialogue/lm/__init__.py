"""The LM backends behind the `Generator` role (dialogue/lm/generator.py), one module per runtime."""
