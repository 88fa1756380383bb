"""Built-in extensions."""
