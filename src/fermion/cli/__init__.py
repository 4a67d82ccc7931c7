"""The `fermion` command: a thin layer over the SDK (`fermion.client`)."""
