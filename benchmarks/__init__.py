"""Benchmarks: scripts that measure and write JSON (never timed tests). See README.md."""
