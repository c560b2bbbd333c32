"""The bad-input corpus: generated bad (and awkward but valid) inputs, and the CLI's answer to each."""
