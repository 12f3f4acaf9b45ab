"""The OpenFX bridge: a C shim (``segfuse_ofx.c``) embeds CPython and forwards every OFX action
to ``bridge.main_entry``, which maps the SegFuse node API onto the host's OFX suites."""
