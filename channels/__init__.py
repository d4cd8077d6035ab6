"""One module per channel; the shared contract is in base.py, the list of channels in registry.py."""
