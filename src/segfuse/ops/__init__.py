"""Pure algorithms on numpy arrays: no files, no colour management, no node API."""
