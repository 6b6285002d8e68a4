"""Input and output: the canonical schema, city profiles, readers and atomic writers."""
