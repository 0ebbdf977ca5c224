"""One module per console area; each has a ``router`` of ``ConsoleRoute`` pages."""
