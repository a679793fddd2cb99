"""Per-framework tables of tiny real models (see ``_cases.FrameworkCase``)."""
