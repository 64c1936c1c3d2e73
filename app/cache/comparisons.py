"""Comparison operators spelled out, so that folding punctuation away does not fold them away.

Both answer tiers fold a question's punctuation ("Disk full?!" is "disk full"); `>` and `<` are
punctuation to that folding, so "restarts > 5" and "restarts < 5" were one question to the exact
cache, and the semantic guard (which reads words) saw no difference between them either. Here
they become the words the guard already knows as opposites ("above", "below"), and `!=` a
negation; an arrow (`->`, `=>`) is left alone.
"""

from __future__ import annotations

import re

_OPERATOR = re.compile(r"(?<![-=<>!])(<>|>=|<=|!=|==|>|<)(?![-=<>])")
_WORDS = {">=": " above ", ">": " above ", "<=": " below ", "<": " below ", "!=": " not ",
          "<>": " not ", "==": " "}


def spelled_out(text: str) -> str:
    """`text` with its comparison operators as words ("p99 > 2s" -> "p99  above  2s")."""
    return _OPERATOR.sub(lambda m: _WORDS[m.group()], text)
