"""One module per command; each exposes ``run(app, ...) -> int`` with explicit arguments."""
