"""Service functions: the only code that touches the stores. Routes call these."""
