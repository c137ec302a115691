"""Support for sessapp's tests and benchmarks; the app itself never imports it.

As ``pyramid.testing`` is to Pyramid: code that ``tests/`` and ``bench/`` both
need, kept in the package so that neither has to import the other.

- :mod:`sessapp.testing.databases`: throwaway databases (server URLs, create,
  migrate, drop);
- :mod:`sessapp.testing.client`: the pieces of a hand-made HTTP client
  (request encoding, Set-Cookie following, the CSRF field);
- :mod:`sessapp.testing.load`: simulated browsers against real ``pserve``
  processes, with the checks that nothing stored is lost, no signed-out cookie
  answers as signed in and no answer is a 5xx (``python -m bench.reliability``,
  ``tests/test_load.py``, ``tests/test_faults.py``).

The scratch databases and ``pserve`` INIs start from ``testing.ini`` at the
root of the checkout, so this module is for a source checkout (``pip install
-e``), not for an installed wheel.
"""
