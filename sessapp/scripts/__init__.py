"""Console scripts: sessapp-initdb, sessapp-user, sessapp-gc."""
