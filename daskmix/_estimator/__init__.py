"""Estimator plumbing: BaseMixture, input validation and per-row outputs."""
