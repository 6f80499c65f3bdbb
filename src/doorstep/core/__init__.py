"""The pure core: spec, input contract, policy, reasons. No I/O, no web, no SQL."""
