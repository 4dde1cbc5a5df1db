"""Clinical measurements computed from masks."""
