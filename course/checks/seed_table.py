"""The seed notebook's check of ``get_similarity_no_loop``: the table it printed for its fixed
random features (``course.exercises.get_similarity_no_loop.seed_similarity_inputs``). The public case compares
with it at the seed's relative error (``course.exercises.get_similarity_no_loop.rel_error``)."""

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
