"""Loss zoo."""
