"""Course kit: CLIP, DINO and DINOv3 through graded notebooks: the package students get.

The graded modules (``course.clip_dino``; stubs in the student kit) are leaves: no other module
imports them. Everything they share with the kit's tools lives in small modules below them
(``course.vit``, ``course.paths``, ``course.palette``). Each exercise, its cases' inputs, criterion and
public cases, is one module of ``course.exercises``. The instructor's side
(release, grading, calibration) is the sibling package ``instructor``, which students never get.
"""
