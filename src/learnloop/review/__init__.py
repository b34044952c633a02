"""Spaced review: every auto-checked exercise a learner attempted comes back when FSRS says."""
