"""The small feedback vocabulary the offline enhancement providers understand (photos and videos alike):
a sentence to the adjustments it asks for, in order of appearance, each once, and the words that are
neither vocabulary nor filler (said back to the person plainly, never silently dropped).

Each service adds its own phrases (a video's "steadier") and filler ("photo", "clip") to the common ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: phrase -> adjustment, shared by photos and videos
COMMON_VOCABULARY: dict[str, str] = {
    "more contrast": "contrast+",
    "less contrast": "contrast-",
    "more saturation": "saturation+",
    "less saturation": "saturation-",
    "more saturated": "saturation+",
    "less saturated": "saturation-",
    "more colourful": "saturation+",
    "more colorful": "saturation+",
    "brighter": "brighter",
    "lighter": "brighter",
    "darker": "darker",
    "warmer": "warmer",
    "cooler": "cooler",
    "colder": "cooler",
    "sharper": "sharper",
    "crisper": "sharper",
    "softer": "softer",
}

#: words that carry no request
COMMON_FILLER = frozenset(
    """a an the it this that please make bit little slightly much more less too and but with be can
    you could lot of very i want would like some to is""".split()  # noqa: SIM905
)


def parse_feedback(
    sentence: str, vocabulary: Mapping[str, str], filler: frozenset[str]
) -> tuple[list[str], list[str]]:
    """(the adjustments ``sentence`` asks for, in order of appearance, each once; the words not understood).
    Longer phrases are matched first, and blanked out so a shorter one cannot match inside them."""
    text = " " + re.sub(r"[^a-z ]+", " ", sentence.lower()) + " "
    found: list[tuple[int, str]] = []
    for phrase in sorted(vocabulary, key=len, reverse=True):
        for match in re.finditer(f" {phrase} ", text):
            found.append((match.start(), vocabulary[phrase]))
            # keep one space each side of the blanked phrase
            text = text[: match.start()] + " " * (match.end() - match.start() - 1) + text[match.end() - 1 :]
    leftover = [w for w in text.split() if w not in filler]
    return list(dict.fromkeys(a for _, a in sorted(found))), leftover
