"""Experiment configs, one file each: `get_config(arg)` returns an ml_collections ConfigDict."""
