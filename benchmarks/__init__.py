"""Benchmarks: ``python -m benchmarks [NAME ...]`` (``task bench``, ``task bench -- NAME``).

Every public module of this package (a name without a leading underscore) that defines
``run(args) -> dict`` is a benchmark named after the module. ``__main__`` runs the ones asked for, prints
a table per benchmark and writes its figures to ``.bench/NAME.json``. A module may also define
``add_arguments(parser)`` for its own options and ``tables(result)`` for its own rich tables.

Benchmarks stay bounded in time (each well under ~3 min on 2 cores) and talk only to 127.0.0.1; one that
cannot (``scale``) sets ``NAMED_ONLY = True`` and runs only when named.
``docs/benchmarks.md`` says what each figure means.
"""
