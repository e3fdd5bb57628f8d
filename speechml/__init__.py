"""speechml: adapt speech models to new and under-served languages.

The library behind the ``egs/<lang>/run.sh`` recipes. Every recipe stage is one
``speechml <group> <verb>`` call into the modules below.
"""

__version__ = "0.1.0"
