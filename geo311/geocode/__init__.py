"""Geocoding rows without usable coordinates: address keys, geocoders and their cache."""
