"""Language of a row, with py3langid (langid.py's naive Bayes over byte n-grams; its 97-language
model ships inside the package, so nothing is downloaded): keep rows in the chosen languages.

Short or ambiguous text gets a low confidence (normalised probabilities, calibrated over length by
the package): a row is dropped only when the detector names another language at least as
confidently as ``min_language_confidence``; below that it is kept and its guess still recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# py3langid 0.4.0's labels (ISO 639-1 where there is one); tests/trainers/curate checks they match.
_CODES = (
    "af am ar as az be bg bn br bs ca cs cy da de el en eo es et eu fa fi fr fy ga gd gl gu ha he hi hr ht "
    "hu hy id ig is it ja jv ka kk km kn ko ku ky la lg ln lo lt lv mg mk ml mn mr ms my ne nl no om or pa "
    "pl ps pt qu ro ru sa si sk sl so sq sr sv sw ta te th tl tr ug uk ur uz vi xh yo zh zu zxx ace bcl dz "
    "ext gcf gom grc gug hbo kik nso pcm rw se sn st an ary crh fo fuv gcr guw kab lb lij ltg uzs wa sdh "
    "arz ba mt nn oc tg tk tt vec vo wuu yue"
)
LANGUAGES = frozenset(_CODES.split())


@dataclass
class Guess:
    language: str
    confidence: float


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str) -> Guess:
    language, confidence = _identifier().classify(text)
    return Guess(language, confidence)


def unknown_codes(codes: list[str]) -> list[str]:
    return [code for code in codes if code not in LANGUAGES]
