"""Cleaning: coordinate quality, placeholders, duplicates and time flags."""
