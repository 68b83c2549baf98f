"""Shared code for the alignment workflow scripts."""
