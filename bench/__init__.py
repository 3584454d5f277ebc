"""Workloads behind `make bench`: timings side by side, never asserted in tests."""
