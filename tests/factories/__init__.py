"""Plain factories for tiny real models used across the test tree."""
