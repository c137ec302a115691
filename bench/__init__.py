"""Benchmarks for sessapp: ``make bench`` runs :mod:`bench.run`, ``make load``
runs :mod:`bench.reliability`.

Nothing here is imported by the app itself; the bench INI pulls in
:mod:`bench.counters` through ``pyramid.includes``. What the bench shares with
the tests (scratch databases, the hand-made HTTP client, the simulated
browsers) lives in :mod:`sessapp.testing`; the tests never import ``bench``.
"""
