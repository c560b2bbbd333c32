"""`python -m tui.cli`: the seglab command (training children and torchrun's workers start it this way)."""

from tui.cli import console_main

console_main()
