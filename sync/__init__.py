"""Data-center sync: staging tables → the hall's system tables, then the org to WeCom.

- `staging`: the three staging tables the data center writes (JZG_T_BM, JZG_T_USER, XS_JBXX).
- `feed`: reads and validates their rows (bad rows are rejected with a reason).
- `services`: `run_sync` in the seed's order, one transaction, with a report per run.
- `push`: the org structure to WeCom (departments before members; API or batch jobs).
- `jobs`: the nightly job the worker schedules; `cli`: `hall sync run|push|demo-feed`.
"""
