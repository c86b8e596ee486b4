"""Helper processes of ``bench_relay``: the servers under test and the load generator."""
