"""The checks' side of a case: what kind of value came back is decided by real type checks (an
object that only bears a tensor's or an array's name is not one), and every criterion's message
says what came back, what was expected and the fix for the mistake it most likely is.

Records go the way grading sends them: ``drivers.returned`` in the process of the student's code,
``wire.encode``, then ``wire.decode`` and the criterion in the parent. Inputs and expected values
are built here, by hand or by the definitions, not by the grader's cases."""

from __future__ import annotations

import importlib
import inspect
import re

import numpy as np
import pytest
import torch

from course import davis_eval, mask_metrics, tracking
from course.exercises import GRADED_MODULES, PUBLIC_CASES
from course.checks import criteria, drivers, view, wire
from course.checks.criteria import CaseFailed
from course.checks.view import view_files
from course.paths import KIT_ROOT
from instructor.grading.autograder import GRADING_REQUIREMENTS
from instructor.grading.cases import CASES
from instructor.grading.grader import run_in_process
from tests.test_fairness import module_with


def sent(value):
    """``value`` as the parent reads what the student's code returned."""
    return wire.decode(wire.encode(drivers.returned(value)))


CRITERIA = {case.criterion.__name__.removesuffix("_criterion"): case.criterion for case in PUBLIC_CASES}  # by driver name


def failure(criterion: str, outputs, params, expected) -> str:
    with pytest.raises(CaseFailed) as failed:
        CRITERIA[criterion](wire.decode(wire.encode(outputs)), params, expected)
    return str(failed.value)


def cosine(text: np.ndarray, image: np.ndarray) -> np.ndarray:
    return (text / np.linalg.norm(text, axis=1, keepdims=True)) @ (image / np.linalg.norm(image, axis=1, keepdims=True)).T


def similarity_case(seed: int = 0, dtype: str = "float64", n: int = 4, m: int = 3):
    generator = np.random.default_rng(seed)
    text, image = generator.standard_normal((n, 8)) * 3, generator.standard_normal((m, 8))
    tolerance = {"float64": 1e-10, "float32": 1e-6, "float16": 5e-3}[dtype]
    return text, image, {"dtypes": [dtype]}, {"tables": [cosine(text, image)], "tolerances": [tolerance], "relative": False}


def similarity_failure(table, **case) -> str:
    _, _, params, expected = similarity_case(**case)
    return failure("similarity", {"outs": [drivers.returned(table)]}, params, expected)


# ----------------------------------------------------------------------------------------------
# Kinds of values: real type checks, never type names
# ----------------------------------------------------------------------------------------------


class Tensor(list):
    """A list that calls itself Tensor."""


class ArrayTensor(np.ndarray):
    """An ndarray subclass that calls itself Tensor."""


ArrayTensor.__name__ = ArrayTensor.__qualname__ = "Tensor"


class TorchLookalike:
    """Claims torch's module and name, and has a tensor's methods."""

    detached = False

    def detach(self):
        TorchLookalike.detached = True
        return torch.zeros(3)

    cpu = numpy = detach


TorchLookalike.__module__, TorchLookalike.__name__, TorchLookalike.__qualname__ = "torch", "Tensor", "Tensor"


class ClassLiar:
    """isinstance(x, torch.Tensor) and isinstance(x, np.ndarray) are True through __class__."""

    def __init__(self, cls):
        self._cls = cls

    @property
    def __class__(self):
        return self._cls


def test_an_object_that_fakes_a_tensor_is_no_tensor_to_the_wire():
    assert isinstance(ClassLiar(torch.Tensor), torch.Tensor)  # what the fake relies on
    for fake in (TorchLookalike(), ClassLiar(torch.Tensor), ClassLiar(np.ndarray)):
        with pytest.raises(TypeError, match="cannot be returned"):
            wire.to_plain(fake)
    assert not TorchLookalike.detached, "the wire called a method of the student's object"
    assert wire.decode(wire.encode(torch.tensor(2.5, dtype=torch.float64))).shape == ()  # 0-d stays 0-d


def test_returned_names_kinds_by_their_types():
    table = np.eye(2)
    assert drivers.returned(torch.eye(2))["kind"] == "tensor"
    assert drivers.returned(torch.nn.Parameter(torch.eye(2)))["kind"] == "tensor"
    assert drivers.returned(table)["kind"] == "array"
    assert drivers.returned(table.view(ArrayTensor)) | {"values": None} == {
        "type": f"{__name__}.Tensor", "kind": "array", "dtype": "float64", "values": None}
    assert drivers.returned(Tensor([1.0]))["type"] == f"{__name__}.Tensor"
    assert drivers.returned(TorchLookalike()) == {"type": "torch.Tensor", "kind": "other"}
    assert drivers.returned(ClassLiar(torch.Tensor))["kind"] == "other"
    assert drivers.returned(np.float32(0.5)) == {"type": "numpy.float32", "kind": "number", "value": 0.5}


@pytest.mark.parametrize("make, words", [
    (lambda table: Tensor(table.tolist()), f"got a {__name__}.Tensor of 4 items"),
    (lambda table: table.view(ArrayTensor), f"got a float64 np.ndarray of shape [4, 3] (of the subclass {__name__}.Tensor)"),
    (lambda table: TorchLookalike(), "got a torch.Tensor (not a real torch.Tensor or np.ndarray"),
    (lambda table: ClassLiar(torch.Tensor), f"got a {__name__}.ClassLiar"),
    (lambda table: table, "got a float64 np.ndarray of shape [4, 3]: convert it with torch.from_numpy"),
])
def test_the_right_values_in_a_lookalike_do_not_pass_for_a_tensor(make, words):
    text, image, params, expected = similarity_case()
    message = similarity_failure(make(cosine(text, image)))
    assert "should be a torch.Tensor" in message and words in message, message


@pytest.mark.parametrize("criterion", ["davis_process", "propagation"])
def test_every_tensor_result_refuses_a_lookalike(criterion):
    values = np.full((2, 4, 3), 0.25)
    if criterion == "davis_process":
        outputs = {"features": [drivers.returned(Tensor(values.tolist()))], "labels": drivers.returned(np.zeros((2, 4)))}
        params, expected = {"batch_sizes": [1]}, {"features": values, "allowed": np.ones((2, 4, 1), dtype=bool)}
    else:
        outputs = {"probs": [drivers.returned(values.view(ArrayTensor))]}
        params, expected = {"calls": [[2, 0.2]]}, {"probs": [values]}
    assert "should be a torch.Tensor" in failure(criterion, outputs, params, expected)


def davis_sample_case():
    generator = np.random.default_rng(3)
    frames = generator.integers(0, 256, (2, 4, 6, 3), dtype=np.uint8)
    masks = generator.integers(0, 3, (2, 4, 6)).astype(np.uint8)
    return {"sequences": ["a"], "samples": {"a": {"frames": frames, "masks": masks}}}


def davis_sample_failure(frames, masks) -> str:
    expected = davis_sample_case()
    return failure("davis_sample", {"sequences": ["a"], "samples": {"a": {
        "frames": drivers.returned(frames), "masks": drivers.returned(masks)}}}, {}, expected)


def test_an_array_result_refuses_a_list_that_calls_itself_ndarray():
    want = davis_sample_case()["samples"]["a"]
    ndarray = type("ndarray", (list,), {})
    message = davis_sample_failure(ndarray(want["frames"].tolist()), want["masks"])
    assert "should be a np.ndarray, got a" in message and "ndarray of 2 items" in message, message
    message = davis_sample_failure(torch.from_numpy(want["frames"]), want["masks"])
    assert "got a uint8 torch.Tensor of shape [2, 4, 6, 3]: convert it with .cpu().numpy()" in message


# ----------------------------------------------------------------------------------------------
# What came back, what was expected, and the likely mistake
# ----------------------------------------------------------------------------------------------


def test_a_tensor_iou_is_reported_as_a_tensor_not_an_ndarray():
    params, expected = {"calls": [[2, "torch"]]}, {"ious": [0.5]}
    message = failure("iou", {"ious": [drivers.returned(torch.tensor(0.5, dtype=torch.float64))]}, params, expected)
    assert "should return a Python float, got a float64 torch.Tensor of shape [] holding 0.5: return float(" in message
    assert "ndarray" not in message


def test_a_numpy_float_iou_passes():
    assert CRITERIA["iou"]({"ious": [sent(np.float32(0.5))]}, {"calls": [[2, "numpy"]]}, {"ious": [0.5]})


def test_a_float32_table_for_float64_inputs_is_told_it_is_a_precision_problem():
    text, image, _, _ = similarity_case()
    table = torch.from_numpy(cosine(text, image)).float()
    message = similarity_failure(table)
    assert re.search(r"largest difference \d\.\de-0[78]", message), message
    assert "formula is right and the precision is not" in message and "compute in float64, the inputs' dtype; it came back as torch.float32" in message
    assert "normalise each feature vector" not in message
    message = similarity_failure(torch.from_numpy(cosine(text, image) * (1 - 1e-5)))  # a large epsilon's effect
    assert "keep any epsilon tiny" in message


def test_a_table_with_unnormalised_texts_is_told_which_side():
    text, image, _, _ = similarity_case()
    rows = torch.from_numpy(text @ (image / np.linalg.norm(image, axis=1, keepdims=True)).T)
    assert "every row is a multiple of the right one: the text features (rows)" in similarity_failure(rows)
    columns = torch.from_numpy((text / np.linalg.norm(text, axis=1, keepdims=True)) @ image.T * 0.5)
    assert "the image features (columns) are not normalised" in similarity_failure(columns)
    message = similarity_failure(torch.from_numpy(cosine(text, image).T.copy()))
    assert "should have shape [4, 3], got a float64 torch.Tensor of shape [3, 4]: texts are rows" in message


def zero_shot_failure(per_batch) -> str:
    scores = np.array([[0.3, 0.1, 0.25], [0.1, 0.3, 0.2]])  # [C, M]: images 0, 2 -> "a", image 1 -> "b"
    params = {"classes": ["a", "b"], "batch_sizes": [1, 64]}
    return failure("zero_shot", {"preds": [drivers.returned(p) for p in per_batch]}, params, {"scores": scores})


def test_zero_shot_speaks_of_batching_only_when_batch_sizes_disagree():
    message = zero_shot_failure([["a", "b", "a"], ["a", "b", "b"]])
    assert "image 2 got 'b' (cosine similarity 0.2000), but CLIP finds 'a' most similar (0.2500)" in message
    assert "as it does with batch_size=1: batching changes the features" in message
    for same in ([["a", "b", "b"]] * 2, [["b", "a", "b"]] * 2):
        message = zero_shot_failure(same)
        assert "batch" not in message.partition(": ")[2] and "prompt template" in message, message
    assert "every image got 'a': take the argmax over the class texts" in zero_shot_failure([["a"] * 3] * 2)
    message = zero_shot_failure([torch.tensor([0, 1, 0])] * 2)
    assert "should return a list of 3 class strings, got an int64 torch.Tensor of shape [3]: convert it with .tolist()" in message
    message = zero_shot_failure([[torch.tensor(0), torch.tensor(1), torch.tensor(0)]] * 2)
    assert "got a list of 3 items (torch.Tensor)" in message


def retrieval_failure(per_batch) -> str:
    scores = np.array([[0.1, 0.4, 0.3, 0.2]])  # [Q, M]
    params = {"queries": ["q"], "ks": [2], "batch_sizes": [1, 64]}
    return failure("retrieval", {"tops": [[[drivers.returned(top)]] for top in per_batch]}, params, {"scores": scores})


def test_retrieval_says_what_it_expected():
    message = retrieval_failure([[1, 3], [1, 3]])
    assert "image 2 (similarity 0.3000) is more similar to the query than image 3 (0.2000)" in message
    assert "expected the 2 most similar images, best first: [1, 2]" in message and "batching" not in message
    assert "not best first" in retrieval_failure([[2, 1], [2, 1]])
    assert "with batch_size=1 it is right: batching changes" in retrieval_failure([[1, 2], [1, 3]])
    message = retrieval_failure([torch.tensor([1, 2])] * 2)
    assert "got an int64 torch.Tensor of shape [2]: convert it with .tolist()" in message


def test_davis_sample_names_the_mask_and_frame_mistakes():
    want = davis_sample_case()["samples"]["a"]
    frames, masks = want["frames"], want["masks"]
    assert "BGR" in davis_sample_failure(frames[..., ::-1].copy(), masks)
    assert "in another order: sort the files by name" in davis_sample_failure(frames[::-1].copy(), masks)
    assert "the objects are merged into one" in davis_sample_failure(frames, (masks > 0).astype(np.uint8))
    assert "without .convert('L')" in davis_sample_failure(frames, masks * 40)
    expected = {"sequences": ["a"], "samples": {"a": {"frames": frames, "masks": (masks > 0).astype(np.uint8)}}}
    message = failure("davis_sample", {"sequences": ["a"], "samples": {"a": {
        "frames": drivers.returned(frames), "masks": drivers.returned((masks > 0).astype(np.uint8) * 255)}}}, {}, expected)
    assert "should hold the object ids [0, 1], got values [0, 255]" in message and "map it to id 1" in message


def davis_process_failure(features, labels) -> str:
    want = np.random.default_rng(1).standard_normal((2, 4, 5))  # [T, N, D], a 2 x 2 grid
    allowed = np.zeros((2, 4, 3), dtype=bool)
    allowed[:, :, 0] = True
    allowed[:, 1, :] = [False, True, False]  # patch 1 (row 0, column 1) holds id 1 only
    outputs = {"features": [drivers.returned(features(want))], "labels": drivers.returned(labels)}
    return failure("davis_process", outputs, {"batch_sizes": [1]}, {"features": want, "allowed": allowed})


def test_davis_process_names_the_feature_and_label_mistakes():
    with_cls = lambda want: torch.from_numpy(np.concatenate([want[:, :1], want], axis=1))  # noqa: E731
    assert "keeps the [CLS] token: drop the first token" in davis_process_failure(with_cls, np.zeros((2, 4)))
    right = torch.from_numpy
    swapped = np.array([[0, 0, 1, 0]] * 2)  # patch 2 (row 1, column 0) got patch 1's id
    message = davis_process_failure(right, swapped)
    assert "frame 0, patch 1 (row 0, column 1) got 0, the ids there are [1]" in message
    assert "rows and columns are swapped" in message
    assert "flatten each frame's 2 x 2 grid" in davis_process_failure(right, np.zeros((2, 2, 2)))
    assert "[7] are not ids of these masks (0 to 2)" in davis_process_failure(right, np.array([[0, 7, 0, 0]] * 2))


def segmentation_failure(preds, labels, train_frame=1) -> str:
    outputs = {"preds": [drivers.returned(torch.as_tensor(p)) for p in preds]}
    return failure("segmentation", outputs, {"num_classes": 3, "train_frame": train_frame}, {"labels": labels})


def test_segmentation_tells_an_untrained_head_from_an_overfitting_one():
    labels = np.random.default_rng(2).integers(0, 3, (4, 50))
    assert "predicts class 0 for every patch" in segmentation_failure(np.zeros((4, 50), dtype=np.int64), labels)
    overfit = (labels + 1) % 3
    overfit[1] = labels[1]
    message = segmentation_failure(overfit, labels)
    assert "fits its training frame (IoU 1.000 on frame 1) but not the others, so it overfits" in message
    assert "does not fit even the frame it was trained on" in segmentation_failure((labels + 1) % 3, labels)
    message = segmentation_failure(np.zeros((4, 50, 3)), labels)
    assert "should have shape [50], got a float64 torch.Tensor of shape [50, 3]: that looks like the logits" in message


def mean_ious(pred, gt, num_classes) -> dict:
    """The right mean IoU and plausible wrong ones, by their definitions, one class at a time."""
    pred, gt = np.ravel(pred), np.ravel(gt)
    inter = np.array([np.sum((pred == c) & (gt == c)) for c in range(num_classes)], dtype=float)
    union = np.array([np.sum((pred == c) | (gt == c)) for c in range(num_classes)], dtype=float)
    ious = np.divide(inter, union, out=np.zeros(num_classes), where=union > 0)
    present = union > 0
    return {"right": ious[present].mean(), "gt_classes_only": ious[np.isin(np.arange(num_classes), gt)].mean(),
            "all_classes_as_zero": ious.mean(), "all_classes_as_one": np.where(present, ious, 1).mean(),
            "pixel_accuracy": np.mean(pred == gt), "pooled": inter.sum() / union.sum()}


@pytest.mark.parametrize("mistake, words", [
    ("gt_classes_only", "a class that is predicted but absent from the ground truth counts too"),
    ("all_classes_as_zero", "leave classes absent from both out of the mean"),
    ("all_classes_as_one", "counted as 1: leave classes absent from both out"),
    ("pixel_accuracy", "pixel accuracy"),
    ("pooled", "total intersection over the total union"),
])
def test_iou_names_the_mistake_its_value_equals(mistake, words):
    pred, gt, num_classes = [0, 2, 2, 1, 0, 0], [0, 1, 1, 1, 0, 1], 4  # 2 predicted, absent from gt; 3 absent from both
    values = mean_ious(pred, gt, num_classes)
    assert len({round(v, 9) for v in values.values()}) == len(values)  # the inputs tell them all apart
    params = {"calls": [[num_classes, "numpy"]]}
    expected = {"ious": [values["right"]], "mistakes": [{k: v for k, v in values.items() if k != "right"}]}
    message = failure("iou", {"ious": [drivers.returned(float(values[mistake]))]}, params, expected)
    assert f"gave {values[mistake]:.6f}, expected {values['right']:.6f}: " in message and words in message
    message = failure("iou", {"ious": [drivers.returned(float(values[mistake]))]}, params, {"ious": [values["right"]]})
    assert "over the classes c that occur in pred or gt" in message  # without the grader's list: the definition


def neighborhood_failure(mask, h, w, size, shape) -> str:
    """The criterion on ``mask``, against the mask by its definition, pair by pair."""
    want = np.zeros((h, w, h, w), dtype=bool)
    for i, j, u, v in np.ndindex(h, w, h, w):
        di, dj = abs(u - i), abs(v - j)
        want[i, j, u, v] = di * di + dj * dj <= size * size if shape == "circle" else max(di, dj) <= size
    return failure("neighborhood", {"masks": [drivers.returned(mask)]}, {"grids": [[h, w, size, shape]]},
                   {"masks": [want]})


def distances(h, w):
    """[h, w, h, w, 2] |row| and |column| offsets of every pair."""
    i, j, u, v = np.meshgrid(*[np.arange(n) for n in (h, w, h, w)], indexing="ij")
    return np.stack([np.abs(u - i), np.abs(v - j)], axis=-1)


@pytest.mark.parametrize("size, shape, mask, words", [
    (2, "circle", lambda d: torch.from_numpy(np.hypot(d[..., 0], d[..., 1]) < 2), "distance exactly 2, which is inside"),
    (2, "square", lambda d: torch.from_numpy(d.max(-1) < 2), "compare with <=, not <"),
    (2, "circle", lambda d: torch.from_numpy(d.max(-1) <= 2), "inside the square of that size, not the circle"),
    (2, "square", lambda d: torch.from_numpy(np.hypot(d[..., 0], d[..., 1]) <= 2), "'square' uses the larger"),
    (2.5, "circle", lambda d: torch.from_numpy(np.hypot(d[..., 0], d[..., 1]) <= 2), "do not round it"),
    (3, "circle", lambda d: torch.from_numpy((d ** 2).sum(-1) <= 3), "not the squared distance with size"),
])
def test_neighborhood_names_the_comparison_that_went_wrong(size, shape, mask, words):
    message = neighborhood_failure(mask(distances(5, 6)), 5, 6, size, shape)
    assert "entries wrong, e.g. [" in message and words in message, message


def test_neighborhood_says_what_dtype_came_back():
    message = neighborhood_failure(torch.ones(2, 2, 2, 2, dtype=torch.int64), 2, 2, 3, "circle")
    assert "should have a bool dtype, got an int64 torch.Tensor of shape [2, 2, 2, 2]" in message


def test_propagation_says_when_rows_do_not_sum_to_one():
    want = np.full((2, 3, 2), 0.5)
    outputs = {"probs": [drivers.returned(torch.from_numpy(want * 0.8))]}
    message = failure("propagation", outputs, {"calls": [[3, 0.2]]}, {"probs": [want]})
    assert "0.400000, expected 0.500000" in message and "sum to 0.8 to 0.8): renormalise" in message


# ----------------------------------------------------------------------------------------------
# No kit helper pasted into an exercise earns its points
# ----------------------------------------------------------------------------------------------

KIT_HELPERS = [  # (helper, the exercise it is closest to, imports its source needs)
    (criteria.frame_ious, "compute_iou", ""),
    (mask_metrics.iou_matrix, "compute_iou", "from course.mask_metrics import pairwise_intersections\n"),
    (davis_eval.region_similarity, "compute_iou", ""),
    (tracking.neighborhood_offsets, "make_neighborhood_mask", "import math\n"),
]


@pytest.mark.parametrize("helper, question, imports", KIT_HELPERS, ids=lambda x: getattr(x, "__name__", None))
def test_a_kit_helper_pasted_in_place_of_an_exercise_earns_nothing(helper, question, imports, tmp_path):
    """The helper's source, renamed to the exercise's function, replaces the student's answer."""
    source = re.sub(rf"def {helper.__name__}\(", f"def {question}(", inspect.getsource(helper), count=1)
    modules = module_with(question, imports + source, tmp_path)
    verdicts = [run_in_process(case, modules, seed)[0] for case in CASES if case.question == question
                for seed in (None, 101)]
    assert verdicts and not any(v.passed for v in verdicts), [v.message[:200] for v in verdicts if v.passed]


# ----------------------------------------------------------------------------------------------
# The import rule the graded modules state is the one the view enforces
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", GRADED_MODULES)
def test_the_import_rule_a_graded_module_states_names_what_graded_code_can_import(module):
    def rule(name):
        doc = importlib.import_module(f"course.{name}").__doc__
        return " ".join(doc.partition("What graded code may import")[2].split()).partition("The rest of the kit")

    allowed, _, absent = rule(module)
    if "``course/clip_dino.py``'s docstring lists" in allowed:  # the rule is stated once, in clip_dino
        allowed = rule("clip_dino")[0]
    held = [".".join(f.with_suffix("").parts) for f in view_files(KIT_ROOT / "course") if f.name != "__init__.py"]
    for name in held:  # every kit module graded code runs beside, by its full or (in course.checks) short name
        assert f"``{name}``" in allowed or f"``{name.rpartition('.')[2]}``" in allowed, name
    for name in re.findall(r"``(course\.[\w.]+)``", absent):  # what it says is absent is
        assert name not in held and view.module_file(KIT_ROOT / "course", name) is not None, name
    for requirement, imported in GRADING_REQUIREMENTS.items():
        if requirement != "psutil":  # the grader's own (process clean-up), not for graded code
            assert requirement in allowed or imported in allowed, requirement


LOOKALIKES = {  # question -> code that returns the reference's values in an object that imitates a tensor's name
    "get_similarity_no_loop": """
        class Tensor(list):
            pass

        _reference = get_similarity_no_loop

        def get_similarity_no_loop(text_features, image_features):
            return Tensor(_reference(text_features, image_features).tolist())
        """,
    "propagate_dense": """
        import numpy as np

        class Tensor(np.ndarray):
            pass

        _reference = propagate_dense

        def propagate_dense(*args):
            return _reference(*args).numpy().view(Tensor)
        """,
    "DavisDataset": """
        class Tensor:
            __module__ = "torch"

            def __init__(self, values):
                self.values = values

            def detach(self):
                return self.values

        class DavisDataset(DavisDataset):
            def process_frames(self, *args, **kwargs):
                return Tensor(super().process_frames(*args, **kwargs))
        """,
}


@pytest.mark.parametrize("question", LOOKALIKES)
def test_graded_code_returning_a_lookalike_of_a_tensor_loses_the_case(question, tmp_path):
    modules = module_with(question, LOOKALIKES[question], tmp_path)
    cases = [c for c in CASES if c.question == question and (question != "DavisDataset" or "process" in c.name)]
    for case in cases:
        verdict, _ = run_in_process(case, modules)
        assert not verdict.passed and "should be a torch.Tensor, got a " in verdict.message, verdict.message
        assert "Tensor" in verdict.message.partition("got a ")[2]
