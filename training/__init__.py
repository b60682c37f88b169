"""Offline model work: datasets, fine-tuning, evaluation and calibration."""
