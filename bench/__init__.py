"""Benchmarks for sessapp: ``make bench`` runs :mod:`bench.run`.

Nothing here is imported by the app itself; the bench INI pulls in
:mod:`bench.counters` through ``pyramid.includes``.
"""
