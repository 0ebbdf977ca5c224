"""Evaluation populations written independently of the project's own simulator."""
