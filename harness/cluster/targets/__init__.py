"""One module per broker implementation; see `harness.cluster._target` for the protocol."""
