"""CAS 3.0 single sign-on: the client (login URLs, ticket validation, single logout,
REST password check), the Redis-backed server-side sessions that single logout needs,
and the sandbox CAS server used by `make run` and the tests.

This package imports nothing of ours but `config`; the composition root hands it a Redis
connection and, for the sandbox, a directory of people.
"""
