"""`python -m bot.cli` runs the same command as `helpdesk` (tests and benchmarks start servers this way)."""

from bot.cli import main

main()
