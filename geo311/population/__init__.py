"""Population denominators: tract tables and interpolation to any layer."""
