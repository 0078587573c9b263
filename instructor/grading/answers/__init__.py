"""The grader's side of each exercise, one module per question named as its exercise module
(``course/exercises/<name>.py``): the expected answers, worked out independently of the reference
solutions (in float64, one item at a time, by the definitions the docstrings state), and the
hidden cases. Instructor-only: never shipped to students, unreadable to the code it grades."""
