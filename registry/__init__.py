"""modelport package."""
