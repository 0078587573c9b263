"""Grading: the graded cases with their answers, the sandbox, the grader and the Gradescope autograder."""
