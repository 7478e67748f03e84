"""The device names ``--device`` takes, without importing torch (the command line's parsers use
them; ``lossbench.engine.device`` resolves them)."""

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")
