"""Antibody: defend LLM fine-tuning services against harmful fine-tuning."""

__version__ = "0.1.0"
