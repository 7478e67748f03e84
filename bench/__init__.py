"""lossbench: compare classification losses on controlled long-tailed data."""
__version__ = "0.1.0"
