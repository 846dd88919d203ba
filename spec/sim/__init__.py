"""Drivers of the group model: the seeded simulator, its latency model, traces and replay."""
