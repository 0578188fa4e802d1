"""Benchmarks of issue 7: scripts that measure and write JSON (never timed tests). See README.md."""
