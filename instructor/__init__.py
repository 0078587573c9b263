"""The instructor's side of the course kit: release, grading, calibration. Never given to students."""
