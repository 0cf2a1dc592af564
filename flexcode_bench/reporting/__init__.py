"""Reports built only from run records on disk (never from logs); never imports torch."""
