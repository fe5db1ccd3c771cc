"""Plain torch.nn parts, no Lightning: the recurrent core and the networks built on it."""
