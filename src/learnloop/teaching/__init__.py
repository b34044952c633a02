"""The instructor workspace: classes, class progress, the review queue and item analysis."""
