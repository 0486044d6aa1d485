"""Load and fault runs against a real server, as scripts anyone can run.

``python -m loadtest.load`` drives a realistic mix of GraphQL reads at
``accessgraph serve --workers N`` and checks errors, latency and memory;
``python -m loadtest.fault`` stops PostgreSQL under light read-and-write load
and checks that requests fail fast, the server recovers by itself and no
write is lost or half done. ``loadtest/README.md`` says what each proves;
``loadtest/RESULTS.md`` holds the last results. Neither is part of the test
suite: they take a minute each, need a PostgreSQL server, and the fault run
stops one.
"""
