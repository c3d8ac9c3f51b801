"""The benchmark of issue 7: ``make bench`` runs :mod:`bench.run`."""
