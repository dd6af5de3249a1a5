"""pytest plugin (entry point ``pytest11``): kept light, it imports little at load time."""
