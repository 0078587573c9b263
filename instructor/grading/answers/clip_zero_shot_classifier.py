"""``clip_zero_shot_classifier``'s expected answers and hidden cases (instructor-only); the
exercise: ``course/exercises/clip_zero_shot_classifier.py``."""

from __future__ import annotations

import numpy as np

from course.checks.criteria import SCORE_TOLERANCE
from course.checks.fixtures import CaseInput
from course.exercises.clip_zero_shot_classifier import QUESTION, ZERO_SHOT_CLASSES, zero_shot_criterion, zero_shot
from instructor.grading.answers.common import cosine, clip_features, discriminating
from instructor.grading.case import Case, public


def zero_shot_answer(case: CaseInput, seed) -> dict:
    return {"scores": cosine(*clip_features(case, case.params["classes"]))}


# Prompt templates a student might add although the docstring says class texts are encoded as given.
PROMPT_TEMPLATES = ["a photo of a {}", "a photo of a {}.", "a photo of {}", "an image of {}"]


def tells_zero_shot_apart(case: CaseInput) -> bool:
    """Inputs on which plausible wrong answers fail: at least two classes win, unnormalised dot
    products pick another class for some image, an image after the smallest batch has another
    class than the batch's last (an answer from one batch only is caught), each prompt template
    of PROMPT_TEMPLATES makes some image's class one CLIP does not find most similar, and no
    image is a near-tie."""
    classes = case.params["classes"]
    texts, images = clip_features(case, [*classes, *(t.format(c) for t in PROMPT_TEMPLATES for c in classes)])
    texts, templated = texts[:len(classes)], texts[len(classes):].reshape(len(PROMPT_TEMPLATES), len(classes), -1)
    scores, dots = cosine(texts, images), texts @ images.T  # [C, M]
    best, top2 = scores.argmax(0), np.sort(scores, 0)[-2:]
    batch = min(case.params["batch_sizes"])
    columns = np.arange(scores.shape[1])
    templates_caught = all((scores[cosine(t, images).argmax(0), columns] < top2[1] - SCORE_TOLERANCE).any()
                           for t in templated)
    return len(set(best.tolist())) >= 2 and bool((dots.argmax(0) != best).any()) and \
        bool((best[batch:] != best[batch - 1]).any()) and bool((top2[1] - top2[0]).min() > 2 * SCORE_TOLERANCE) \
        and templates_caught


CASES = [
    public(QUESTION, "most-similar-text", zero_shot_answer, discriminating(zero_shot, tells_zero_shot_apart)),
    Case(QUESTION, "batch-sizes", "batch size does not change predictions",
         discriminating(lambda s: zero_shot(s, count=10, batch_sizes=(1, 4, 64), classes=ZERO_SHOT_CLASSES[::-1]),
                        tells_zero_shot_apart),
         zero_shot_answer, zero_shot_criterion, hidden=True),
]
