"""Prompt templates as plain files, loaded by name with a version hash."""
