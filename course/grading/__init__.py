"""Graded cases, their points, and the machinery that grades a submission."""
