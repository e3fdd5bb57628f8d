"""Language and text facts: ISO 639-3 codes and names, Unicode scripts, text normalisation.

The lowest text layer: it imports nothing of speechml beyond ``errors``, so that data dirs
(``speechml.data``), scoring and the text components above can all rely on it.
"""
