"""Public checks the notebooks run: the seed notebook's expected similarity table and the
relative error it is compared with. The graded cases use the same values."""

from __future__ import annotations

import numpy as np

# get_similarity_no_loop on torch.manual_seed(231), N=6 text and M=5 image randn features of
# size D=10 (text drawn first): the table the seed notebook printed.
SEED_SIMILARITY_TABLE = np.array([
    [0.1867811, -0.23494351, 0.44155994, -0.18950461, 0.00100103],
    [0.17905031, -0.25469488, -0.64330417, 0.25097957, -0.09327742],
    [-0.4407011, -0.4365381, 0.32857686, -0.3765278, 0.01049389],
    [0.24815483, 0.42157224, -0.08459304, 0.14132318, -0.26935193],
    [0.02309848, -0.01441101, 0.5469337, 0.6018773, 0.21581158],
    [0.41579214, -0.014449, -0.7242257, 0.39348006, 0.0822239],
], dtype=np.float32)


def seed_similarity_inputs():
    """(text [6, 10], image [5, 10]) float32 features, drawn as the seed notebook draws them."""
    import torch

    torch.manual_seed(231)
    return torch.randn(6, 10), torch.randn(5, 10)


def rel_error(x, y) -> float:
    """The seed's relative error: max |x - y| / max(1e-10, |x| + |y|)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-10, np.abs(x) + np.abs(y))))
