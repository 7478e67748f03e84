"""Sub-commands of the ``lossbench`` command line, one module each."""
