"""snapsync spec: the executable model of a whole mosaik group, its drivers and tools."""
