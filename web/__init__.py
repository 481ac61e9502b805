"""The composition root: the Flask app factory, the CLI and the worker start-up."""
