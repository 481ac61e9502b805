"""The hall's core: models, process definitions, the workflow engine, services, outbox.

This package imports no Flask, RQ or WeCom SDK; the composition root plugs those in.
"""
