"""Course kit: CLIP, DINO and DINOv3 through graded notebooks.

``course.clip_dino`` is the graded module; the other modules are the kit's own tools (models,
generated data, DINOv3 tracking, release and grading).
"""
