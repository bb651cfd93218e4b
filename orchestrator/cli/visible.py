"""Untrusted text made harmless for a terminal, without importing Rich (the fast paths use it).

Lab text and container output may hold control characters (ESC and the rest: OSC/CSI sequences
that could retitle, recolour or rewrite the learner's terminal); they are shown visibly instead.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with every control character rendered visibly (``\\x1b``), so it cannot act on
    the terminal; Windows line ends become plain newlines."""
    text = str(text).replace("\r\n", "\n")
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
